"""Training configs: schema with defaults, validation with helpful errors, overrides.

A config is a nested dict (usually a YAML file read with `yaml.safe_load`). Every key
has a default (`default_config()`), so a file only states what differs. `load_config`
merges the file, then the dotted overrides (`training.epochs=3`), then validates
everything before any data is read or any model is built: a wrong type, a bad value
or an unknown key raises a `ConfigError` (a `ValueError`) naming the dotted key, what
was expected and what was received; an unknown key suggests the near miss.

Sections (see `describe_config()` for every key and its default):

- `name`: run name: `runs/<name>/` and `saved_models/<name>/`.
- `dataset`: `name`, its `options` (e.g. `num_train`), `data_dir`, generation `seed`,
  `limits` (the first N examples of a split, e.g. for a quick run on a large dataset).
- `model`: a `preset` and/or `inputs` (input name -> tower spec, merged into the
  preset's; `null` removes an input), `fusion`, `fusion_options`, `head`,
  `head_options`, `modality_dropout`. Input shapes, the text vocabulary size, the
  audio sample rate and the number of classes are filled in from the dataset.
- `text`: the tokenizer run in the input pipeline (`tokenizer`, `max_tokens`,
  `sequence_length`), adapted on the train split only.
- `training`: `epochs`, `batch_size` (per replica), `seed`, `deterministic`,
  `optimizer`, `schedule`, `monitor`, `early_stopping_patience`, `restore_best`,
  `batch_norm_calibration` (see `mmzoo.batch_norm`).
- `distribution`: `strategy` (`auto`, `default`, `mirrored`, `multi_worker`, `tpu`),
  `cpu_devices` (split the CPU into logical devices, for tests), `tpu`.
- `speed`: `mixed_precision`, `jit_compile`, `steps_per_execution` (`auto` picks what
  is fast and safe on the detected hardware).
- `output`: `runs_dir`, `saved_models_dir`, `tensorboard`, `export`, `verbose`.
- `evaluation`: `per_modality` (test accuracy with one modality at a time) and
  reference `baselines` printed beside it.

>>> from mmzoo.config import load_config, ConfigError
>>> config = load_config({"training": {"epochs": 3}}, overrides=["training.seed=7"])
>>> config["training"]["epochs"], config["training"]["seed"], config["model"]["preset"]
(3, 7, 'trimodal_gated')
>>> try:
...     load_config({"trainig": {"epochs": 3}})
... except ConfigError as error:
...     print(error)
Unknown key 'trainig' in the config. Did you mean 'training'? Valid keys: dataset, distribution, evaluation, model, name, output, speed, text, training.
"""

import copy
import dataclasses
import difflib
import inspect
import os
import re

import yaml

from mmzoo.checks import is_int, is_number

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")
TOKENIZERS = ("vectorization", "wordpiece")
VERBOSITY = ("auto", 0, 1, 2)

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_TEXT_VOCAB = 1000


