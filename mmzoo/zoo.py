"""Assemble towers, a fusion layer and a head into one `MultimodalModel`.

>>> import mmzoo
>>> model = mmzoo.build_model(
...     inputs={
...         "image": {"tower": "conv", "input_shape": (28, 28, 1)},
...         "text": {"tower": "cnn", "input_shape": (16,), "vocab_size": 500},
...     },
...     fusion="gated",
...     num_outputs=10,
... )
>>> sorted(tensor.name for tensor in model.inputs)
['image', 'modality_mask', 'text']
>>> {name: type(layer).__name__ for name, layer in model.preprocessor.layers.items()}
{'image': 'ImagePreprocessing', 'text': 'TextTokenizer'}
"""

import copy
import inspect

import keras

from mmzoo.fusion import ModalityDropout, get_fusion
from mmzoo.heads import TaskHead
from mmzoo.model import MODALITY_MASK, MultimodalModel
from mmzoo.presets import PRESETS
from mmzoo.modalities import modality_of
from mmzoo.preprocessing.preprocessor import Preprocessor
from mmzoo.towers import get_tower


def build_model(
    inputs,
    fusion="concat",
    fusion_options=None,
    head="multiclass",
    num_outputs=10,
    head_options=None,
    modality_dropout=0.0,
    name="mmzoo_model",
):
    """Builds a multimodal model.

    Args:
        inputs: dict from input name to tower spec, e.g.
            `{"image": {"tower": "conv", "input_shape": (32, 32, 3)}}`. The name is the
            model's input name; its modality is the spec's `"modality"` or the name's
            first `_`-separated word (`"image_left"` is an image). The other keys of
            the spec are options of that tower's builder. With a sequence fusion
            (`"cross_attention"`) `embedding_dim` defaults to None: nothing reads the
            pooled embedding, so the towers get no projection.
        fusion: name of the fusion layer (see `mmzoo.list_fusions()`).
        fusion_options: keyword arguments of the fusion layer.
        head: `"multiclass"`, `"binary"`, `"multilabel"` or `"regression"`.
        num_outputs: classes (or regression targets); 1 for a binary head.
        head_options: keyword arguments of `TaskHead`, e.g. `hidden_units`,
            `dropout`, `class_names`.
        modality_dropout: rate at which whole modalities are masked per example in
            training, so the model learns to predict from any subset of them.
        name: the model's name.

    Returns:
        A `MultimodalModel` taking a dict of the named inputs (plus an optional
        `"modality_mask"` of shape `(batch, len(inputs))` when there are several).
    """
    if not isinstance(inputs, dict) or not inputs:
        raise ValueError(
            "`inputs` must be a non-empty dict from input name to tower spec, e.g. "
            "{'image': {'tower': 'conv', 'input_shape': (32, 32, 3)}}. "
            f"Received: inputs={inputs!r}"
        )
    if MODALITY_MASK in inputs:
        raise ValueError(
            f"{MODALITY_MASK!r} is reserved for the modality mask input. "
            f"Received: inputs with keys {list(inputs)}"
        )
    fusion_layer = get_fusion(fusion)(**(fusion_options or {}), name="fusion")
    task_head = TaskHead(head, num_outputs=num_outputs, **(head_options or {}), name="head")

    model_inputs, tower_outputs = {}, []
    for input_name, spec in inputs.items():
        tower = _build_tower(input_name, spec, fusion_layer.uses_sequences)
        tower_input = tower.inputs[0]
        model_inputs[input_name] = keras.Input(
            shape=tower_input.shape[1:], dtype=tower_input.dtype, name=input_name
        )
        tower_outputs.append(tower(model_inputs[input_name]))

    embeddings = [out["embedding"] for out in tower_outputs]
    mask = None
    if len(inputs) > 1:
        mask = model_inputs[MODALITY_MASK] = keras.Input(shape=(len(inputs),), name=MODALITY_MASK)
        if modality_dropout:
            mask = ModalityDropout(modality_dropout, name="modality_dropout")(embeddings, mask=mask)
    elif modality_dropout:
        raise ValueError(
            "`modality_dropout` needs at least two modalities. "
            f"Received: modality_dropout={modality_dropout!r} with inputs {list(inputs)}"
        )

    if fusion_layer.uses_sequences:
        fused = fusion_layer(
            [out["sequence"] for out in tower_outputs],
            mask=mask,
            sequence_masks=[out.get("sequence_mask") for out in tower_outputs],
        )
    else:
        fused = fusion_layer(embeddings, mask=mask)
    preprocessor = default_preprocessor(
        {input_name: {**spec, "input_shape": model_inputs[input_name].shape[1:]}
         for input_name, spec in inputs.items()}
    )
    return MultimodalModel(
        inputs=model_inputs, outputs=task_head(fused), name=name, modalities=list(inputs),
        preprocessor=preprocessor,
    )


