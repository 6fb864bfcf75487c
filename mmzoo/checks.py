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
    """True for Python and numpy integers, False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """True for Python and numpy real numbers, False for bools."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_int(argument, value):
    """`value` as an int, or a ValueError naming `argument` unless it is an int > 0."""
    if not is_int(value) or value <= 0:
        raise ValueError(
            f"`{argument}` must be a positive integer. Received: {argument}={value!r}"
        )
    return int(value)


def check_rate(argument, value):
    """`value`, or a ValueError naming `argument` unless it is a number in [0, 1)."""
    if not is_number(value) or not 0 <= value < 1:
        raise ValueError(f"`{argument}` must be a number in [0, 1). Received: {argument}={value!r}")
    return value


def check_choice(argument, value, choices):
    """`value`, or a ValueError naming `argument` unless it is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"`{argument}` must be one of {', '.join(map(repr, choices))}. "
            f"Received: {argument}={value!r}"
        )
    return value


def check_bool(argument, value):
    """`value`, or a ValueError naming `argument` unless it is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"`{argument}` must be a boolean. Received: {argument}={value!r}")
    return value


def check_int_sequence(argument, value):
    """A non-empty tuple of positive ints, or a ValueError naming `argument`."""
    if isinstance(value, (list, tuple)) and value and all(is_int(v) and v > 0 for v in value):
        return tuple(value)
    raise ValueError(
        f"`{argument}` must be a non-empty list or tuple of positive integers. "
        f"Received: {argument}={value!r}"
    )


def check_shape(input_shape, rank, layout):
    """`input_shape` as a tuple of `rank` positive ints, or a ValueError."""
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
