"""Checks of config values and the `ConfigError` every config problem raises.

A check is `f(key, value) -> normalized value`; on a bad value it raises a
`ConfigError` naming the dotted `key`, what was expected and what was received.

>>> from mmzoo.config.values import ConfigError, positive_int
>>> positive_int("training.epochs", 3)
3
>>> try:
...     positive_int("training.epochs", "ten")
... except ConfigError as error:
...     print(error.key, "|", error)
training.epochs | training.epochs must be a positive integer. Received: training.epochs='ten'
"""

import copy
import difflib
import re

from mmzoo.checks import is_int, is_number

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_RECEIVED = re.compile(r"Received: ([A-Za-z_][A-Za-z0-9_]*)=")


class ConfigError(ValueError):
    """A config value or key is invalid; `key` is its dotted path.

    Args:
        key: the dotted path of the offending key, e.g. `"training.epochs"`.
        message: the whole message, which names `key` too.
    """

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


def received(key, value):
    """`"Received: key=value"`, the end of every config error message."""
    return f"Received: {key}={value!r}"


def fail(key, expected, value):
    """Raises `ConfigError(key, "<key> must be <expected>. Received: ...")`."""
    raise ConfigError(key, f"{key} must be {expected}. {received(key, value)}")


def suggestion(word, candidates, prefix=""):
    """`" Did you mean 'x'?"` for the closest of `candidates` (shown after `prefix`), or "".

    "" also when `word` is one of `candidates`: nothing to correct.

    >>> suggestion("trainig", ["training", "dataset"])
    " Did you mean 'training'?"
    """
    if not isinstance(word, str) or word in candidates:
        return ""
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" Did you mean {prefix + matches[0]!r}?" if matches else ""


def check_options(key, options, accepted, what):
    """Raises a ConfigError naming `key.option` for the first option not in `accepted`.

    Args:
        key: dotted key of the mapping, e.g. `"model.fusion_options"`.
        options: the mapping's keys.
        accepted: the valid keys (e.g. from the signature of what they configure).
        what: what the options belong to, for the message, e.g. `"fusion 'gated'"`.
    """
    for option in options:
        if option not in accepted:
            message = f"Unknown key {f'{key}.{option}'!r}: not an option of {what}."
            message += suggestion(option, accepted, f"{key}.")
            raise ConfigError(
                f"{key}.{option}", f"{message} Valid options: {', '.join(sorted(accepted))}."
            )


def through(key, check, *args, options=(), keys=None, suggest=None, **kwargs):
    """`check(*args, **kwargs)`, with its ValueError re-raised as a ConfigError naming a key.

    The message is the original one after the dotted key: `"key.arg: <message>"`.
    The key is found from the message's `Received: arg=...` (the convention of
    every mmzoo check): `keys[arg]` when given, `key.arg` when `arg` is one of
    `options`, else `key`.

    Args:
        key: the dotted key of what `check` validates.
        check: a callable that raises ValueError (a registry lookup, a tower
            builder, a layer class).
        options: argument names that are keys under `key`.
        keys: optional dict from argument name to dotted key.
        suggest: optional `(word, candidates)`: a "Did you mean" hint is inserted
            after the message's first sentence.

    Returns:
        What `check` returns.

    >>> from mmzoo.checks import check_positive_int
    >>> try:
    ...     through("model.head_options", check_positive_int, "units", 0, options=["units"])
    ... except ConfigError as error:
    ...     print(error.key, "|", error)
    model.head_options.units | model.head_options.units: `units` must be a positive integer. Received: units=0
    """
    try:
        return check(*args, **kwargs)
    except ValueError as error:
        if isinstance(error, ConfigError):
            raise
        message = str(error)
        found = _RECEIVED.search(message)
        name = found.group(1) if found else None
        if keys and name in keys:
            where = keys[name]
        elif name is not None and name in options:
            where = f"{key}.{name}"
        else:
            where = key
        if suggest is not None:
            hint = suggestion(*suggest)
            head, dot, tail = message.partition(". ")
            message = f"{head}.{hint} {tail}" if dot and hint else message + hint
        raise ConfigError(where, f"{where}: {message}") from None


def positive_int(key, value):
    if not is_int(value) or value <= 0:
        fail(key, "a positive integer", value)
    return int(value)


def non_negative_int(key, value):
    if not is_int(value) or value < 0:
        fail(key, "an integer >= 0", value)
    return int(value)


def _number(value):
    # PyYAML reads `2e-3` (no dot) as a string: accept numeric strings for floats.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def positive_float(key, value):
    value = _number(value)
    if not is_number(value) or not 0 < value < float("inf"):  # also refuses NaN
        fail(key, "a positive number", value)
    return float(value)


def non_negative_float(key, value):
    value = _number(value)
    if not is_number(value) or not value >= 0 or value == float("inf"):
        fail(key, "a number >= 0", value)
    return float(value)


def unit_interval(key, value):
    value = _number(value)
    if not is_number(value) or not 0 <= value <= 1:
        fail(key, "a number in [0, 1]", value)
    return float(value)


def rate(key, value):
    value = _number(value)
    if not is_number(value) or not 0 <= value < 1:
        fail(key, "a number in [0, 1)", value)
    return float(value)


def boolean(key, value):
    if not isinstance(value, bool):
        fail(key, "true or false", value)
    return value


def string(key, value):
    if not isinstance(value, str) or not value:
        fail(key, "a non-empty string", value)
    return value


def run_name(key, value):
    if not isinstance(value, str) or not _NAME_PATTERN.match(value):
        fail(key, "a folder name of letters, digits, '_', '.' and '-'", value)
    return value


def mapping(key, value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(key, "a mapping (key: value pairs)", value)
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise ConfigError(key, f"{key} must have string keys. Received: key {bad[0]!r}")
    return copy.deepcopy(value)


def optional(check):
    """The check `check`, letting None through."""

    def checked(key, value):
        return None if value is None else check(key, value)

    checked.__name__ = f"optional_{check.__name__}"
    return checked


def choice(*choices):
    """A check that `value` is one of `choices` (with a "Did you mean" hint)."""

    def checked(key, value):
        if isinstance(value, bool) or value not in choices:
            message = f"{key} must be one of {', '.join(map(repr, choices))}."
            message += suggestion(value, [c for c in choices if isinstance(c, str)])
            raise ConfigError(key, f"{message} {received(key, value)}")
        return value

    return checked


def auto_or(check):
    """The check `check`, letting `"auto"` through."""

    def checked(key, value):
        return "auto" if value == "auto" else check(key, value)

    return checked


def jit_setting(key, value):
    if value == "auto" or isinstance(value, bool):
        return value
    fail(key, "'auto', true or false", value)


def class_weight(key, value):
    """`"balanced"`, or a mapping from class (name or index) to a weight > 0.

    >>> class_weight("training.class_weight", {"rare": 5, "common": 1})
    {'rare': 5.0, 'common': 1.0}
    """
    if value == "balanced":
        return value
    if not isinstance(value, dict) or not value:
        fail(key, "'balanced' or a mapping from class to weight, e.g. {rare: 5}", value)
    out = {}
    for name, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            fail(f"{key}.{name}", "a weight > 0", weight)
        out[name] = float(weight)
    return out
