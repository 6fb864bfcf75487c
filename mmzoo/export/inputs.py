"""Serving inputs: what each model input takes at the boundary and how it becomes a tensor.

`resolve_inputs(model, preprocessor)` pairs every model input (the mask aside) with
the layer of the model's `mmzoo.Preprocessor` that turns a raw serving tensor into the
model's tensor, and checks that the layer fits the input:

- image: `(batch,)` `tf.string` of encoded PNG/JPEG/GIF/BMP bytes ->
  `ImagePreprocessing(size=(H, W), channels=C)`;
- text: `(batch,)` `tf.string` of UTF-8 text -> `TextTokenizer` (adapted: the one the
  model was trained with) or a keras-hub preset's `PresetTokenizer`;
- audio: `(batch, samples)` float32 waveforms at the model's sample rate, any length
  -> `AudioPreprocessing(sample_rate, num_samples)`.

Nothing is inferred from the model's layers: the preprocessor says it all.

>>> import mmzoo
>>> from mmzoo.export.inputs import resolve_inputs
>>> model = mmzoo.build_model(
...     inputs={"image": {"tower": "conv", "input_shape": (16, 16, 1), "filters": (4,)},
...             "audio": {"tower": "log_mel_conv", "input_shape": (4000,), "filters": (4,)}},
...     num_outputs=3)
>>> [(i.name, i.kind, i.layer.__class__.__name__) for i in resolve_inputs(model)]
[('image', 'image', 'ImagePreprocessing'), ('audio', 'audio', 'AudioPreprocessing')]
>>> resolve_inputs(model)[1].sample_rate
8000
"""

import dataclasses

import keras
import tensorflow as tf

from mmzoo.modalities import modality_of
from mmzoo.model import MODALITY_MASK
from mmzoo.preprocessing.audio import AudioPreprocessing
from mmzoo.preprocessing.image import ImagePreprocessing
from mmzoo.preprocessing.preprocessor import Preprocessor
from mmzoo.preprocessing.preset_text import PresetTokenizer
from mmzoo.preprocessing.tensor_input import TensorInput
from mmzoo.preprocessing.text import TextTokenizer

_LAYER_KINDS = (
    (ImagePreprocessing, "image"),
    (TextTokenizer, "text"),
    (PresetTokenizer, "text"),
    (AudioPreprocessing, "audio"),
)


@dataclasses.dataclass
class ServingInput:
    """One model input as the serving function sees it.

    Attributes:
        name: the model's input name (and the serving signature's input name).
        kind: `"image"`, `"text"` or `"audio"`.
        layer: the preprocessing layer, raw serving tensor -> model tensor.
        raw_spec: `tf.TensorSpec` of the serving input.
        model_spec: `tf.TensorSpec` of the model input, batch axis `None`.
        sample_rate: audio only: the sample rate the waveforms must have.
        vocab_size: text only: number of token ids the text tower embeds (or None).
    """

    name: str
    kind: str
    layer: keras.layers.Layer
    raw_spec: tf.TensorSpec
    model_spec: tf.TensorSpec
    sample_rate: int = None
    vocab_size: int = None

    def describe(self):
        """A JSON-ready description (for the model card and the metadata function)."""
        info = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.raw_spec.dtype.name,
            "shape": _shape_list(self.raw_spec.shape),
            "model_dtype": self.model_spec.dtype.name,
            "model_shape": _shape_list(self.model_spec.shape),
            "preprocessing": {
                "layer": type(self.layer).__name__,
                "config": _summarized_config(self.layer),
            },
        }
        if self.kind == "image":
            info["format"] = "encoded image bytes: PNG, JPEG, GIF (first frame) or BMP"
        elif self.kind == "text":
            info["format"] = "UTF-8 text"
        else:
            info["format"] = f"mono float32 waveform at {self.sample_rate} Hz, any length"
            info["sample_rate"] = self.sample_rate
        return info


def model_input_names(model):
    """The model's input names, the mask aside: `model.modalities` order if it has one."""
    names = [tensor.name for tensor in model.inputs if tensor.name != MODALITY_MASK]
    ordered = [name for name in getattr(model, "modalities", ()) if name in names]
    return ordered + [name for name in names if name not in ordered]


