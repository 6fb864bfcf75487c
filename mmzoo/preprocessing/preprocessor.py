"""`Preprocessor`: one object per model turning raw examples into the model's tensors.

The idea of keras-hub's `Preprocessor`, for several inputs: for each model input, the
Keras layer from a raw value to the model's tensor.

| modality | raw value | layer | model tensor |
|---|---|---|---|
| image | encoded PNG/JPEG/GIF/BMP bytes, `(batch,)` string | `ImagePreprocessing` | `(batch, H, W, C)` float32 in [0, 1] |
| text | UTF-8 strings, `(batch,)` | `TextTokenizer` (`PresetTokenizer` for keras-hub towers) | `(batch, length)` int32 ids |
| audio | waveforms at the model's rate, `(batch, samples)` | `AudioPreprocessing` | `(batch, num_samples)` float32 |

The same object is what the tf.data pipelines map (`mmzoo.training.inputs`), what the
exported SavedModel's raw-input signatures call (`mmzoo.export`) and what `mmzoo
predict` / `evaluate` load. It is saved with every run and export as
`preprocessor.json` (`mmzoo.artifacts`), and travels inside `.keras` files with the
`MultimodalModel` (`model.preprocessor`).

Values that are already model tensors pass through: decoded float images, token ids.
So one mapping serves datasets of files and datasets of arrays alike.

>>> import numpy as np
>>> from mmzoo.preprocessing.preprocessor import Preprocessor
>>> preprocessor = Preprocessor.from_specs({
...     "image": {"input_shape": (8, 8, 1)},
...     "text": {"input_shape": (4,)},
...     "audio": {"input_shape": (800,), "sample_rate": 8000}})
>>> preprocessor.adapt({"text": ["a red square", "a blue circle"]})
>>> batch = preprocessor({"image": np.zeros((2, 8, 8, 1), "float32"),
...                       "text": ["a red circle", "blue"],
...                       "audio": np.zeros((2, 500), "float32")})
>>> {name: tuple(value.shape) for name, value in batch.items()}
{'image': (2, 8, 8, 1), 'text': (2, 4), 'audio': (2, 800)}
>>> batch["text"].numpy().tolist()
[[2, 4, 5, 0], [6, 0, 0, 0]]
"""

import keras
import numpy as np
import tensorflow as tf

from mmzoo.modalities import MODALITIES, modality_of
from mmzoo.preprocessing.audio import AudioPreprocessing
from mmzoo.preprocessing.image import ImagePreprocessing
from mmzoo.preprocessing.preset_text import PresetTokenizer
from mmzoo.preprocessing.tensor_input import TensorInput
from mmzoo.preprocessing.text import TextTokenizer

MODALITY_MASK = "modality_mask"
#: The preprocessing layers of each modality (a keras-hub preset's tokenizer is text too).
_LAYERS = {
    "image": (ImagePreprocessing,),
    "text": (TextTokenizer, PresetTokenizer),
    "audio": (AudioPreprocessing,),
}
_ALL_LAYERS = tuple(cls for classes in _LAYERS.values() for cls in classes)
DEFAULT_SAMPLE_RATE = 8000


