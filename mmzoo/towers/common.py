"""Building blocks shared by the image, text and audio towers.

>>> import keras
>>> from mmzoo.towers.common import conv_block, tower_model
>>> inputs = keras.Input((8, 8, 1), name="image")
>>> tower = tower_model(inputs, {"embedding": conv_block(inputs, 4, 3, "b0")}, "image")
>>> tower.name
'image_tower'
"""

import keras

from mmzoo.checks import check_positive_int, is_int


#: Momentum of the towers' BatchNormalization layers: PyTorch's default (0.1 there,
#: which weighs the new batch), rather than Keras' 0.99, which remembers about 100
#: steps and leaves the moving statistics of a short run far from the data. Measured
#: on one FSDD speaker (400 clips, 65 steps of `log_mel_conv`, no recalibration):
#: inference accuracy on the training split 0.12 with 0.99, 0.59 with 0.9 (0.93 with
#: the statistics recomputed, see `mmzoo.batch_norm`).
BATCH_NORM_MOMENTUM = 0.9


def batch_norm(name, axis=-1):
    """`keras.layers.BatchNormalization` with the towers' momentum.

    Args:
        name: the layer name.
        axis: the feature axis to normalize.

    Returns:
        A `keras.layers.BatchNormalization` with momentum `BATCH_NORM_MOMENTUM`.

    >>> batch_norm("bn").momentum
    0.9
    """
    return keras.layers.BatchNormalization(axis=axis, momentum=BATCH_NORM_MOMENTUM, name=name)


def set_batch_norm_momentum(model, momentum=BATCH_NORM_MOMENTUM):
    """Sets the momentum of every BatchNormalization layer inside `model` (in place).

    Args:
        model: a built `keras.Model` (nested models are searched too).
        momentum: float in [0, 1], the weight of the old moving statistics.

    Returns:
        `model`.

    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(inputs))
    >>> set_batch_norm_momentum(model, 0.5).get_layer("bn").momentum
    0.5
    """
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
    return model


def check_embedding_dim(embedding_dim):
    """`embedding_dim` is None (native width) or a positive int.

    Args:
        embedding_dim: None or the width of the tower's projection.

    Returns:
        `embedding_dim`, unchanged.

    Raises:
        ValueError: `embedding_dim` is not None and not an int > 0.

    >>> check_embedding_dim(64), check_embedding_dim(None)
    (64, None)
    >>> check_embedding_dim(0)
    Traceback (most recent call last):
    ...
    ValueError: ...embedding_dim...
    """
    if embedding_dim is not None:
        check_positive_int("embedding_dim", embedding_dim)
    return embedding_dim


def project(x, embedding_dim, name):
    """The optional final `Dense(embedding_dim, relu)` named `f"{name}_projection"`.

    Args:
        x: a symbolic tensor `(batch, features)`.
        embedding_dim: None (return `x` unchanged) or the output width.
        name: the prefix of the layer name.

    Returns:
        A symbolic tensor `(batch, embedding_dim)`, or `x`.

    >>> project(keras.Input((10,)), 4, "text").shape
    (None, 4)
    """
    if embedding_dim is None:
        return x
    return keras.layers.Dense(embedding_dim, activation="relu", name=f"{name}_projection")(x)


def tower_model(inputs, outputs, name):
    """The tower `keras.Model` named `f"{name}_tower"` with dict outputs.

    Args:
        inputs: the tower's `keras.Input` (or a list/dict of them).
        outputs: dict from output name (e.g. `"embedding"`) to symbolic tensor.
        name: the modality name.

    Returns:
        A functional `keras.Model`.

    >>> inputs = keras.Input((3,))
    >>> tower_model(inputs, {"embedding": inputs}, "audio").name
    'audio_tower'
    """
    return keras.Model(inputs=inputs, outputs=outputs, name=f"{name}_tower")


def conv_block(x, filters, kernel_size, prefix, use_bias=True):
    """Conv2D (same padding) -> BatchNormalization -> ReLU -> MaxPooling2D(2).

    Args:
        x: a symbolic tensor `(batch, height, width, channels)`.
        filters: the number of convolution filters.
        kernel_size: int or `(kh, kw)`.
        prefix: prefix of the four layer names (`{prefix}_conv`, `_bn`, `_relu`, `_pool`).
        use_bias: whether the convolution has a bias.

    Returns:
        A symbolic tensor `(batch, height // 2, width // 2, filters)`.

    >>> conv_block(keras.Input((8, 8, 1)), 4, 3, "b0").shape
    (None, 4, 4, 4)
    """
    x = keras.layers.Conv2D(
        filters, kernel_size, padding="same", use_bias=use_bias, name=f"{prefix}_conv"
    )(x)
    x = batch_norm(f"{prefix}_bn")(x)
    x = keras.layers.ReLU(name=f"{prefix}_relu")(x)
    return keras.layers.MaxPooling2D(2, name=f"{prefix}_pool")(x)


def lenet_encoder(x, channels, additional_layers, prefix):
    """MultiBench's LeNet body on a 4-D tensor: returns the last feature map.

    A 5x5 conv with `channels` filters, then `additional_layers` 3x3 convs with
    `channels * 2 ** (i + 1)` filters, each without bias and followed by BatchNorm,
    ReLU and a 2x2 max pool, so the map shrinks by `2 ** (additional_layers + 1)`.

    Args:
        x: a symbolic tensor `(batch, height, width, channels_in)`.
        channels: filters of the first conv.
        additional_layers: the number of 3x3 blocks after it.
        prefix: prefix of the layer names.

    Returns:
        A symbolic tensor `(batch, height / 2 ** (n + 1), width / 2 ** (n + 1),
        channels * 2 ** n)` with `n = additional_layers` (sizes rounded down).

    >>> lenet_encoder(keras.Input((28, 28, 1)), 6, 3, "image").shape
    (None, 1, 1, 48)
    """
    x = conv_block(x, channels, 5, f"{prefix}_block0", use_bias=False)
    for i in range(additional_layers):
        x = conv_block(x, channels * 2 ** (i + 1), 3, f"{prefix}_block{i + 1}", use_bias=False)
    return x


def check_lenet_options(channels, additional_layers):
    """Checks the options of `lenet_encoder`.

    Args:
        channels: must be an int > 0.
        additional_layers: must be an int >= 0.

    Raises:
        ValueError: either is out of range or not an integer.

    >>> check_lenet_options(6, -1)
    Traceback (most recent call last):
    ...
    ValueError: `additional_layers` must be a non-negative integer. Received: additional_layers=-1
    """
    check_positive_int("channels", channels)
    if not is_int(additional_layers) or additional_layers < 0:
        raise ValueError(
            "`additional_layers` must be a non-negative integer. "
            f"Received: additional_layers={additional_layers!r}"
        )
