"""Pretrained towers over keras-hub backbones: `text/pretrained`, `image/pretrained`,
`audio/pretrained`.

Each takes a keras-hub `preset` (a built-in name such as `"bert_base_en_uncased"`, a
`kaggle://` or `hf://` handle, or a local folder written by `save_to_preset`; see
`mmzoo.hub`) and wraps the preset's backbone, with its weights, in a tower of the
usual contract (`embedding` `(batch, dim)`, `sequence` `(batch, steps, dim)`):

| tower | backbones | model input | inside the tower |
|---|---|---|---|
| `text/pretrained` | BERT, DistilBERT, RoBERTa, DeBERTa-v3, XLM-RoBERTa, ... | `(length,)` token ids of the preset's tokenizer (`PresetTokenizer` in the `Preprocessor`) | padding mask from the padding id, segment ids 0; masked mean (or first-token) pooling |
| `image/pretrained` | ResNet, EfficientNet, ViT, ..., the vision encoder of CLIP / SigLIP | `(H, W, C)` images in [0, 1], any size | gray to RGB, resize to the converter's size, its scale and mean/std, global average pooling |
| `audio/pretrained` | Moonshine's encoder | `(samples,)` waveforms at the preset's rate (16 kHz) | the encoder's convolutions and transformer, mean pooling |

The image converter's arithmetic sits in the tower (a `keras.layers.Rescaling`), not
in the `Preprocessor`: the model tensor stays an image in [0, 1], the contract of
every image tower, so decoded arrays given to the model are never normalized twice
or not at all. Its size is applied in the tower too, so any dataset image size works.

Fine-tuning: `trainable` is `True` (all weights train), `False` (the backbone is
frozen and always runs in inference mode, `InferenceMode`: no dropout, BatchNorm's
moving statistics)
or `{"last_n": K}` (only the last K layers with weights of the backbone's layer list
train, in keras-hub's graph order: a transformer layer counts as one; in a ResNet
each convolution and each BatchNorm counts, and a block's BatchNorms can come after
its convolutions; frozen BatchNorm layers run in inference mode, as Keras 3 does for
frozen layers).
The projection (`embedding_dim`) always trains.

Source: keras-hub (Backbone, TextClassifierPreprocessor, ImageConverter,
AudioConverter); the fine-tuning practice of Howard & Ruder (2018) and of keras.io's
"Transfer learning & fine-tuning" guide.
"""

import keras
from keras import ops

from mmzoo.checks import check_choice, check_positive_int, check_shape
from mmzoo.layers.masking import ApplySequenceMask, PaddingMask
from mmzoo.layers.pooling import MaskedPooling1D
from mmzoo.towers import TOWERS
from mmzoo.towers.common import check_embedding_dim, project, tower_model

TEXT_POOLING = ("mean", "first")


def set_trainable(backbone, trainable, name="trainable"):
    """Freezes all, none or all but the last K weighted layers of `backbone`.

    Args:
        backbone: a `keras.Model` (a keras-hub backbone).
        trainable: `True`, `False` or `{"last_n": K}` with `K >= 1`.
        name: the argument's name in error messages.

    Returns:
        The number of the backbone's layers with weights left trainable.

    Raises:
        ValueError: `trainable` is none of those, or K exceeds the weighted layers.

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3),
    ...                           keras.layers.Dense(1)])
    >>> set_trainable(model, {"last_n": 1}), [layer.trainable for layer in model.layers]
    (1, [False, True])
    """
    layers = [layer for layer in _sublayers(backbone) if layer.weights]
    if isinstance(trainable, bool):
        backbone.trainable = trainable
        return len(layers) if trainable else 0
    if not (isinstance(trainable, dict) and set(trainable) == {"last_n"}):
        raise ValueError(
            f"`{name}` must be true, false or {{last_n: K}} (the last K layers with weights "
            f"train). Received: {name}={trainable!r}"
        )
    count = trainable["last_n"]
    check_positive_int(f"{name}.last_n", count)
    if count > len(layers):
        raise ValueError(
            f"`{name}.last_n` must be at most {len(layers)}, the backbone's layers with "
            f"weights. Received: {name}.last_n={count}"
        )
    backbone.trainable = True
    for index, layer in enumerate(layers):
        layer.trainable = index >= len(layers) - count
    return count


