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

Modules: `mmzoo.config.schema` (every key, its default and check),
`mmzoo.config.values` (the checks and `ConfigError`), `mmzoo.config.loading` (YAML,
overrides, validation) and `mmzoo.config.model` (the model the config describes,
checked by the towers, fusions and head themselves). Everything is exported here.

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


from mmzoo.config.loading import (
    load_config,
    parse_override,
    read_yaml,
    set_dotted,
    to_yaml,
    validate_config,
)
from mmzoo.config.model import (
    DEFAULT_TEXT_VOCAB,
    check_model_builds,
    dataset_info,
    pretrained_settings,
    resolve_model,
    run_name_of,
)
from mmzoo.config.schema import (
    MIXED_PRECISION_POLICIES,
    OPTIMIZERS,
    SCHEDULES,
    SCHEMA,
    STRATEGY_KINDS,
    TOKENIZERS,
    VERBOSITY,
    Field,
    default_config,
    describe_config,
)
from mmzoo.config.values import ConfigError

__all__ = [
    "DEFAULT_TEXT_VOCAB",
    "MIXED_PRECISION_POLICIES",
    "OPTIMIZERS",
    "SCHEDULES",
    "SCHEMA",
    "STRATEGY_KINDS",
    "TOKENIZERS",
    "VERBOSITY",
    "ConfigError",
    "Field",
    "check_model_builds",
    "dataset_info",
    "default_config",
    "describe_config",
    "load_config",
    "parse_override",
    "pretrained_settings",
    "read_yaml",
    "resolve_model",
    "run_name_of",
    "set_dotted",
    "to_yaml",
    "validate_config",
]
