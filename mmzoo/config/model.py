"""The model a config describes: the preset merged with `model.*`, filled in from the dataset.

What the config owns is checked here: which keys exist (from the signatures of the
builders and layers they configure), that inputs exist in the dataset and that
shapes, the sample rate and the vocabulary fit it. Everything else is checked by the
code that owns it (the preset, tower and fusion registries, `modality_of`, the tower
builders, the fusion layers and `TaskHead`); their `ValueError` comes back as a
`ConfigError` whose message starts with the dotted key:

>>> from mmzoo.config import ConfigError, load_config
>>> try:
...     load_config({"model": {"head_options": {"dropout": 2}}})
... except ConfigError as error:
...     print(error)
model.head_options.dropout: `dropout` must be in [0, 1). Received: dropout=2

Reading a config starts nothing in TensorFlow (`distribution.cpu_devices` must be set
before its runtime starts): the fusion layer and head are made without variables, and
the towers, whose building would start it, are built by `check_model_builds`, for
the caller to run once the strategy is in place.
"""

import contextlib
import copy
import inspect

import keras

from mmzoo.config.values import (
    ConfigError,
    check_options,
    fail,
    positive_int,
    received,
    suggestion,
    through,
)

#: The text vocabulary size when neither `text.max_tokens` nor the tower says one.
DEFAULT_TEXT_VOCAB = 1000
#: Tokens per text when neither the config, the model nor the dataset says.
DEFAULT_SEQUENCE_LENGTH = 32
#: The tower of each modality of a model without a preset (`model.preset: null`).
DEFAULT_TOWERS = {"image": "conv", "text": "cnn", "audio": "log_mel_conv"}

_SPLITS = ("train", "validation", "test")


def run_name_of(config):
    """The run's name: `name`, else the preset's name, else `"run"`.

    >>> run_name_of({"name": None, "model": {"preset": "trimodal_concat"}})
    'trimodal_concat'
    """
    return config["name"] or config["model"]["preset"] or "run"


def dataset_info(config):
    """The `DatasetInfo` of the configured dataset.

    Args:
        config: a config with its defaults filled in.

    Returns:
        The dataset's `DatasetInfo` for `dataset.options`.

    Raises:
        ConfigError: an unknown dataset, split limit or option, or an option the
            dataset refuses (`dataset.options: <its message>`).
    """
    from mmzoo import datasets

    name = config["dataset"]["name"]
    if name not in datasets.DATASETS:
        valid = datasets.list_datasets()
        message = f"Unknown dataset {name!r}." + suggestion(name, valid)
        raise ConfigError(
            "dataset.name", f"{message} Valid datasets: {', '.join(valid)}. "
            f"{received('dataset.name', name)}"
        )
    for split, limit in config["dataset"]["limits"].items():
        key = f"dataset.limits.{split}"
        if split not in _SPLITS:
            message = f"Unknown key {key!r}: not a split." + suggestion(
                split, _SPLITS, "dataset.limits."
            )
            raise ConfigError(key, f"{message} Valid splits: {', '.join(_SPLITS)}.")
        positive_int(key, limit)
    options = config["dataset"]["options"]
    check_options("dataset.options", options, datasets.DATASETS.get(name).options,
                  f"dataset {name!r}")
    try:
        return datasets.info(name, data_dir=config["dataset"]["data_dir"], **options)
    except ValueError as error:
        raise ConfigError("dataset.options", f"dataset.options: {error}") from None