def _sublayers(layer):
    if isinstance(layer, keras.Model):
        return layer.layers
    return list(layer._flatten_layers(include_self=False, recursive=False))


@keras.saving.register_keras_serializable(package="mmzoo")
class BackboneTextInputs(keras.layers.Layer):
    """Token ids -> the dict a keras-hub text backbone takes.

    Args:
        padding_id: the tokenizer's padding id.
        keys: the backbone's input names among `"token_ids"`, `"padding_mask"` and
            `"segment_ids"` (all zeros: one segment).
        mask_dtype: dtype of `"padding_mask"` (the backbone's, e.g. `"int32"`).
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `(batch, length)` int ids.

    Output shape:
        dict of `(batch, length)` tensors.

    >>> import numpy as np
    >>> out = BackboneTextInputs(1, ["token_ids", "padding_mask"])(np.array([[5, 1]]))
    >>> out["padding_mask"].numpy().tolist()
    [[1, 0]]
    """

    KEYS = ("token_ids", "padding_mask", "segment_ids")

    def __init__(self, padding_id, keys, mask_dtype="int32", **kwargs):
        super().__init__(**kwargs)
        unknown = sorted(set(keys) - set(self.KEYS))
        if unknown or "token_ids" not in keys:
            raise ValueError(
                f"`keys` must hold 'token_ids' and only {list(self.KEYS)}. Received: "
                f"keys={list(keys)}"
            )
        self.padding_id = int(padding_id)
        self.keys = list(keys)
        self.mask_dtype = mask_dtype

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        values = {
            "token_ids": ids,
            "padding_mask": ops.cast(ops.not_equal(ids, self.padding_id), self.mask_dtype),
            "segment_ids": ops.zeros_like(ids),
        }
        return {key: values[key] for key in self.keys}

    def compute_output_spec(self, ids):
        dtypes = {"token_ids": "int32", "padding_mask": self.mask_dtype, "segment_ids": "int32"}
        return {key: keras.KerasTensor(ids.shape, dtypes[key]) for key in self.keys}

    def get_config(self):
        return {**super().get_config(), "padding_id": self.padding_id, "keys": self.keys,
                "mask_dtype": self.mask_dtype}


@keras.saving.register_keras_serializable(package="mmzoo")
class ResizeImages(keras.layers.Layer):
    """Resizes images to `size`, as an image converter does (`keras.ops.image.resize`).

    Unlike `keras.layers.Resizing`, it takes no `training` argument: that layer's
    default `training=True` would reach the layers after it in a plain call and put a
    backbone's BatchNorm in training mode.

    Args:
        size: `(height, width)` of the output.
        interpolation: `"bilinear"`, `"nearest"`, `"bicubic"`, ...
        crop_to_aspect_ratio: crop to the output's aspect ratio first.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape: `(batch, H, W, C)`. Output shape: `(batch, *size, C)`.

    >>> ResizeImages((2, 3))(keras.ops.ones((1, 4, 6, 3))).shape
    TensorShape([1, 2, 3, 3])
    """

    def __init__(self, size, interpolation="bilinear", crop_to_aspect_ratio=False, **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(int(d) for d in size)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)

    def call(self, images):
        return ops.image.resize(images, self.size, interpolation=self.interpolation,
                                crop_to_aspect_ratio=self.crop_to_aspect_ratio)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": list(self.size),
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio}


@keras.saving.register_keras_serializable(package="mmzoo")
class InferenceMode(keras.layers.Wrapper):
    """Runs the wrapped layer in inference mode always, in training too.

    A frozen backbone is a fixed feature extractor (keras.io's transfer-learning
    guide): no dropout, BatchNorm's moving statistics. Passing `training=False` when
    building a functional model is not enough in Keras 3: the model's own `training`
    argument overrides it at call time; this wrapper's call does not.

    Args:
        layer: the layer (a backbone) to wrap.
        **kwargs: standard `keras.layers.Layer` arguments.

    >>> layer = InferenceMode(keras.layers.Dropout(0.5))
    >>> float(layer(keras.ops.ones((1, 4)), training=True).numpy().sum())
    4.0
    """

    def call(self, inputs):
        return self.layer(inputs, training=False)

    def compute_output_spec(self, inputs):
        return self.layer.compute_output_spec(inputs)