def mask_columns(model):
    """The modality mask's columns (input names), or `[]` when the model takes no mask."""
    names = [tensor.name for tensor in model.inputs]
    if MODALITY_MASK not in names:
        return []
    return list(getattr(model, "modalities", model_input_names(model)))


def resolve_inputs(model, preprocessor=None):
    """The `ServingInput` of every model input (mask aside), in `model_input_names` order.

    Args:
        model: a `keras.Model` with named inputs (e.g. from `mmzoo.build_model`).
        preprocessor: an `mmzoo.Preprocessor`, or a dict from input name to a
            preprocessing layer (`ImagePreprocessing`, `TextTokenizer`,
            `AudioPreprocessing`) replacing those of `model.preprocessor`. Default:
            `model.preprocessor`. Text inputs need an adapted tokenizer.

    Returns:
        list of `ServingInput`.

    Raises:
        ValueError: a layer that does not fit its input (shape, vocabulary size),
            an unadapted tokenizer, or an input no preprocessor covers.
    """
    layers = _layers(model, preprocessor)
    names = model_input_names(model)
    unknown = sorted(set(layers) - set(names))
    if unknown:
        raise ValueError(
            f"`preprocessor` names input(s) {unknown} that the model does not have; its "
            f"inputs are {names}. Received: preprocessor with keys {sorted(layers)}"
        )
    tensors = {tensor.name: tensor for tensor in model.inputs}
    return [_resolve(model, name, tensors[name], layers.get(name)) for name in names]


def _layers(model, preprocessor):
    """Dict from input name to preprocessing layer: the model's, updated by the argument."""
    layers = {}
    if getattr(model, "preprocessor", None) is not None:
        layers.update(model.preprocessor.layers)
    if isinstance(preprocessor, Preprocessor):
        return preprocessor.layers
    if preprocessor is not None and not isinstance(preprocessor, dict):
        raise ValueError(
            "`preprocessor` must be an mmzoo.Preprocessor or a dict of preprocessing layers "
            f"by input name. Received: preprocessor of type {type(preprocessor).__name__}"
        )
    layers.update(preprocessor or {})
    return layers


def _resolve(model, name, tensor, layer):
    shape = tuple(tensor.shape[1:])
    model_spec = tf.TensorSpec((None, *shape), tf.as_dtype(tensor.dtype), name=name)
    kind = _kind_of(name, layer)
    if isinstance(layer, TensorInput):
        layer = None  # no raw form: the checks below say what a raw input needs
    if kind == "text":
        return _text_input(model, name, shape, layer, model_spec)
    if kind == "image":
        return _image_input(name, shape, layer, model_spec)
    return _audio_input(name, shape, layer, model_spec)


def _kind_of(name, layer):
    if isinstance(layer, TensorInput):
        return layer.modality
    if layer is None:
        return modality_of(name)
    for cls, kind in _LAYER_KINDS:
        if isinstance(layer, cls):
            return kind
    raise ValueError(
        f"The preprocessor of input {name!r} must be an ImagePreprocessing, "
        f"TextTokenizer or AudioPreprocessing layer. "
        f"Received: preprocessor[{name!r}]={layer!r}"
    )


def _text_input(model, name, shape, layer, model_spec):
    try:
        ready = layer is not None and layer._check_ready() is None
    except ValueError:
        ready = False
    if not ready:
        raise ValueError(
            f"Text input {name!r} needs its tokenizer, adapted on the training texts: "
            f"call model.preprocessor.adapt(...) or pass preprocessor={{{name!r}: "
            "tokenizer}} with the TextTokenizer the model was trained with (its vocabulary "
            f"travels inside the export). Received: preprocessor[{name!r}]="
            + ("None" if layer is None else "an unadapted TextTokenizer")
        )
    if len(shape) != 1 or layer.sequence_length != shape[0]:
        raise ValueError(
            f"The tokenizer of input {name!r} makes sequences of {layer.sequence_length} "
            f"ids but the model takes shape {shape}. "
            f"Received: preprocessor[{name!r}] with sequence_length={layer.sequence_length}"
        )
    # A preset's tokenizer is the backbone's own: no embedding size to check it by.
    vocab_size = _embedding_input_dim(model, name) if isinstance(layer, TextTokenizer) else None
    if vocab_size is not None and layer.vocabulary_size > vocab_size:
        raise ValueError(
            f"The tokenizer of input {name!r} has {layer.vocabulary_size} ids but the text "
            f"tower embeds only {vocab_size}: it is not the tokenizer the model was trained "
            f"with. Received: preprocessor[{name!r}] with vocabulary_size="
            f"{layer.vocabulary_size}"
        )
    raw = tf.TensorSpec((None,), tf.string, name=name)
    return ServingInput(name, "text", layer, raw, model_spec, vocab_size=vocab_size)


