"""Image towers: `(H, W, C)` float32 images in [0, 1] -> embedding and feature sequence.

Families (registered as `"image/<family>"`):

- `conv`: Conv2D / BatchNorm / ReLU / max-pool blocks, global average pooling.
- `lenet`: the LeNet encoder of MultiBench's AV-MNIST baselines (Liang et al., 2021).
- `resnet`: a `keras.applications` ResNet (v1 or v2, 50/101/152 layers).

>>> from mmzoo.towers.image import build_conv
>>> tower = build_conv((28, 28, 1), filters=(8, 16))
>>> tower.name, tuple(tower.output["embedding"].shape)
('image_tower', (None, 128))
"""

import os

import keras
from keras import ops

from mmzoo.checks import (
    check_choice,
    check_int_sequence,
    check_positive_int,
    check_rate,
    check_shape,
)
from mmzoo.towers import TOWERS
from mmzoo.towers.common import (
    check_embedding_dim,
    check_lenet_options,
    conv_block,
    lenet_encoder,
    project,
    set_batch_norm_momentum,
    tower_model,
)

RESNET_VARIANTS = {
    "resnet50": keras.applications.ResNet50,
    "resnet101": keras.applications.ResNet101,
    "resnet152": keras.applications.ResNet152,
    "resnet50v2": keras.applications.ResNet50V2,
    "resnet101v2": keras.applications.ResNet101V2,
    "resnet152v2": keras.applications.ResNet152V2,
}


def _check_image_shape(input_shape, min_size=1, reason=""):
    input_shape = check_shape(input_shape, 3, "(height, width, channels)")
    if min(input_shape[:2]) < min_size:
        raise ValueError(
            f"`input_shape` must be at least {min_size}x{min_size}{reason}. "
            f"Received: input_shape={input_shape}"
        )
    return input_shape


def feature_outputs(features, name, embedding_dim, dropout=0.0):
    """Global average pool (+ dropout, projection) and the (H*W, C) sequence of a map."""
    height, width, channels = features.shape[1:]
    pooled = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(features)
    if dropout:
        pooled = keras.layers.Dropout(dropout, name=f"{name}_dropout")(pooled)
    embedding = project(pooled, embedding_dim, name)
    sequence = keras.layers.Reshape((height * width, channels), name=f"{name}_sequence")(
        features
    )
    return {"embedding": embedding, "sequence": sequence}


def build_conv(
    input_shape, name="image", filters=(32, 64, 128), kernel_size=3, embedding_dim=128,
    dropout=0.0,
):
    """A stack of Conv2D -> BatchNorm -> ReLU -> MaxPool blocks.

    Args:
        input_shape: `(height, width, channels)`; each side at least `2 ** len(filters)`.
        name: input name; the model is named `f"{name}_tower"`.
        filters: filters of each block; its length is the depth.
        kernel_size: convolution kernel size.
        embedding_dim: width of the final ReLU projection; `None` keeps `filters[-1]`.
        dropout: dropout rate after global average pooling.

    Returns:
        A `keras.Model` with outputs `embedding` `(batch, dim)` and `sequence`
        `(batch, H' * W', filters[-1])`, the last feature map.

    Raises:
        ValueError: an option out of range or of the wrong type, or an `input_shape`
            of the wrong rank or too small for the tower; the message names the
            argument and the value received.

    >>> build_conv((16, 16, 3), filters=(4,), embedding_dim=None).output["sequence"].shape
    (None, 64, 4)
    """
    filters = check_int_sequence("filters", filters)
    check_positive_int("kernel_size", kernel_size)
    check_embedding_dim(embedding_dim)
    check_rate("dropout", dropout)
    input_shape = _check_image_shape(
        input_shape, 2 ** len(filters), f" for {len(filters)} 2x2 max pools"
    )
    inputs = keras.Input(shape=input_shape, name=name)
    x = inputs
    for i, width in enumerate(filters):
        x = conv_block(x, width, kernel_size, f"{name}_block{i}")
    return tower_model(inputs, feature_outputs(x, name, embedding_dim, dropout), name)


def build_lenet(input_shape, name="image", channels=6, additional_layers=3, embedding_dim=None):
    """The LeNet encoder of MultiBench's AV-MNIST baselines.

    With the defaults a 28x28x1 digit becomes a 1x1x48 map: a 48-wide embedding.

    Args:
        input_shape: `(height, width, channels)`; each side at least
            `2 ** (additional_layers + 1)`.
        name: input name; the model is named `f"{name}_tower"`.
        channels: filters of the first (5x5) convolution.
        additional_layers: number of 3x3 convolutions after it, each doubling the width.
        embedding_dim: width of a final ReLU projection; `None` keeps
            `channels * 2 ** additional_layers`.

    Returns:
        A `keras.Model` with outputs `embedding` and `sequence` (the last feature map).

    Raises:
        ValueError: an option out of range or of the wrong type, or an `input_shape`
            of the wrong rank or too small for the tower; the message names the
            argument and the value received.

    >>> build_lenet((28, 28, 1)).output["embedding"].shape
    (None, 48)
    """
    check_lenet_options(channels, additional_layers)
    check_embedding_dim(embedding_dim)
    pools = additional_layers + 1
    input_shape = _check_image_shape(input_shape, 2**pools, f" for {pools} 2x2 max pools")
    inputs = keras.Input(shape=input_shape, name=name)
    features = lenet_encoder(inputs, channels, additional_layers, name)
    return tower_model(inputs, feature_outputs(features, name, embedding_dim), name)