@keras.saving.register_keras_serializable(package="mmzoo")
class Preprocessor(keras.layers.Layer):
    """Raw example dict -> model tensors, one preprocessing layer per model input.

    Args:
        layers: dict from model input name to its layer: `ImagePreprocessing`,
            `TextTokenizer`, `PresetTokenizer` (a keras-hub preset's) or
            `AudioPreprocessing` (the layer's class gives the input's modality). Its order is the inputs' order.
        modalities: the model's modality inputs in `modality_mask` column order
            (default: the order of `layers`).

    Input: a dict keyed by input name (batched raw values, see the module's table);
    other keys (`"modality_mask"`, `"label"`) pass through unchanged.

    Output: the same dict with every input a model tensor.

    Raises:
        ValueError: `layers` is empty, or holds something other than the three
            preprocessing layers.

    Example:

    >>> from mmzoo.preprocessing.image import ImagePreprocessing
    >>> preprocessor = Preprocessor({"image": ImagePreprocessing(size=(4, 4), channels=1)})
    >>> preprocessor.modality("image"), preprocessor.input_names
    ('image', ['image'])
    """

    def __init__(self, layers, modalities=None, **kwargs):
        kwargs.setdefault("name", "preprocessor")  # one per model: no numbered names
        super().__init__(**kwargs)
        if not isinstance(layers, dict) or not layers:
            raise ValueError(
                "`layers` must be a non-empty dict from input name to a preprocessing "
                f"layer. Received: layers={layers!r}"
            )
        self._preprocessing = {}
        for name, layer in layers.items():
            if isinstance(layer, dict):
                layer = keras.saving.deserialize_keras_object(layer)
            if not isinstance(layer, (*_ALL_LAYERS, TensorInput)):
                raise ValueError(
                    f"The preprocessing layer of input {name!r} must be an "
                    "ImagePreprocessing, TextTokenizer, PresetTokenizer, AudioPreprocessing "
                    "or TensorInput. "
                    f"Received: layers[{name!r}]={layer!r}"
                )
            self._preprocessing[name] = layer
        self.modalities = list(modalities or self._preprocessing)
        unknown = sorted(set(self.modalities) - set(self._preprocessing))
        if unknown:
            raise ValueError(
                f"`modalities` must name inputs of `layers` ({list(self._preprocessing)}). "
                f"Received: modalities={self.modalities!r}"
            )
        # Raw strings and numpy arrays of bytes are converted in `call`.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.supports_jit = False

    # Construction ---------------------------------------------------------------------

    @classmethod
    def from_specs(cls, specs, modalities=None, tokenizer="vectorization"):
        """The default preprocessor of `mmzoo.build_model`'s input specs.

        Args:
            specs: dict from input name to a tower spec with `"input_shape"` (the
                modality is `mmzoo.modalities.modality_of(name, spec)`). Audio specs
                give their `"sample_rate"` (default 8000 Hz, the audio towers'); text
                specs their `"vocab_size"` (the tokenizer's `max_tokens`), or the
                keras-hub `"preset"` whose tokenizer they use.
            modalities: mask column order (default: the order of `specs`).
            tokenizer: `TextTokenizer` kind of the text inputs; they still need
                `adapt()` (or a vocabulary) before use.

        Returns:
            A `Preprocessor`.

        Raises:
            ValueError: a spec without `"input_shape"`, or an unknown modality.
        """
        layers = {}
        for name, spec in specs.items():
            modality = modality_of(name, spec)
            if "input_shape" not in spec:
                raise ValueError(
                    f"The spec of input {name!r} needs an 'input_shape'. Received: {spec!r}"
                )
            shape = tuple(int(d) for d in spec["input_shape"])
            layers[name] = default_layer(
                name, modality, shape, sample_rate=spec.get("sample_rate"),
                max_tokens=spec.get("vocab_size"), tokenizer=tokenizer,
                preset=spec.get("preset"),
            )
        return cls(layers, modalities=modalities)

    # Properties -----------------------------------------------------------------------

    @property
    def layers(self):
        """Dict from input name to its preprocessing layer (a copy)."""
        return dict(self._preprocessing)

    @property
    def input_names(self):
        """The model input names, in order."""
        return list(self._preprocessing)

    def modality(self, name):
        """The modality (`"image"`, `"text"`, `"audio"`) of input `name`."""
        layer = self._preprocessing[name]
        if isinstance(layer, TensorInput):
            return layer.modality
        return next(kind for kind, classes in _LAYERS.items() if isinstance(layer, classes))

    def names_of(self, modality):
        """The input names of one modality, in order."""
        return [name for name in self._preprocessing if self.modality(name) == modality]

    @property
    def tokenizers(self):
        """Dict from text input name to its `TextTokenizer` or `PresetTokenizer`."""
        return {name: self._preprocessing[name] for name in self.names_of("text")}

    # Adapting and calling ---------------------------------------------------------------

    def adapt(self, data, batch_size=256):
        """Learns the text tokenizers' vocabularies from training examples.

        Args:
            data: a `tf.data.Dataset` of example dicts (unbatched or batched; a
                `(features, label)` pair works too) or a dict from text input name
                to a list/array of strings. Use the training split only.
            batch_size: batch size used to read an unbatched dataset.

        Raises:
            ValueError: `data` lacks a text input.
        """
        for name, tokenizer in self.tokenizers.items():
            tokenizer.adapt(_texts(data, name, batch_size))

    def build(self, input_shape=None):
        self.built = True  # the per-input layers build themselves on first call

    def __call__(self, inputs, **kwargs):
        if not isinstance(inputs, dict):
            raise ValueError(
                "A Preprocessor takes a dict keyed by input name. "
                f"Received: inputs of type {type(inputs).__name__}"
            )
        # Lists and numpy arrays become tensors (Keras refuses a mix of both).
        inputs = {name: _as_tensor(value) for name, value in inputs.items()}
        return super().__call__(inputs, **kwargs)

    def call(self, inputs):
        outputs = dict(inputs)
        for name, layer in self._preprocessing.items():
            if name in inputs:
                outputs[name] = self._one(name, layer, inputs[name])
        return outputs

    def _one(self, name, layer, value):
        modality = self.modality(name)
        if isinstance(layer, TensorInput):
            return value
        if modality in ("image", "text") and value.dtype != tf.string:
            return value  # already decoded images / token ids
        return layer(value)

    # Serving inputs -------------------------------------------------------------------

    def raw_spec(self, name):
        """The `tf.TensorSpec` of input `name`'s raw serving value (batch axis None)."""
        if self.modality(name) == "audio":
            return tf.TensorSpec((None, None), tf.float32, name=name)
        return tf.TensorSpec((None,), tf.string, name=name)

    def model_shape(self, name):
        """The shape of input `name`'s model tensor without the batch axis."""
        layer = self._preprocessing[name]
        modality = self.modality(name)
        if isinstance(layer, TensorInput):
            return layer.shape
        if modality == "image":
            return (*layer.size, layer.channels)
        if modality == "text":
            return (layer.sequence_length,)
        return (layer.num_samples,)

    # Serialization --------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update({
            "layers": {name: _serialized(layer) for name, layer in self._preprocessing.items()},
            "modalities": list(self.modalities),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layers"] = {
            name: keras.saving.deserialize_keras_object(layer)
            for name, layer in config["layers"].items()
        }
        return cls(**config)


