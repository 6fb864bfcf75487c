"""Serving inputs: what each model input takes at the boundary and how it becomes a tensor.

`resolve_inputs(model, preprocessors)` pairs every model input (the mask aside) with
the Keras layer that turns a raw serving tensor into the model's tensor:

- image: `(batch,)` `tf.string` of encoded PNG/JPEG/GIF/BMP bytes; default layer
  `ImagePreprocessing(size=(H, W), channels=C)` from the model's input shape;
- text: `(batch,)` `tf.string` of UTF-8 text; `TextTokenizer` (required: the one the
  model was trained with, so there is no default);
- audio: `(batch, samples)` float32 waveforms at the model's sample rate, any length;
  default layer `AudioPreprocessing(sample_rate, num_samples)`.

The audio sample rate is read from the `LogMelSpectrogram` layer of the input's tower
when it has one, else from `sample_rate=` (an int, or a dict keyed by input name).

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

from mmzoo.checks import is_int
from mmzoo.model import MODALITY_MASK
from mmzoo.preprocessing.audio import AudioPreprocessing
from mmzoo.preprocessing.image import ImagePreprocessing
from mmzoo.preprocessing.log_mel import LogMelSpectrogram
from mmzoo.preprocessing.text import TextTokenizer

KINDS = ("image", "text", "audio")
_LAYER_KINDS = (
    (ImagePreprocessing, "image"),
    (TextTokenizer, "text"),
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


def resolve_inputs(model, preprocessors=None, sample_rate=None):
    """The `ServingInput` of every model input (mask aside), in `model_input_names` order.

    Args:
        model: a `keras.Model` with named inputs (e.g. from `mmzoo.build_model`).
        preprocessors: dict from input name to a preprocessing layer
            (`ImagePreprocessing`, `TextTokenizer`, `AudioPreprocessing`); inputs
            left out get the default of their kind. Text inputs need one.
        sample_rate: audio sample rate in Hz for audio inputs whose tower has no
            `LogMelSpectrogram`: an int, or a dict from input name to int.

    Returns:
        list of `ServingInput`.
    """
    preprocessors = dict(preprocessors or {})
    names = model_input_names(model)
    unknown = sorted(set(preprocessors) - set(names))
    if unknown:
        raise ValueError(
            f"`preprocessors` names input(s) {unknown} that the model does not have; its "
            f"inputs are {names}. Received: preprocessors with keys {sorted(preprocessors)}"
        )
    tensors = {tensor.name: tensor for tensor in model.inputs}
    return [
        _resolve(model, name, tensors[name], preprocessors.get(name), sample_rate)
        for name in names
    ]


def _resolve(model, name, tensor, layer, sample_rate):
    shape = tuple(tensor.shape[1:])
    model_spec = tf.TensorSpec((None, *shape), tf.as_dtype(tensor.dtype), name=name)
    kind = _kind_of(name, shape, tensor.dtype, layer)
    if kind == "text":
        return _text_input(model, name, shape, layer, model_spec)
    if kind == "image":
        return _image_input(name, shape, layer, model_spec)
    return _audio_input(model, name, shape, layer, model_spec, sample_rate)


def _kind_of(name, shape, dtype, layer):
    if layer is not None:
        for cls, kind in _LAYER_KINDS:
            if isinstance(layer, cls):
                return kind
        raise ValueError(
            f"The preprocessor of input {name!r} must be an ImagePreprocessing, "
            f"TextTokenizer or AudioPreprocessing layer. "
            f"Received: preprocessors[{name!r}]={layer!r}"
        )
    word = name.split("_")[0]
    if word in KINDS:
        return word
    if "int" in str(dtype) and len(shape) == 1:
        return "text"
    if len(shape) == 3:
        return "image"
    if len(shape) == 1:
        return "audio"
    raise ValueError(
        f"Cannot tell what raw input {name!r} (shape {shape}, {dtype}) takes: name it after "
        "its modality (image, text, audio) or give its preprocessing layer. "
        f"Received: preprocessors[{name!r}]=None"
    )


def _text_input(model, name, shape, layer, model_spec):
    if layer is None:
        raise ValueError(
            f"Text input {name!r} needs its tokenizer: pass preprocessors={{{name!r}: "
            "tokenizer}} with the TextTokenizer the model was trained with (its vocabulary "
            f"travels inside the export). Received: preprocessors[{name!r}]=None"
        )
    if not isinstance(layer, TextTokenizer):
        raise ValueError(
            f"Input {name!r} takes token ids: its preprocessor must be a TextTokenizer. "
            f"Received: preprocessors[{name!r}]={type(layer).__name__}"
        )
    if len(shape) != 1 or layer.sequence_length != shape[0]:
        raise ValueError(
            f"The tokenizer of input {name!r} makes sequences of {layer.sequence_length} "
            f"ids but the model takes shape {shape}. "
            f"Received: preprocessors[{name!r}] with sequence_length={layer.sequence_length}"
        )
    layer._check_ready()
    vocab_size = _embedding_input_dim(model, name)
    if vocab_size is not None and layer.vocabulary_size > vocab_size:
        raise ValueError(
            f"The tokenizer of input {name!r} has {layer.vocabulary_size} ids but the text "
            f"tower embeds only {vocab_size}: it is not the tokenizer the model was trained "
            f"with. Received: preprocessors[{name!r}] with vocabulary_size="
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
            f"Received: preprocessors[{name!r}]={layer.get_config()}"
        )
    raw = tf.TensorSpec((None,), tf.string, name=name)
    return ServingInput(name, "image", layer, raw, model_spec)


def _audio_input(model, name, shape, layer, model_spec, sample_rate):
    if len(shape) != 1 or model_spec.dtype != tf.float32:
        raise ValueError(
            f"Audio input {name!r} must be float32 waveforms of shape (samples,) to take "
            f"raw waveforms. Received: shape={shape}, dtype={model_spec.dtype.name}"
        )
    if isinstance(sample_rate, dict):
        sample_rate = sample_rate.get(name)
    if sample_rate is not None and not (is_int(sample_rate) and sample_rate > 0):
        raise ValueError(
            f"`sample_rate` must be a positive int (or a dict of them by input name). "
            f"Received: sample_rate={sample_rate!r} for input {name!r}"
        )
    tower_rate = _log_mel_sample_rate(model, name)
    rates = {
        "the tower's LogMelSpectrogram": tower_rate,
        "`sample_rate`": sample_rate,
        "the preprocessor": getattr(layer, "sample_rate", None),
    }
    known = {source: rate for source, rate in rates.items() if rate is not None}
    if len(set(known.values())) > 1:
        raise ValueError(
            f"Conflicting sample rates for audio input {name!r}: "
            + ", ".join(f"{source} says {rate}" for source, rate in known.items())
            + f". Received: sample_rate={sample_rate!r}"
        )
    if not known:
        raise ValueError(
            f"The sample rate of audio input {name!r} is unknown (its tower has no "
            "LogMelSpectrogram): pass sample_rate=<Hz> or preprocessors={"
            f"{name!r}: AudioPreprocessing(sample_rate=..., num_samples={shape[0]})}}. "
            "Received: sample_rate=None"
        )
    rate = int(next(iter(known.values())))
    if layer is None:
        layer = AudioPreprocessing(rate, shape[0], name=f"{name}_preprocessing")
    elif layer.num_samples != shape[0]:
        raise ValueError(
            f"The preprocessor of input {name!r} makes {layer.num_samples} samples but the "
            f"model takes {shape[0]}. Received: preprocessors[{name!r}]={layer.get_config()}"
        )
    raw = tf.TensorSpec((None, None), tf.float32, name=name)
    return ServingInput(name, "audio", layer, raw, model_spec, sample_rate=rate)


def _tower(model, name):
    try:
        return model.get_layer(f"{name}_tower")
    except ValueError:
        return None


def _sublayers(layer):
    """`layer` and every layer nested in it (functional sub-models included)."""
    found = [layer]
    for child in getattr(layer, "layers", None) or ():
        found.extend(_sublayers(child))
    return found


def _log_mel_sample_rate(model, name):
    tower = _tower(model, name)
    rates = {
        layer.sample_rate
        for layer in (_sublayers(tower) if tower is not None else ())
        if isinstance(layer, LogMelSpectrogram)
    }
    return rates.pop() if len(rates) == 1 else None


def _embedding_input_dim(model, name):
    tower = _tower(model, name)
    for layer in _sublayers(tower) if tower is not None else ():
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
    return None


def _shape_list(shape):
    return [None if d is None else int(d) for d in shape]


def _summarized_config(layer):
    """The layer's config with vocabularies and tokenizer models summarized.

    The full vocabulary travels inside the SavedModel (and `preprocessing.json`); the
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
    for key, value in list(config.items()):
        if isinstance(value, tuple):
            config[key] = list(value)
    return config