class ConfigError(ValueError):
    """A config value or key is invalid; `key` is its dotted path."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


# Checks: f(key, value) -> normalized value, or ConfigError naming `key`. -------------


def _received(key, value):
    return f"Received: {key}={value!r}"


def _fail(key, expected, value):
    raise ConfigError(key, f"{key} must be {expected}. {_received(key, value)}")


def positive_int(key, value):
    if not is_int(value) or value <= 0:
        _fail(key, "a positive integer", value)
    return int(value)


def non_negative_int(key, value):
    if not is_int(value) or value < 0:
        _fail(key, "an integer >= 0", value)
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
        _fail(key, "a positive number", value)
    return float(value)


def non_negative_float(key, value):
    value = _number(value)
    if not is_number(value) or not value >= 0 or value == float("inf"):
        _fail(key, "a number >= 0", value)
    return float(value)


def unit_interval(key, value):
    value = _number(value)
    if not is_number(value) or not 0 <= value <= 1:
        _fail(key, "a number in [0, 1]", value)
    return float(value)


def rate(key, value):
    value = _number(value)
    if not is_number(value) or not 0 <= value < 1:
        _fail(key, "a number in [0, 1)", value)
    return float(value)


def boolean(key, value):
    if not isinstance(value, bool):
        _fail(key, "true or false", value)
    return value


def string(key, value):
    if not isinstance(value, str) or not value:
        _fail(key, "a non-empty string", value)
    return value


def run_name(key, value):
    if not isinstance(value, str) or not _NAME_PATTERN.match(value):
        _fail(key, "a folder name of letters, digits, '_', '.' and '-'", value)
    return value


def mapping(key, value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(key, "a mapping (key: value pairs)", value)
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise ConfigError(key, f"{key} must have string keys. Received: key {bad[0]!r}")
    return copy.deepcopy(value)


def optional(check):
    def checked(key, value):
        return None if value is None else check(key, value)

    checked.__name__ = f"optional_{check.__name__}"
    return checked


def choice(*choices):
    def checked(key, value):
        if isinstance(value, bool) or value not in choices:
            message = f"{key} must be one of {', '.join(map(repr, choices))}."
            message += _suggestion(value, [c for c in choices if isinstance(c, str)])
            raise ConfigError(key, f"{message} {_received(key, value)}")
        return value

    return checked


def auto_or(check):
    def checked(key, value):
        return "auto" if value == "auto" else check(key, value)

    return checked


def jit_setting(key, value):
    if value == "auto" or isinstance(value, bool):
        return value
    _fail(key, "'auto', true or false", value)


# Schema -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Field:
    """One config key: its default, its check and a one-line description."""

    default: object
    check: object
    doc: str


SCHEMA = {
    "name": Field(None, optional(run_name), "run name (default: the preset's name, or 'run')"),
    "dataset": {
        "name": Field("embedded", string, "a dataset of `mmzoo datasets`"),
        "options": Field({}, mapping, "dataset options, e.g. num_train: 500"),
        "data_dir": Field(None, optional(string), "data folder (default: $MMZOO_DATA_DIR)"),
        "seed": Field(0, non_negative_int, "seed of the dataset's generation/pairing"),
        "limits": Field({}, mapping, "use the first N examples of a split, e.g. train: 1000"),
    },
    "model": {
        "preset": Field("trimodal_gated", optional(string), "a preset of `mmzoo list`, or null"),
        "inputs": Field({}, mapping, "input name -> tower spec, merged into the preset's"),
        "fusion": Field(None, optional(string), "fusion layer (default: the preset's, else concat)"),
        "fusion_options": Field({}, mapping, "fusion layer arguments"),
        "head": Field(None, optional(string), "task head (default: the preset's, else multiclass)"),
        "head_options": Field({}, mapping, "TaskHead arguments (hidden_units, dropout)"),
        "modality_dropout": Field(None, optional(rate), "rate of dropping whole modalities"),
    },
    "text": {
        "tokenizer": Field("vectorization", choice(*TOKENIZERS), "tokenizer kind"),
        "max_tokens": Field(None, optional(positive_int), "vocabulary size (default: the tower's)"),
        "sequence_length": Field(32, positive_int, "tokens per text when the model does not say"),
    },
    "training": {
        "epochs": Field(20, positive_int, "passes over the train split"),
        "batch_size": Field(64, positive_int, "examples per batch and replica"),
        "seed": Field(0, non_negative_int, "seed of weights, shuffling and dropout"),
        "deterministic": Field(False, boolean, "bit-identical runs (slower ops)"),
        "shuffle_buffer": Field(None, optional(positive_int), "default: the whole split"),
        "optimizer": {
            "name": Field("adam", choice(*OPTIMIZERS), "optimizer"),
            "learning_rate": Field(0.002, positive_float, "peak learning rate"),
            "weight_decay": Field(None, optional(non_negative_float), "decoupled weight decay"),
            "clipnorm": Field(None, optional(positive_float), "gradient norm clipping"),
        },
        "schedule": {
            "name": Field("cosine", choice(*SCHEDULES), "learning-rate schedule"),
            "warmup_epochs": Field(1, non_negative_int, "linear warm-up epochs (cosine)"),
            "alpha": Field(0.0, unit_interval, "final learning rate as a fraction (cosine)"),
        },
        "monitor": Field("auto", string, "metric of the best checkpoint, e.g. val_accuracy"),
        "early_stopping_patience": Field(None, optional(positive_int), "epochs without gain"),
        "restore_best": Field(True, boolean, "test and export the best checkpoint"),
        "batch_norm_calibration": Field(
            True, boolean, "recompute BatchNorm statistics before validation and at the end"
        ),
    },
    "distribution": {
        "strategy": Field("auto", choice(*STRATEGIES), "tf.distribute strategy"),
        "cpu_devices": Field(None, optional(positive_int), "logical CPU devices to create"),
        "tpu": Field(None, optional(string), "TPU name or address for the cluster resolver"),
    },
    "speed": {
        "mixed_precision": Field("auto", choice(*MIXED_PRECISION), "dtype policy"),
        "jit_compile": Field("auto", jit_setting, "XLA compilation"),
        "steps_per_execution": Field("auto", auto_or(positive_int), "batches per tf.function call"),
    },
    "output": {
        "runs_dir": Field("runs", string, "folder of run directories"),
        "saved_models_dir": Field("saved_models", string, "folder of exported models"),
        "tensorboard": Field(True, boolean, "write TensorBoard logs"),
        "export": Field(True, boolean, "export the model to saved_models/<name>/"),
        "verbose": Field("auto", choice(*VERBOSITY), "progress output: auto, 0, 1 or 2"),
    },
    "evaluation": {
        "per_modality": Field(True, boolean, "also test each modality alone (mask)"),
        "baselines": Field({}, mapping, "reference accuracies printed beside the results"),
    },
}


def default_config():
    """The complete config with every default filled in (a fresh dict)."""
    return _defaults(SCHEMA)


def describe_config(schema=None, prefix=""):
    """Lines `key: default  # description` for every key (for `--help` and docs)."""
    lines = []
    for key, entry in (schema or SCHEMA).items():
        path = f"{prefix}{key}"
        if isinstance(entry, dict):
            lines.extend(describe_config(entry, f"{path}."))
        else:
            lines.append(f"{path} = {entry.default!r}  # {entry.doc}")
    return lines


# Loading ----------------------------------------------------------------------------


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
            and options (imports Keras for the tower and fusion registries).

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
    """Fills in defaults and checks every key; returns the complete config."""
    if not isinstance(data, dict):
        raise ConfigError("config", f"A config must be a mapping. Received: {data!r}")
    config = _check_section(data, SCHEMA, "")
    if check_model:
        resolve_model(config)
    return config


def _check_section(data, schema, prefix):
    unknown = [key for key in data if key not in schema]
    if unknown:
        key = unknown[0]
        valid = sorted(schema)
        path = f"{prefix}{key}"
        message = f"Unknown key {path!r} in the config."
        message += _suggestion(key, valid, prefix)
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
                    f"{_received(path, value)}",
                )
            out[key] = _check_section(value, entry, f"{path}.")
        elif key in data:
            out[key] = entry.check(path, data[key])
        else:
            out[key] = copy.deepcopy(entry.default)
    return out


def _defaults(schema):
    return {
        key: _defaults(entry) if isinstance(entry, dict) else copy.deepcopy(entry.default)
        for key, entry in schema.items()
    }


def _suggestion(word, candidates, prefix=""):
    """`" Did you mean 'x'?"` for the closest of `candidates` (shown after `prefix`), or ""."""
    if not isinstance(word, str):
        return ""
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" Did you mean {prefix + matches[0]!r}?" if matches else ""


def _unknown_option(key, option, valid, what):
    message = f"Unknown key {f'{key}.{option}'!r}: not an option of {what}."
    message += _suggestion(option, valid, f"{key}.")
    raise ConfigError(f"{key}.{option}", f"{message} Valid options: {', '.join(sorted(valid))}.")


# Model and dataset ------------------------------------------------------------------


def run_name_of(config):
    """The run's name: `name`, else the preset's name, else `"run"`."""
    return config["name"] or config["model"]["preset"] or "run"


def dataset_info(config):
    """The `DatasetInfo` of the configured dataset, or a ConfigError naming the key."""
    from mmzoo import datasets

    name = config["dataset"]["name"]
    if name not in datasets.DATASETS:
        valid = datasets.list_datasets()
        message = f"Unknown dataset {name!r}."
        message += _suggestion(name, valid)
        raise ConfigError(
            "dataset.name", f"{message} Valid datasets: {', '.join(valid)}. "
            f"{_received('dataset.name', name)}"
        )
    for split, limit in config["dataset"]["limits"].items():
        key = f"dataset.limits.{split}"
        if split not in ("train", "validation", "test"):
            message = f"Unknown key {key!r}: not a split."
            message += _suggestion(split, ["train", "validation", "test"], "dataset.limits.")
            raise ConfigError(key, f"{message} Valid splits: train, validation, test.")
        positive_int(key, limit)
    options = config["dataset"]["options"]
    valid = datasets.DATASETS.get(name).options
    for option in options:
        if option not in valid:
            _unknown_option("dataset.options", option, valid, f"dataset {name!r}")
    try:
        return datasets.info(name, **options)
    except ValueError as error:
        raise ConfigError("dataset.options", f"dataset.options: {error}") from None


def resolve_model(config, info=None):
    """The `mmzoo.build_model` keyword arguments the config describes.

    The preset's config is merged with `model.*` (input specs key by key; `null`
    removes an input), then filled in from the dataset: input shapes, the text
    vocabulary size, the audio sample rate, the number of classes and class names.
    Every name (preset, tower, fusion, head) and option is checked here.
    """
    from mmzoo.fusion import get_fusion, list_fusions
    from mmzoo.heads import HEAD_KINDS, TaskHead
    from mmzoo.presets import PRESETS
    from mmzoo.towers import MODALITIES, TOWERS, list_towers

    info = info or dataset_info(config)
    model = config["model"]
    kwargs = {"inputs": {}, "fusion": "concat", "fusion_options": {}, "head": "multiclass",
              "head_options": {}, "modality_dropout": 0.0}
    preset = model["preset"]
    if preset is not None:
        if preset not in PRESETS:
            valid = PRESETS.names()
            message = f"Unknown preset {preset!r}."
            message += _suggestion(preset, valid)
            raise ConfigError(
                "model.preset",
                f"{message} Valid presets: {', '.join(valid)}. {_received('model.preset', preset)}",
            )
        kwargs.update(copy.deepcopy(PRESETS.get(preset)["config"]))
        kwargs.pop("name", None)
    for key in ("fusion", "head", "modality_dropout"):
        if model[key] is not None:
            kwargs[key] = model[key]
    kwargs["fusion_options"] = {**(kwargs.get("fusion_options") or {}), **model["fusion_options"]}
    kwargs["head_options"] = {**(kwargs.get("head_options") or {}), **model["head_options"]}

    inputs = {name: dict(spec) for name, spec in kwargs["inputs"].items()}
    for name, spec in model["inputs"].items():
        key = f"model.inputs.{name}"
        if spec is None:
            if name not in inputs:
                raise ConfigError(
                    key, f"{key} is null (remove the input) but the model has no input {name!r}. "
                    f"Its inputs: {', '.join(inputs) or 'none'}."
                )
            del inputs[name]
            continue
        if not isinstance(spec, dict):
            _fail(key, "a tower spec mapping, e.g. {tower: conv}, or null", spec)
        inputs[name] = {**inputs.get(name, {}), **spec}
    if not inputs:
        raise ConfigError(
            "model.inputs", "The model has no inputs: set model.preset or model.inputs, e.g. "
            "inputs: {image: {tower: conv}}. Received: model.inputs={}"
        )

    for name, spec in inputs.items():
        key = f"model.inputs.{name}"
        if name not in info.modalities:
            raise ConfigError(
                key, f"Dataset {info.name!r} has no input {name!r}; its inputs are "
                f"{', '.join(info.modalities)}. Remove it with {key}: null. "
                f"Received: {key}={spec!r}"
            )
        if "tower" not in spec:
            raise ConfigError(f"{key}.tower", f"{key}.tower is missing: name a tower, e.g. "
                              f"tower: {list_towers()[0].split('/')[1]}.")
        modality = spec.get("modality", name.split("_")[0])
        if modality not in MODALITIES:
            raise ConfigError(
                f"{key}.modality", f"{key}.modality must be one of {', '.join(MODALITIES)}. "
                f"{_received(f'{key}.modality', modality)}"
            )
        family = spec["tower"]
        valid = [n.split("/", 1)[1] for n in list_towers(f"{modality}/*")]
        if family not in valid:
            message = f"Unknown {modality} tower {family!r}."
            message += _suggestion(family, valid)
            raise ConfigError(
                f"{key}.tower", f"{message} Valid {modality} towers: {', '.join(valid)}. "
                f"{_received(f'{key}.tower', family)}"
            )
        accepted = [p for p in inspect.signature(TOWERS.get(f"{modality}/{family}")).parameters
                    if p != "name"]
        for option in spec:
            if option not in (*accepted, "tower", "modality"):
                _unknown_option(key, option, accepted, f"the {modality} tower {family!r}")
        inputs[name] = _fill_from_dataset(key, spec, modality, accepted, info.modalities[name],
                                          config["text"])
    kwargs["inputs"] = inputs

    fusion = kwargs["fusion"]
    valid = list_fusions()
    if fusion not in valid:
        message = f"Unknown fusion {fusion!r}."
        message += _suggestion(fusion, valid)
        raise ConfigError(
            "model.fusion",
            f"{message} Valid fusions: {', '.join(valid)}. {_received('model.fusion', fusion)}",
        )
    accepted = _init_arguments(get_fusion(fusion))
    for option in kwargs["fusion_options"]:
        if option not in accepted:
            _unknown_option("model.fusion_options", option, accepted, f"fusion {fusion!r}")
    head = kwargs["head"]
    if head not in HEAD_KINDS:
        raise ConfigError(
            "model.head", f"model.head must be one of {', '.join(HEAD_KINDS)}. "
            f"{_received('model.head', head)}"
        )
    accepted = [a for a in _init_arguments(TaskHead) if a not in ("kind", "num_outputs")]
    for option in kwargs["head_options"]:
        if option not in accepted:
            _unknown_option("model.head_options", option, accepted, "the task head")
    monitor = config["training"]["monitor"]
    names = {"multiclass": ("loss", "accuracy"), "binary": ("loss", "accuracy", "auc"),
             "multilabel": ("loss", "accuracy", "auc"), "regression": ("loss", "mae", "rmse")}
    valid = [f"{prefix}{name}" for prefix in ("val_", "") for name in names[head]]
    if monitor != "auto" and monitor not in valid:
        message = f"training.monitor must be 'auto' or a metric of the {head} head."
        message += _suggestion(monitor, valid)
        raise ConfigError(
            "training.monitor",
            f"{message} Valid: {', '.join(valid)}. {_received('training.monitor', monitor)}",
        )
    if head == "multiclass":
        kwargs["num_outputs"] = info.num_classes
        kwargs["head_options"].setdefault("class_names", list(info.class_names))
    elif head == "binary":
        kwargs["num_outputs"] = 1
    else:
        kwargs["num_outputs"] = info.num_classes
    if kwargs["modality_dropout"] and len(inputs) < 2:
        kwargs["modality_dropout"] = 0.0  # one input: nothing to drop (e.g. a baseline)
    return kwargs


def _fill_from_dataset(key, spec, modality, accepted, data_spec, text_config):
    spec = dict(spec)
    if modality == "image" and "shape" in data_spec:
        shape = tuple(data_spec["shape"])
        given = spec.get("input_shape")
        if given is None:
            spec["input_shape"] = shape
        elif tuple(given) != shape:
            raise ConfigError(
                f"{key}.input_shape", f"{key}.input_shape must match the dataset's images "
                f"{shape}. {_received(f'{key}.input_shape', given)}"
            )
    elif modality == "audio":
        shape = tuple(data_spec.get("shape") or (data_spec["num_samples"],))
        given = spec.get("input_shape")
        if given is None:
            spec["input_shape"] = shape
        elif tuple(given) != shape:
            raise ConfigError(
                f"{key}.input_shape", f"{key}.input_shape must match the dataset's audio "
                f"{shape}. {_received(f'{key}.input_shape', given)}"
            )
        if "sample_rate" in accepted and "sample_rate" in data_spec:
            given = spec.get("sample_rate")
            if given is None:
                spec["sample_rate"] = data_spec["sample_rate"]
            elif given != data_spec["sample_rate"]:
                raise ConfigError(
                    f"{key}.sample_rate", f"{key}.sample_rate must be the dataset's sample rate "
                    f"{data_spec['sample_rate']}. {_received(f'{key}.sample_rate', given)}"
                )
    elif modality == "text":
        spec.setdefault("input_shape", (text_config["sequence_length"],))
        if "vocab_size" in accepted:
            spec.setdefault("vocab_size", text_config["max_tokens"] or DEFAULT_TEXT_VOCAB)
            max_tokens = text_config["max_tokens"]
            if max_tokens is not None and max_tokens > spec["vocab_size"]:
                raise ConfigError(
                    "text.max_tokens", f"text.max_tokens must be at most the text tower's "
                    f"vocab_size ({spec['vocab_size']}). {_received('text.max_tokens', max_tokens)}"
                )
    if "input_shape" in spec:
        spec["input_shape"] = tuple(spec["input_shape"])
    return spec


def _init_arguments(cls):
    return [
        name for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def to_yaml(config):
    """The config as YAML text (tuples become lists), readable by `load_config`."""
    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
