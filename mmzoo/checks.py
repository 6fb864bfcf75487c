"""Argument checks shared by every mmzoo module: each error names the argument.

Errors follow Keras' style: what was expected, then `Received: argument=value`.

>>> from mmzoo.checks import check_positive_int
>>> check_positive_int("units", 8)
8
>>> check_positive_int("units", 0)
Traceback (most recent call last):
...
ValueError: `units` must be a positive integer. Received: units=0
"""

import numbers


def is_int(value):
    """True for Python and numpy integers, False for bools.

    >>> import numpy as np
    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """True for Python and numpy real numbers, False for bools.

    >>> is_number(0.5), is_number(2), is_number(False), is_number("1")
    (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_int(argument, value):
    """`value` as an int, or a ValueError naming `argument` unless it is an int > 0.

    Args:
        argument: the argument's name, used in the error message.
        value: the value to check.

    Returns:
        `int(value)`.

    Raises:
        ValueError: `value` is not an integer (bools included) or is <= 0.

    See the module's example.
    """
    if not is_int(value) or value <= 0:
        raise ValueError(
            f"`{argument}` must be a positive integer. Received: {argument}={value!r}"
        )
    return int(value)


def check_rate(argument, value):
    """`value`, or a ValueError naming `argument` unless it is a number in [0, 1).

    Args:
        argument: the argument's name, used in the error message.
        value: a rate such as a dropout probability.

    Returns:
        `value` unchanged.

    Raises:
        ValueError: `value` is not a number in [0, 1).

    >>> check_rate("dropout", 0.1)
    0.1
    """
    if not is_number(value) or not 0 <= value < 1:
        raise ValueError(f"`{argument}` must be a number in [0, 1). Received: {argument}={value!r}")
    return value


def check_choice(argument, value, choices):
    """`value`, or a ValueError naming `argument` unless it is one of `choices`.

    Args:
        argument: the argument's name, used in the error message.
        value: the value to check.
        choices: the allowed values.

    Returns:
        `value` unchanged.

    Raises:
        ValueError: `value` is not in `choices` (the message lists them).

    >>> check_choice("mode", "max", ("max", "mean"))
    'max'
    """
    if value not in choices:
        raise ValueError(
            f"`{argument}` must be one of {', '.join(map(repr, choices))}. "
            f"Received: {argument}={value!r}"
        )
    return value


def check_bool(argument, value):
    """`value`, or a ValueError naming `argument` unless it is a bool.

    Args:
        argument: the argument's name, used in the error message.
        value: the value to check.

    Returns:
        `value` unchanged.

    Raises:
        ValueError: `value` is not `True` or `False`.

    >>> check_bool("center", True)
    True
    """
    if not isinstance(value, bool):
        raise ValueError(f"`{argument}` must be a boolean. Received: {argument}={value!r}")
    return value


def check_int_sequence(argument, value):
    """A non-empty tuple of positive ints, or a ValueError naming `argument`.

    Args:
        argument: the argument's name, used in the error message.
        value: a list or tuple such as layer widths.

    Returns:
        `tuple(value)`.

    Raises:
        ValueError: `value` is not a non-empty list/tuple of positive integers.

    >>> check_int_sequence("filters", [8, 16])
    (8, 16)
    """
    if isinstance(value, (list, tuple)) and value and all(is_int(v) and v > 0 for v in value):
        return tuple(value)
    raise ValueError(
        f"`{argument}` must be a non-empty list or tuple of positive integers. "
        f"Received: {argument}={value!r}"
    )


def check_shape(input_shape, rank, layout):
    """`input_shape` as a tuple of `rank` positive ints, or a ValueError.

    Args:
        input_shape: a shape without the batch axis.
        rank: the number of axes it must have.
        layout: how the shape reads, for the error, e.g. `"(height, width, channels)"`.

    Returns:
        `tuple(input_shape)`.

    Raises:
        ValueError: a wrong number of axes, or an axis that is not a positive int.

    >>> check_shape([28, 28, 1], 3, "(height, width, channels)")
    (28, 28, 1)
    """
    if (
        not isinstance(input_shape, (list, tuple))
        or len(input_shape) != rank
        or not all(is_int(d) and d > 0 for d in input_shape)
    ):
        raise ValueError(
            f"`input_shape` must be {layout}: {rank} positive integer(s). "
            f"Received: input_shape={input_shape!r}"
        )
    return tuple(input_shape)