def _as_tensor(value):
    if tf.is_tensor(value) or isinstance(value, keras.KerasTensor):
        return value
    value = np.asarray(value)
    return tf.constant(value.astype(object) if value.dtype.kind in "OSU" else value)


def _serialized(layer):
    """The layer's Keras serialization without its build state (it builds on call), so
    the config of a used preprocessor equals that of a fresh one."""
    serialized = keras.saving.serialize_keras_object(layer)
    serialized.pop("build_config", None)
    return serialized


def default_layer(name, modality, shape, sample_rate=None, max_tokens=None,
                  tokenizer="vectorization", preset=None):
    """The default preprocessing layer of one input from its model shape.

    Args:
        name: the input name (the layer is named `<name>_preprocessing`).
        modality: `"image"`, `"text"` or `"audio"`.
        shape: the model tensor's shape without the batch axis: `(H, W, C)`,
            `(length,)` or `(num_samples,)`.
        sample_rate: audio only, in Hz (default 8000).
        max_tokens: text only: the tokenizer's vocabulary size limit.
        tokenizer: text only: the `TextTokenizer` kind.
        preset: text only: a keras-hub preset whose tokenizer to use instead
            (a `PresetTokenizer`; `max_tokens` and `tokenizer` are then unused).

    Returns:
        An `ImagePreprocessing`, unadapted `TextTokenizer`, `PresetTokenizer` or
        `AudioPreprocessing`;
        a `TensorInput` when the shape is no raw value's (e.g. a spectrogram given
        to an audio tower).

    Raises:
        ValueError: an unknown modality.
    """
    if modality not in MODALITIES:
        raise ValueError(f"Unknown modality {modality!r}. Received: modality={modality!r}")
    expected = {"image": 3, "text": 1, "audio": 1}[modality]
    if len(shape) != expected or (modality == "image" and shape[-1] not in (1, 3)):
        # Precomputed features (e.g. spectrograms): no raw form, passed through.
        return TensorInput(modality, shape, name=f"{name}_tensor")
    if modality == "image":
        return ImagePreprocessing(size=shape[:2], channels=shape[2],
                                  name=f"{name}_preprocessing")
    if modality == "text" and preset is not None:
        return PresetTokenizer.from_preset(preset, shape[0], name=f"{name}_tokenizer")
    if modality == "text":
        return TextTokenizer(kind=tokenizer, sequence_length=shape[0],
                             max_tokens=max_tokens, name=f"{name}_tokenizer")
    return AudioPreprocessing(int(sample_rate or DEFAULT_SAMPLE_RATE), shape[0],
                              name=f"{name}_preprocessing")