def resolve_model(config, info=None):
    """The `mmzoo.build_model` keyword arguments the config describes.

    The preset's config is merged with `model.*` (input specs key by key; `null`
    removes an input), then filled in from the dataset: input shapes, the text
    vocabulary size, the audio sample rate, the number of classes and class names.
    Names (preset, modality, tower, fusion, head) and option keys are checked, and
    the fusion layer and head are made once, without variables, so that they check
    their options; the towers' options are checked by `check_model_builds`.

    Args:
        config: a config with its defaults filled in (see `load_config`).
        info: the dataset's `DatasetInfo` (default: `dataset_info(config)`).

    Returns:
        A dict of `build_model` keyword arguments.

    Raises:
        ConfigError: naming the first invalid key.
    """
    from mmzoo.presets import PRESETS

    info = info or dataset_info(config)
    model = config["model"]
    kwargs = {"inputs": {}, "fusion": "concat", "fusion_options": {}, "head": "multiclass",
              "head_options": {}, "modality_dropout": 0.0}
    preset = model["preset"]
    if preset is not None:
        found = through("model.preset", PRESETS.get, preset, argument="model.preset",
                        suggest=(preset, PRESETS.names()))
        kwargs.update(copy.deepcopy(found["config"]))
        kwargs.pop("name", None)
    for key in ("fusion", "head", "modality_dropout"):
        if model[key] is not None:
            kwargs[key] = model[key]
    kwargs["fusion_options"] = {**(kwargs.get("fusion_options") or {}), **model["fusion_options"]}
    kwargs["head_options"] = {**(kwargs.get("head_options") or {}), **model["head_options"]}

    if preset is None and not model["inputs"]:  # one default tower per dataset input
        kwargs["inputs"] = {name: {} for name in info.modalities}
    inputs = _merge_inputs(kwargs["inputs"], model["inputs"])
    if model["pretrained"]:
        inputs = _with_pretrained(inputs, model["pretrained"])
    for name, spec in inputs.items():
        inputs[name] = _input_spec(f"model.inputs.{name}", name, spec, info, config["text"])
    kwargs["inputs"] = inputs
    _check_fusion(kwargs["fusion"], kwargs["fusion_options"])

    if model["head"] is None:  # the labels decide (a preset's head is multiclass)
        kwargs["head"] = info.task
    head = kwargs["head"]
    if head != info.task:
        raise ConfigError(
            "model.head", f"model.head {head!r} does not fit the labels of dataset {info.name!r}, "
            f"which are {info.task}: leave model.head unset, or encode the labels for it "
            f"(dataset.options.task: {head}). {received('model.head', head)}"
        )
    kwargs["num_outputs"] = 1 if head in ("binary", "regression") else info.num_classes
    if head != "regression":
        kwargs["head_options"].setdefault("class_names", list(info.class_names))
    task_head = _check_head(head, kwargs["num_outputs"], kwargs["head_options"])
    _check_imbalance(config["training"], head, list(info.class_names))
    _check_fine_tuning(config["training"], inputs)
    _check_monitor(config["training"]["monitor"], task_head)
    if kwargs["modality_dropout"] and len(inputs) < 2:
        kwargs["modality_dropout"] = 0.0  # one input: nothing to drop (e.g. a baseline)
    return kwargs


def check_model_builds(kwargs):
    """Builds each tower of `resolve_model`'s result once, so its builder checks the options.

    Building starts TensorFlow's runtime: call it after the distribution strategy
    is set up (and before `mmzoo.build_model`, whose errors do not name config keys).

    Args:
        kwargs: what `resolve_model` returns.

    Raises:
        ConfigError: `model.inputs.<name>[.<option>]: <the builder's message>`.

    >>> from mmzoo.config import load_config, resolve_model
    >>> kwargs = resolve_model(load_config({"model": {"inputs": {"text": {"units": 0}}}}))
    >>> try:
    ...     check_model_builds(kwargs)
    ... except ConfigError as error:
    ...     print(error)
    model.inputs.text.units: `units` must be a positive integer. Received: units=0
    """
    from mmzoo.modalities import modality_of
    from mmzoo.towers import get_tower

    for name, spec in kwargs["inputs"].items():
        options = dict(spec)
        builder = get_tower(modality_of(name, options), options.pop("tower"))
        options.pop("modality", None)
        through(f"model.inputs.{name}", builder, name=name, options=list(spec), **options)


def _merge_inputs(preset_inputs, config_inputs):
    from mmzoo.zoo import merged_spec

    inputs = {name: dict(spec) for name, spec in preset_inputs.items()}
    for name, spec in config_inputs.items():
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
            fail(key, "a tower spec mapping, e.g. {tower: conv}, or null", spec)
        inputs[name] = {**merged_spec(inputs.get(name, {}), spec, name), **spec}
    if not inputs:
        raise ConfigError(
            "model.inputs", "The model has no inputs: set model.preset or model.inputs, e.g. "
            "inputs: {image: {tower: conv}}. Received: model.inputs={}"
        )
    return inputs