def default_preprocessor(inputs, tokenizer="vectorization", max_tokens=None):
    """The `mmzoo.Preprocessor` of `build_model`'s input specs (text not yet adapted).

    Args:
        inputs: dict from input name to tower spec, each with `"input_shape"`.
        tokenizer: the `TextTokenizer` kind of text inputs.
        max_tokens: vocabulary size of text inputs (default: each spec's
            `vocab_size`).

    Returns:
        A `Preprocessor`: images decoded to the spec's size, text tokenized to its
        length, audio at the spec's `sample_rate` (else the tower's default).

    Raises:
        ValueError: a spec with an unknown modality or tower, or no `input_shape`.

    >>> default_preprocessor({"audio": {"tower": "waveform_conv", "input_shape": (800,)}}
    ...                      ).layers["audio"].sample_rate
    8000
    """
    specs = {}
    for input_name, spec in inputs.items():
        spec = {**spec, "sample_rate": _sample_rate(input_name, spec)}
        if max_tokens and modality_of(input_name, spec) == "text":
            spec["vocab_size"] = max_tokens
        specs[input_name] = spec
    return Preprocessor.from_specs(specs, tokenizer=tokenizer)


def _sample_rate(input_name, spec):
    """An audio spec's sample rate: its option, else its tower builder's default."""
    if modality_of(input_name, spec) != "audio":
        return None
    if "sample_rate" in spec:
        return spec["sample_rate"]
    builder = get_tower("audio", spec["tower"])
    parameter = inspect.signature(builder).parameters.get("sample_rate")
    return None if parameter is None else parameter.default


def _build_tower(input_name, spec, uses_sequences=False):
    if not isinstance(spec, dict) or "tower" not in spec:
        raise ValueError(
            f"The spec of input {input_name!r} must be a dict with a 'tower' key, e.g. "
            f"{{'tower': 'conv', 'input_shape': (32, 32, 3)}}. Received: {input_name}={spec!r}"
        )
    options = dict(spec)
    family = options.pop("tower")
    modality = modality_of(input_name, options)
    options.pop("modality", None)
    builder = get_tower(modality, family)
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(options) - set(accepted) - {"name"})
    if unknown:
        valid = sorted(p for p in accepted if p != "name")
        raise ValueError(
            f"Unknown option(s) {unknown} for the {modality} tower {family!r} of input "
            f"{input_name!r}. Valid options: {', '.join(valid)}. Received: {input_name}={spec!r}"
        )
    if uses_sequences and "embedding_dim" in accepted:
        # A sequence fusion never reads the pooled embedding: no projection to train.
        options.setdefault("embedding_dim", None)
    return builder(name=input_name, **options)


def create_model(name, /, pretrained=None, **overrides):
    """Builds the preset `name`; keyword overrides are merged into its config.

    Nested dicts merge key by key, so `create_model("trimodal_gated",
    inputs={"text": {"vocab_size": 5000}})` changes only the text vocabulary. An input
    spec that names another `tower` replaces the preset's spec (keeping its
    `input_shape`), so `inputs={"text": {"tower": "cnn"}}` drops the LSTM's options.

    Args:
        name: the preset (see `list_models()`).
        pretrained: dict from input name to a keras-hub preset (name, handle or local
            folder) whose backbone and weights that input's tower takes
            (`mmzoo.presets.with_pretrained`). A preset that names pretrained towers
            (e.g. `"sentiment_trimodal"`) prints a note when some are not given: they
            start from random weights.
        **overrides: `build_model` arguments merged into the preset's.

    Raises:
        ValueError: an unknown preset, override or input.

    >>> import mmzoo
    >>> mmzoo.create_model("avmnist_late_fusion").name
    'avmnist_late_fusion'
    """
    from mmzoo.presets import pretrained_note, with_pretrained

    preset = PRESETS.get(name, argument="name")
    unknown = sorted(set(overrides) - set(inspect.signature(build_model).parameters))
    if unknown:
        raise ValueError(
            f"Unknown override(s) {unknown} for preset {name!r}. Valid overrides: "
            f"{', '.join(inspect.signature(build_model).parameters)}. Received: {overrides!r}"
        )
    config = copy.deepcopy(preset["config"])
    if pretrained:
        config = with_pretrained(name, config, pretrained)
    config = _merge({"name": name, **config}, overrides)
    note = pretrained_note(name, config["inputs"])
    if note:
        print(note)
    return build_model(**config)


def get_preset(name):
    """The preset `name`: a dict with its `"description"` and `build_model` `"config"`.

    >>> import mmzoo
    >>> sorted(mmzoo.get_preset("trimodal_gated"))
    ['config', 'description']
    """
    return copy.deepcopy(PRESETS.get(name, argument="name"))


def list_models(pattern=None):
    """Names of the presets, optionally filtered by a pattern such as `"avmnist_*"`."""
    return PRESETS.names(pattern)


def _merge(base, overrides):
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged_spec(merged[key], value, key), value)
        else:
            merged[key] = value
    return merged


def merged_spec(spec, override, name=None):
    """The base of merging `override` into input `name`'s spec `spec`: `spec` itself, or,
    when `override` names another tower, `spec` without the options the new tower does
    not take (`mmzoo.presets.switched_tower`).

    >>> merged_spec({"tower": "lstm", "units": 8, "input_shape": (4,)}, {"tower": "cnn"},
    ...             "text")
    {'input_shape': (4,), 'tower': 'cnn'}
    """
    from mmzoo.presets import switched_tower

    tower = override.get("tower") if isinstance(override, dict) else None
    if tower is None or "tower" not in spec or tower == spec["tower"]:
        return spec
    return switched_tower(spec, tower, name)