def _texts(data, name, batch_size):
    if isinstance(data, dict):
        if name not in data:
            raise ValueError(
                f"adapt() needs the texts of input {name!r}. Received: data with keys "
                f"{sorted(data)}"
            )
        return list(np.asarray(data[name], dtype=object).reshape(-1))
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        features = spec[0] if isinstance(spec, tuple) else spec
        if not isinstance(features, dict) or name not in features:
            raise ValueError(
                f"adapt() needs the texts of input {name!r}. Received: a dataset of "
                f"{spec!r}"
            )
        if isinstance(spec, tuple):
            data = data.map(lambda features, *_: features)
        texts = data.map(lambda features: features[name])
        if texts.element_spec.shape.rank == 0:
            texts = texts.batch(batch_size)
        return texts
    raise ValueError(
        "adapt() takes a tf.data.Dataset of example dicts or a dict of string lists. "
        f"Received: data of type {type(data).__name__}"
    )


def read_example(preprocessor, files=None, texts=None):
    """One model-ready example (batch of 1) from files and texts, plus its mask.

    Args:
        preprocessor: the model's `Preprocessor`.
        files: dict from image/audio input name to a file path (PNG/JPEG/BMP/GIF
            images; WAV audio, resampled to the model's rate and centred as in
            evaluation).
        texts: dict from text input name to a string.

    Returns:
        A dict of numpy arrays keyed by input name, with a `"modality_mask"` (when
        the model has several modalities) marking the inputs given; a missing input
        is zeros and masked out.

    Raises:
        ValueError: an unknown input, a file for a text input (or the reverse), or
            no input at all.
    """
    from mmzoo.preprocessing.audio import preprocess_audio

    files, texts = dict(files or {}), dict(texts or {})
    names = preprocessor.input_names
    unknown = sorted(set(files) - set(names)) + sorted(set(texts) - set(names))
    if unknown:
        raise ValueError(
            f"The model has no input(s) {unknown}; its inputs are {sorted(names)}. "
            f"Received: {unknown}"
        )
    for name in texts:
        if preprocessor.modality(name) != "text":
            raise ValueError(
                f"Input {name!r} is a {preprocessor.modality(name)} input: give a file, not "
                f"a text. Received: {name}={texts[name]!r}"
            )
    for name in files:
        if preprocessor.modality(name) == "text":
            raise ValueError(
                f"Input {name!r} is a text input: give a string, not a file. "
                f"Received: {name}={files[name]!r}"
            )
    if not files and not texts:
        raise ValueError(f"Give at least one input among {sorted(names)}. Received: no inputs")
    example, present = {}, {}
    for name, layer in preprocessor.layers.items():
        modality = preprocessor.modality(name)
        present[name] = name in (texts if modality == "text" else files)
        if present[name] and modality == "text":
            value = layer(tf.constant([texts[name]])).numpy()
        elif present[name] and modality == "image":
            value = layer(tf.reshape(tf.io.read_file(str(files[name])), [1])).numpy()
        elif present[name]:
            data = tf.io.read_file(str(files[name]))
            value = preprocess_audio(data, sample_rate=layer.sample_rate,
                                     num_samples=layer.num_samples).numpy()[None]
        else:
            shape = preprocessor.model_shape(name)
            value = np.zeros((1, *shape), "int32" if modality == "text" else "float32")
        example[name] = value
    if len(preprocessor.modalities) > 1:
        example[MODALITY_MASK] = np.array(
            [[1.0 if present[name] else 0.0 for name in preprocessor.modalities]], "float32"
        )
    return example