def _frozen_at_build(backbone, trainable, name):
    """`backbone` wrapped in `InferenceMode` when it is frozen (`trainable=False`)."""
    if trainable is False:
        return InferenceMode(backbone, name=f"{name}_inference")
    return backbone


def _load_backbone(preset, needs=None, takes=""):
    """The preset's backbone and its dict of inputs, which must hold `needs` (if given)."""
    from mmzoo import hub

    backbone = hub.load("backbone", preset)
    inputs = backbone.input if isinstance(backbone.input, dict) else {}
    if needs is not None and needs not in inputs:
        raise ValueError(
            f"`preset` {preset!r} is a {type(backbone).__name__}, which takes no {needs!r}: "
            f"{takes}. Received: preset={preset!r}"
        )
    return backbone, inputs


def build_text(input_shape, name="text", preset=None, trainable=True, pooling="mean",
               embedding_dim=None):
    """A keras-hub text backbone (BERT-class) as a text tower.

    Args:
        input_shape: `(sequence_length,)`: token ids of the preset's tokenizer, at
            most the backbone's maximum sequence length.
        name: input name; the model is named `f"{name}_tower"`.
        preset: the keras-hub preset (name, handle or local folder).
        trainable: `True`, `False` or `{"last_n": K}` (see `set_trainable`).
        pooling: the embedding: `"mean"` over the real tokens, or `"first"` (the
            `[CLS]` / `<s>` token's vector).
        embedding_dim: width of a final ReLU projection; None keeps the backbone's.

    Returns:
        A `keras.Model` with outputs `embedding`, `sequence` (`(batch, length,
        hidden_dim)`, zero at padding) and `sequence_mask`.

    Raises:
        mmzoo.hub.PresetUnavailableError: the preset cannot be loaded now.
        ValueError: an option of the wrong type or value; a backbone that takes no
            token ids.
    """
    from mmzoo import hub

    check_choice("pooling", pooling, TEXT_POOLING)
    check_embedding_dim(embedding_dim)
    (length,) = check_shape(input_shape, 1, "(sequence_length,)")
    backbone, inputs = _load_backbone(
        preset, "token_ids", "text/pretrained takes text backbones (BERT, RoBERTa, ...)")
    maximum = getattr(backbone, "max_sequence_length", None)
    if maximum and length > maximum:
        raise ValueError(
            f"`input_shape` must be at most ({maximum},), the longest sequence of {preset!r}. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    padding_id = hub.load("text_preprocessor", preset).tokenizer.pad_token_id
    output = backbone.output
    if isinstance(output, dict):  # BERT's pooler is left out: nothing reads it
        output = output["sequence_output"]
    backbone = keras.Model(backbone.input, output, name=f"{name}_backbone")
    set_trainable(backbone, trainable)
    ids = keras.Input(shape=(length,), dtype="int32", name=name)
    mask_dtype = inputs["padding_mask"].dtype if "padding_mask" in inputs else "int32"
    features = BackboneTextInputs(padding_id, list(inputs), mask_dtype,
                                  name=f"{name}_backbone_inputs")(ids)
    mask = PaddingMask(padding_id, name=f"{name}_mask")(ids)
    sequence = ApplySequenceMask(name=f"{name}_sequence")(
        [_frozen_at_build(backbone, trainable, name)(features), mask])
    if pooling == "mean":
        pooled = MaskedPooling1D("mean", name=f"{name}_pool")([sequence, mask])
    else:
        pooled = keras.layers.Flatten(name=f"{name}_pool")(
            keras.layers.Cropping1D((0, length - 1), name=f"{name}_first")(sequence))
    return tower_model(ids, {"embedding": project(pooled, embedding_dim, name),
                             "sequence": sequence, "sequence_mask": mask}, name)


def build_image(input_shape, name="image", preset=None, trainable=True, embedding_dim=None):
    """A keras-hub image backbone (or CLIP / SigLIP vision encoder) as an image tower.

    The preset's image converter says the size the images are resized to and the
    scale and offset (mean / std) applied to them; both happen in the tower.

    Args:
        input_shape: `(height, width, channels)` of the [0, 1] images; 1 channel is
            repeated to RGB.
        name: input name; the model is named `f"{name}_tower"`.
        preset: the keras-hub preset (name, handle or local folder).
        trainable: `True`, `False` or `{"last_n": K}` (see `set_trainable`).
        embedding_dim: width of a final ReLU projection; None keeps the backbone's.

    Returns:
        A `keras.Model` with outputs `embedding` and `sequence` (the feature map's
        positions, or the vision transformer's tokens).

    Raises:
        mmzoo.hub.PresetUnavailableError: the preset cannot be loaded now.
        ValueError: an option of the wrong type or value; a backbone that is no image
            backbone.
    """
    from mmzoo import hub

    check_embedding_dim(embedding_dim)
    input_shape = check_shape(input_shape, 3, "(height, width, channels)")
    if input_shape[-1] not in (1, 3):
        raise ValueError(f"`input_shape` must have 1 or 3 channels. Received: "
                         f"input_shape={input_shape}")
    backbone, _ = _load_backbone(preset)
    encoder = getattr(backbone, "vision_encoder", None) or backbone
    converter = hub.load("image_converter", preset)
    size = _image_size(converter, encoder)
    encoder = _named_encoder(encoder, f"{name}_backbone")
    set_trainable(encoder, trainable)
    images = keras.Input(shape=input_shape, name=name)
    x = images
    if input_shape[-1] == 1:
        x = keras.layers.Concatenate(name=f"{name}_rgb")([x, x, x])
    if size is not None and tuple(size) != tuple(input_shape[:2]):
        x = ResizeImages(
            size, interpolation=getattr(converter, "interpolation", "bilinear"),
            crop_to_aspect_ratio=bool(getattr(converter, "crop_to_aspect_ratio", False)),
            name=f"{name}_resize")(x)
    scale, offset = _scale_and_offset(converter)
    x = keras.layers.Rescaling(scale, offset, name=f"{name}_rescale")(x)
    features = _frozen_at_build(encoder, trainable, name)(x)
    if isinstance(features, dict):
        features = features.get("sequence_output", next(iter(features.values())))
    if len(features.shape) == 4:  # a CNN's feature map
        height, width, channels = features.shape[1:]
        pooled = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(features)
        sequence = keras.layers.Reshape((height * width, channels),
                                        name=f"{name}_sequence")(features)
    elif len(features.shape) == 3:  # a vision transformer's tokens
        pooled = keras.layers.GlobalAveragePooling1D(name=f"{name}_pool")(features)
        sequence = features
    else:
        raise ValueError(
            f"`preset` {preset!r} ({type(backbone).__name__}) gives features of shape "
            f"{features.shape}, not an image feature map or token sequence. "
            f"Received: preset={preset!r}"
        )
    return tower_model(images, {"embedding": project(pooled, embedding_dim, name),
                                "sequence": sequence}, name)


def _named_encoder(encoder, name):
    """`encoder` as a functional model named `name` (a keras-hub backbone's graph, or a
    layer such as CLIP's vision encoder called on an input)."""
    if isinstance(encoder, keras.Model) and hasattr(encoder, "input"):
        inputs = encoder.input
        if isinstance(inputs, dict) and len(inputs) == 1:  # CLIP's {"images": ...}
            inputs = next(iter(inputs.values()))
        return keras.Model(inputs, encoder.output, name=name)
    shape = tuple(getattr(encoder, "image_shape", None) or (None, None, 3))
    images = keras.Input(shape=shape)
    return keras.Model(images, encoder(images), name=name)


def trainable_setting(backbone):
    """The `trainable` setting (`True`, `False` or `{"last_n": K}`) `backbone` is in.

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3),
    ...                           keras.layers.Dense(1)])
    >>> _ = set_trainable(model, {"last_n": 1})
    >>> trainable_setting(model)
    {'last_n': 1}
    """
    states = [layer.trainable and backbone.trainable
              for layer in _sublayers(backbone) if layer.weights]
    count = sum(states)
    if count in (0, len(states)):
        return bool(count)
    return {"last_n": count}


def pretrained_backbones(model):
    """Dict from input name to the keras-hub backbone of each pretrained tower of `model`."""
    backbones = {}
    for layer in model.layers:
        name = layer.name.removesuffix("_tower")
        if layer.name.endswith("_tower") and isinstance(layer, keras.Model):
            found = [_unwrapped(sub) for sub in layer.layers
                     if sub.name in (f"{name}_backbone", f"{name}_inference")]
            backbones.update({name: found[0]} if found else {})
    return backbones


def backbone_of(model, input_name):
    """The keras-hub backbone inside input `input_name`'s pretrained tower of `model`.

    Raises:
        ValueError: the input has no pretrained tower.
    """
    backbones = pretrained_backbones(model)
    if input_name not in backbones:
        raise ValueError(
            f"Input {input_name!r} of model {model.name!r} has no pretrained tower. "
            f"Received: input_name={input_name!r}")
    return backbones[input_name]


def _unwrapped(layer):
    return layer.layer if isinstance(layer, InferenceMode) else layer


def _image_size(converter, encoder):
    size = getattr(converter, "image_size", None)
    if size is None:
        shape = getattr(encoder, "image_shape", None) or (None, None)
        size = shape[:2] if None not in shape[:2] else None
    return None if size is None else tuple(int(d) for d in size)


def _scale_and_offset(converter):
    """The converter's `x * scale + offset` on [0, 255] pixels, for [0, 1] inputs."""
    import numpy as np

    scale = getattr(converter, "scale", None)
    offset = getattr(converter, "offset", None)
    scale = 255.0 * (np.asarray(1.0 if scale is None else scale, "float64"))
    offset = np.asarray(0.0 if offset is None else offset, "float64")
    return _plain(scale), _plain(offset)


def _plain(array):
    return float(array) if array.ndim == 0 else [float(v) for v in array.reshape(-1)]


def build_audio(input_shape, name="audio", preset=None, sample_rate=16000, trainable=True,
                embedding_dim=None):
    """The audio encoder of a keras-hub speech model (Moonshine) as an audio tower.

    Args:
        input_shape: `(num_samples,)` waveforms in [-1, 1] at `sample_rate`.
        name: input name; the model is named `f"{name}_tower"`.
        preset: the keras-hub preset (name, handle or local folder).
        sample_rate: the waveforms' rate in Hz; must be the preset's (16000 for
            Moonshine): resample the dataset to it.
        trainable: `True`, `False` or `{"last_n": K}` (see `set_trainable`).
        embedding_dim: width of a final ReLU projection; None keeps the backbone's.

    Returns:
        A `keras.Model` with outputs `embedding` and `sequence` (the encoder's
        frames).

    Raises:
        mmzoo.hub.PresetUnavailableError: the preset cannot be loaded now.
        ValueError: a sample rate that is not the preset's; a backbone that takes no
            waveforms.
    """
    from mmzoo import hub

    check_embedding_dim(embedding_dim)
    (num_samples,) = check_shape(input_shape, 1, "(num_samples,)")
    check_positive_int("sample_rate", sample_rate)
    backbone, inputs = _load_backbone(
        preset, "encoder_input_values",
        "audio/pretrained takes speech encoders fed with waveforms (Moonshine)")
    converter = hub.load("audio_converter", preset)
    rate = int(getattr(converter, "sampling_rate", 16000))
    if int(sample_rate) != rate:
        raise ValueError(
            f"`sample_rate` must be {rate} Hz, the rate of {preset!r}: resample the audio "
            f"to it (e.g. dataset.options.sample_rate: {rate}). Received: "
            f"sample_rate={sample_rate}"
        )
    encoder = keras.Model(
        [inputs["encoder_input_values"], inputs["encoder_padding_mask"]],
        backbone.output["encoder_sequence_output"], name=f"{name}_backbone")
    set_trainable(encoder, trainable)  # the decoder is left out: nothing reads it
    waves = keras.Input(shape=(num_samples,), name=name)
    x = keras.layers.Reshape((num_samples, 1), name=f"{name}_channels")(waves)
    if getattr(converter, "do_normalize", False):  # zero mean, unit variance per clip
        x = keras.layers.LayerNormalization(axis=1, center=False, scale=False, epsilon=1e-7,
                                            name=f"{name}_normalize")(x)
    present = keras.layers.Reshape((num_samples,), name=f"{name}_present")(
        keras.layers.Rescaling(0.0, 1.0, name=f"{name}_ones")(x))
    sequence = _frozen_at_build(encoder, trainable, name)([x, present])
    pooled = keras.layers.GlobalAveragePooling1D(name=f"{name}_pool")(sequence)
    return tower_model(waves, {"embedding": project(pooled, embedding_dim, name),
                               "sequence": sequence}, name)


TOWERS.register("text/pretrained", build_text)
TOWERS.register("image/pretrained", build_image)
TOWERS.register("audio/pretrained", build_audio)
