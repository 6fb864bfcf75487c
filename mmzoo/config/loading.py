"""Reading a config: YAML files, dotted overrides, defaults and validation.

>>> from mmzoo.config.loading import load_config, parse_override
>>> parse_override("training.epochs=3")
('training.epochs', 3)
>>> load_config(overrides={"training.epochs": 2}, check_model=False)["training"]["epochs"]
2
"""

import copy
import os

import yaml

from mmzoo.config.schema import SCHEMA
from mmzoo.config.values import ConfigError, received, suggestion


def read_yaml(path):
    """Reads a YAML config file with `yaml.safe_load` (no arbitrary objects)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except FileNotFoundError:
        raise ConfigError("config", f"Config file not found. Received: config={path!r}") from None
    except yaml.YAMLError as error:
        where = ""
        mark = getattr(error, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            "config", f"Config file {path!r} is not valid YAML{where}: {problem}."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            "config",
            f"A config file must hold a mapping of sections (dataset:, model:, training: ...). "
            f"Received: a {type(data).__name__} in {path!r}",
        )
    return data


def parse_override(text):
    """`"training.epochs=3"` -> `("training.epochs", 3)`; the value is read as YAML."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(
            "override",
            f"An override must look like section.key=value, e.g. training.epochs=3. "
            f"Received: {text!r}",
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError("override", f"An override needs a dotted key. Received: {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key, value


def set_dotted(config, key, value):
    """Sets `config[a][b][c] = value` for `key="a.b.c"`, creating mappings on the way."""
    parts = key.split(".")
    node = config
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(
                where, f"Cannot set {key!r}: {where} is not a mapping. Received: {where}={child!r}"
            )
        node = child
    node[parts[-1]] = value


def load_config(config=None, overrides=(), check_model=True):
    """Merges a config (file path or dict) and overrides over the defaults, validated.

    Args:
        config: path of a YAML file, a dict, or None (all defaults).
        overrides: dotted overrides, as `"key=value"` strings or a dict
            `{"training.epochs": 3}`.
        check_model: also check the dataset, preset, towers, fusion and head names
            and options (see `validate_config`).

    Returns:
        The complete, validated config (a new dict).

    Raises:
        ConfigError: naming the first invalid key.
    """
    if config is None:
        data = {}
    elif isinstance(config, dict):
        data = copy.deepcopy(config)
    else:
        data = read_yaml(config)
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = [parse_override(text) for text in overrides]
    for key, value in items:
        set_dotted(data, key, value)
    return validate_config(data, check_model=check_model)


def validate_config(data, check_model=True):
    """Fills in defaults and checks every key; returns the complete config.

    Args:
        data: the config as a (partial) nested dict.
        check_model: also resolve the model (`mmzoo.config.model.resolve_model`):
            names and option keys, and the fusion's and head's option values. The
            towers' option values are checked when they are built (see
            `mmzoo.config.model.check_model_builds`): building one starts
            TensorFlow's runtime, which must wait for the distribution strategy.

    Returns:
        The complete config (a new dict).

    Raises:
        ConfigError: naming the first invalid key.
    """
    if not isinstance(data, dict):
        raise ConfigError("config", f"A config must be a mapping. Received: {data!r}")
    config = _check_section(data, SCHEMA, "")
    if check_model:
        from mmzoo.config.model import resolve_model

        resolve_model(config)
    return config


def _check_section(data, schema, prefix):
    unknown = [key for key in data if key not in schema]
    if unknown:
        key = unknown[0]
        valid = sorted(schema)
        path = f"{prefix}{key}"
        message = f"Unknown key {path!r} in the config."
        message += suggestion(key, valid, prefix)
        under = f" under {prefix[:-1]!r}" if prefix else ""
        raise ConfigError(path, f"{message} Valid keys{under}: {', '.join(valid)}.")
    out = {}
    for key, entry in schema.items():
        path = f"{prefix}{key}"
        if isinstance(entry, dict):
            value = data.get(key, {})
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConfigError(
                    path,
                    f"{path} must be a mapping of {', '.join(sorted(entry))}. "
                    f"{received(path, value)}",
                )
            out[key] = _check_section(value, entry, f"{path}.")
        elif key in data:
            out[key] = entry.check(path, data[key])
        else:
            out[key] = copy.deepcopy(entry.default)
    return out


def to_yaml(config):
    """The config as YAML text (tuples become lists), readable by `load_config`.

    >>> print(to_yaml({"training": {"epochs": 3, "shape": (2, 2)}}), end="")
    training:
      epochs: 3
      shape:
      - 2
      - 2
    """
    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