def _input_spec(key, name, spec, info, text_config):
    """One input's tower spec, checked and filled in from the dataset."""
    from mmzoo.modalities import modality_of
    from mmzoo.towers import get_tower, list_towers

    if name not in info.modalities:
        raise ConfigError(
            key, f"Dataset {info.name!r} has no input {name!r}; its inputs are "
            f"{', '.join(info.modalities)}. Remove it with {key}: null. {received(key, spec)}"
        )
    data_modality = info.modalities[name].get("modality")
    if data_modality is not None:  # an input named after its column, e.g. "caption"
        spec = {"modality": data_modality, **spec}
    modality = through(f"{key}.modality" if "modality" in spec else key, modality_of, name, spec)
    if "tower" not in spec:
        spec = {**spec, "tower": DEFAULT_TOWERS[modality]}
    family = spec["tower"]
    families = [n.split("/", 1)[1] for n in list_towers(f"{modality}/*")]
    builder = through(f"{key}.tower", get_tower, modality, family, suggest=(family, families))
    accepted = [p for p in inspect.signature(builder).parameters if p != "name"]
    check_options(key, [o for o in spec if o not in ("tower", "modality")], accepted,
                  f"the {modality} tower {family!r}")
    if "preset" in spec:  # a keras-hub preset: offline and not cached fails here, first
        from mmzoo import hub

        through(key, hub.check_preset, spec["preset"], options=["preset"])
    return _fill_from_dataset(key, spec, modality, accepted, info.modalities[name], text_config)


def _with_pretrained(inputs, pretrained):
    """`model.pretrained`: each named input gets a pretrained tower over its preset."""
    from mmzoo.presets import pretrained_spec

    inputs = dict(inputs)
    for name, preset in pretrained.items():
        key = f"model.pretrained.{name}"
        if name not in inputs:
            raise ConfigError(key, f"{key}: the model has no input {name!r}; its inputs are "
                              f"{', '.join(inputs)}. {received(key, preset)}")
        inputs[name] = through(key, pretrained_spec, inputs[name], preset, name, key)
    return inputs


def pretrained_settings(inputs):
    """Dict from input name to the `trainable` setting of its pretrained tower.

    >>> pretrained_settings({"text": {"tower": "pretrained", "trainable": {"last_n": 2}},
    ...                      "image": {"tower": "conv"}})
    {'text': {'last_n': 2}}
    """
    return {name: spec.get("trainable", True) for name, spec in inputs.items()
            if spec.get("tower") == "pretrained"}


def _check_fine_tuning(training, inputs):
    """`training.fine_tuning.frozen_epochs` needs pretrained towers and a second phase."""
    frozen = training["fine_tuning"]["frozen_epochs"]
    key = "training.fine_tuning.frozen_epochs"
    if not frozen:
        return
    if not pretrained_settings(inputs):
        raise ConfigError(key, f"{key} freezes pretrained towers, and the model has none "
                          f"(give one with model.pretrained.<input>). {received(key, frozen)}")
    if frozen >= training["epochs"]:
        raise ConfigError(key, f"{key} must be below training.epochs ({training['epochs']}), "
                          f"or the towers never train. {received(key, frozen)}")
    if training["fine_tuning"]["learning_rate_factor"] > 1:
        raise ConfigError("training.fine_tuning.learning_rate_factor",
                          "training.fine_tuning.learning_rate_factor must be at most 1. "
                          + received("training.fine_tuning.learning_rate_factor",
                                     training["fine_tuning"]["learning_rate_factor"]))


def _check_fusion(fusion, options):
    from mmzoo.fusion import get_fusion, list_fusions

    layer_class = through("model.fusion", get_fusion, fusion, suggest=(fusion, list_fusions()))
    check_options("model.fusion_options", options, _init_arguments(layer_class),
                  f"fusion {fusion!r}")
    with _without_variables():
        through("model.fusion_options", layer_class, options=list(options), **options)