def _image_input(name, shape, layer, model_spec):
    if len(shape) != 3 or shape[-1] not in (1, 3) or model_spec.dtype != tf.float32:
        raise ValueError(
            f"Image input {name!r} must be float32 of shape (height, width, 1 or 3) to "
            f"take encoded images. Received: shape={shape}, dtype={model_spec.dtype.name}"
        )
    if layer is None:
        layer = ImagePreprocessing(size=shape[:2], channels=shape[2], name=f"{name}_preprocessing")
    elif (*layer.size, layer.channels) != shape:
        raise ValueError(
            f"The preprocessor of input {name!r} makes images of shape "
            f"{(*layer.size, layer.channels)} but the model takes {shape}. "
            f"Received: preprocessor[{name!r}]={layer.get_config()}"
        )
    raw = tf.TensorSpec((None,), tf.string, name=name)
    return ServingInput(name, "image", layer, raw, model_spec)


def _audio_input(name, shape, layer, model_spec):
    if len(shape) != 1 or model_spec.dtype != tf.float32:
        raise ValueError(
            f"Audio input {name!r} must be float32 waveforms of shape (samples,) to take "
            f"raw waveforms. Received: shape={shape}, dtype={model_spec.dtype.name}"
        )
    if layer is None:
        raise ValueError(
            f"The sample rate of audio input {name!r} is unknown (the model has no "
            "preprocessor): pass preprocessor={"
            f"{name!r}: AudioPreprocessing(sample_rate=..., num_samples={shape[0]})}}. "
            f"Received: preprocessor[{name!r}]=None"
        )
    if layer.num_samples != shape[0]:
        raise ValueError(
            f"The preprocessor of input {name!r} makes {layer.num_samples} samples but the "
            f"model takes {shape[0]}. Received: preprocessor[{name!r}]={layer.get_config()}"
        )
    raw = tf.TensorSpec((None, None), tf.float32, name=name)
    return ServingInput(name, "audio", layer, raw, model_spec, sample_rate=layer.sample_rate)


def _embedding_input_dim(model, name):
    """The text tower's embedding size (a check of the tokenizer, not an inference)."""
    try:
        tower = model.get_layer(f"{name}_tower")
    except ValueError:
        return None
    pending = [tower]
    while pending:
        layer = pending.pop(0)
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
        pending.extend(getattr(layer, "layers", None) or ())
    return None


def _shape_list(shape):
    return [None if d is None else int(d) for d in shape]


def _summarized_config(layer):
    """The layer's config with vocabularies and tokenizer models summarized.

    The full vocabulary travels inside the SavedModel (and `preprocessor.json`); the
    card keeps its size and SHA-256 so it stays readable.
    """
    import hashlib

    config = dict(layer.get_config())
    for key in ("dtype", "trainable"):
        config.pop(key, None)
    vocabulary = config.pop("vocabulary", None)
    if vocabulary is not None:
        joined = "\n".join(vocabulary).encode("utf-8")
        config["vocabulary_size"] = len(vocabulary)
        config["vocabulary_sha256"] = hashlib.sha256(joined).hexdigest()
    model = config.pop("sentencepiece_model", None)
    if model is not None:
        config["sentencepiece_model_sha256"] = hashlib.sha256(model.encode("ascii")).hexdigest()
        config["vocabulary_size"] = layer.vocabulary_size
    assets = config.pop("assets", None)
    if assets is not None:  # a keras-hub preset's tokenizer: its files, summarized
        config.pop("preprocessor", None)
        config["tokenizer"] = type(layer.tokenizer).__name__
        config["sequence_length"] = layer.sequence_length
        config["vocabulary_size"] = layer.vocabulary_size
        config["assets_sha256"] = {
            name: hashlib.sha256(data.encode("ascii")).hexdigest() for name, data in assets.items()}
    for key, value in list(config.items()):
        if isinstance(value, tuple):
            config[key] = list(value)
    return config