@keras.saving.register_keras_serializable(package="mmzoo")
class ResNetPreprocessing(keras.layers.Layer):
    """Maps [0, 1] images to what `keras.applications` ResNets were trained on.

    Args:
        mode: `"caffe"` (ResNet v1: RGB -> BGR, x 255, minus the ImageNet channel
            means; needs 3 channels) or `"tf"` (ResNet v2: scaled to [-1, 1]).
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `(batch, height, width, channels)` float images in [0, 1].

    Output shape:
        The same shape.

    Raises:
        ValueError: an unknown `mode`, or `"caffe"` on images without 3 channels.

    >>> import numpy as np
    >>> float(np.asarray(ResNetPreprocessing("tf")(np.ones((1, 2, 2, 3)))).max())
    1.0
    """

    MODES = ("caffe", "tf")
    MEANS = (103.939, 116.779, 123.68)  # BGR

    def __init__(self, mode="caffe", **kwargs):
        super().__init__(**kwargs)
        check_choice("mode", mode, self.MODES)
        self.mode = mode

    def build(self, input_shape):
        if self.mode == "caffe" and input_shape[-1] != 3:
            raise ValueError(
                "`input_shape` must have 3 (RGB) channels for mode='caffe'. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        if self.mode == "tf":
            return inputs * 2.0 - 1.0
        bgr = ops.flip(inputs, axis=-1) * 255.0
        return bgr - ops.convert_to_tensor(self.MEANS, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def build_resnet(input_shape, name="image", variant="resnet50", weights=None, embedding_dim=None):
    """A `keras.applications` ResNet without its classifier.

    The [0, 1] images are first mapped to the range the variant expects (see
    `ResNetPreprocessing`; v1 with other than 3 channels uses the v2 scaling).

    Args:
        input_shape: `(height, width, channels)`, at least 32x32; 3 channels when
            `weights` is given.
        name: input name; the model is named `f"{name}_tower"`.
        variant: one of `"resnet50"`, `"resnet101"`, `"resnet152"`, `"resnet50v2"`,
            `"resnet101v2"`, `"resnet152v2"`.
        weights: `None` (random initialisation), `"imagenet"` (Keras' ImageNet
            weights, downloaded once into `~/.keras/models`, or `$KERAS_HOME/models`)
            or the path of a local weights file of the variant without top, e.g.
            `resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`.
        embedding_dim: width of a final ReLU projection; `None` keeps 2048.

    Returns:
        A `keras.Model` with outputs `embedding` and `sequence` (the last feature map).

    Raises:
        ValueError: an option out of range or of the wrong type, an `input_shape`
            of the wrong rank or too small for the tower, or ImageNet weights neither
            cached nor downloadable; the message names the argument and the value
            received.

    >>> build_resnet((32, 32, 3)).output["embedding"].shape
    (None, 2048)
    """
    check_choice("variant", variant, tuple(RESNET_VARIANTS))
    if weights not in (None, "imagenet") and not (isinstance(weights, (str, os.PathLike))
                                                  and os.path.isfile(weights)):
        raise ValueError(
            "`weights` must be None, 'imagenet' or the path of an existing local weights "
            f"file. Received: weights={weights!r}"
        )
    check_embedding_dim(embedding_dim)
    input_shape = _check_image_shape(input_shape, 32, f" for {variant}")
    if weights is not None and input_shape[-1] != 3:
        raise ValueError(
            "`input_shape` must have 3 (RGB) channels with pretrained `weights`. "
            f"Received: input_shape={input_shape}"
        )
    inputs = keras.Input(shape=input_shape, name=name)
    mode = "caffe" if not variant.endswith("v2") and input_shape[-1] == 3 else "tf"
    x = ResNetPreprocessing(mode, name=f"{name}_preprocessing")(inputs)
    try:
        backbone = RESNET_VARIANTS[variant](
            include_top=False,
            weights=None if weights is None else os.fspath(weights),
            input_shape=input_shape,
            name=f"{name}_{variant}",
        )
    except Exception as error:  # the download of the ImageNet weights failed
        if weights != "imagenet":
            raise
        cache = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")),
                             "models")
        raise ValueError(
            f"The ImageNet weights of {variant} are not in the Keras cache ({cache}) and "
            f"could not be downloaded ({type(error).__name__}: {str(error)[:160]}). Once "
            f"online, run `python -c \"import keras; keras.applications."
            f"{RESNET_VARIANTS[variant].__name__}(include_top=False)\"` to cache them, or "
            f"pass the path of the weights file. Received: weights='imagenet'"
        ) from None
    features = set_batch_norm_momentum(backbone)(x)
    return tower_model(inputs, feature_outputs(features, name, embedding_dim), name)


TOWERS.register("image/conv", build_conv)
TOWERS.register("image/lenet", build_lenet)
TOWERS.register("image/resnet", build_resnet)