def _check_head(head, num_outputs, options):
    from mmzoo.heads import TaskHead

    accepted = [a for a in _init_arguments(TaskHead) if a not in ("kind", "num_outputs")]
    check_options("model.head_options", options, accepted, "the task head")
    from mmzoo.heads import HEAD_KINDS

    with _without_variables():
        return through(
            "model.head_options", TaskHead, head, num_outputs=num_outputs,
            options=list(options), suggest=(head, HEAD_KINDS),
            keys={"head": "model.head", "kind": "model.head", "num_outputs": "model.head"},
            **options,
        )


@contextlib.contextmanager
def _without_variables():
    """Layers made inside create no TensorFlow variable (a `Dropout`'s seed would).

    Keras defers variables made in a `StatelessScope`; they are forgotten on the way
    out, so TensorFlow's runtime does not start and nothing is left to initialize.
    """
    from keras.src.backend.common import global_state

    pending = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)


def _check_imbalance(training, head, class_names):
    """`training.class_weight` and `training.loss` fit the head and name its classes."""
    weights = training["class_weight"]
    if weights is not None and head not in ("multiclass", "binary"):
        raise ConfigError("training.class_weight",
                          f"training.class_weight weighs the classes of a multiclass or binary "
                          f"head. Received: a {head} head")
    if isinstance(weights, dict):
        for name in weights:
            if str(name) not in class_names and not (
                    isinstance(name, int) and 0 <= name < len(class_names)):
                raise ConfigError(
                    f"training.class_weight.{name}",
                    f"training.class_weight.{name} names a class the dataset does not have. "
                    f"{suggestion(str(name), class_names).strip()} Classes: "
                    f"{', '.join(class_names)}. Received: {name!r}".replace("  ", " "))
    if training["loss"] == "focal" and head == "regression":
        raise ConfigError("training.loss", "training.loss: focal is for classes; a regression "
                          "head has none. Received: training.loss='focal'")


def _check_monitor(monitor, head):
    valid = list(head.metric_names(validation=True))
    if monitor != "auto" and monitor not in valid:
        message = f"training.monitor must be 'auto' or a metric of the {head.kind} head."
        message += suggestion(monitor, valid)
        raise ConfigError(
            "training.monitor",
            f"{message} Valid: {', '.join(valid)}. {received('training.monitor', monitor)}",
        )


def _fill_from_dataset(key, spec, modality, accepted, data_spec, text_config):
    spec = dict(spec)
    if modality == "image" and "shape" in data_spec:
        if spec.get("tower") == "pretrained":  # it resizes to its preset's size itself
            spec.pop("input_shape", None)
        _fill(key, spec, "input_shape", tuple(data_spec["shape"]), "the dataset's images", tuple)
    elif modality == "audio":
        shape = tuple(data_spec.get("shape") or (data_spec["num_samples"],))
        _fill(key, spec, "input_shape", shape, "the dataset's audio", tuple)
        if "sample_rate" in accepted and "sample_rate" in data_spec:
            _fill(key, spec, "sample_rate", data_spec["sample_rate"],
                  "the dataset's sample rate")
    elif modality == "text":
        length = (text_config["sequence_length"] or data_spec.get("sequence_length")
                  or DEFAULT_SEQUENCE_LENGTH)
        spec.setdefault("input_shape", (length,))
        if "vocab_size" in accepted:
            spec.setdefault("vocab_size", text_config["max_tokens"] or DEFAULT_TEXT_VOCAB)
            max_tokens = text_config["max_tokens"]
            if max_tokens is not None and max_tokens > spec["vocab_size"]:
                raise ConfigError(
                    "text.max_tokens", f"text.max_tokens must be at most the text tower's "
                    f"vocab_size ({spec['vocab_size']}). {received('text.max_tokens', max_tokens)}"
                )
    if "input_shape" in spec:
        spec["input_shape"] = tuple(spec["input_shape"])
    return spec


def _fill(key, spec, option, value, what, normalize=lambda v: v):
    """Sets `spec[option]` to the dataset's `value`, or checks that a given one matches."""
    given = spec.get(option)
    if given is None:
        spec[option] = value
    elif normalize(given) != value:
        raise ConfigError(
            f"{key}.{option}", f"{key}.{option} must match {what} {value}. "
            f"{received(f'{key}.{option}', given)}"
        )


def _init_arguments(cls):
    return [
        name for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
