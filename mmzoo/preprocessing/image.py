"""Image preprocessing: encoded bytes -> float32 `(H, W, C)` tensors in [0, 1].

The functions are TensorFlow graph code, so the same computation runs per example in a
`tf.data` pipeline (`Dataset.map`) and, through `ImagePreprocessing`, on a batch of
encoded images inside an exported serving function.

>>> import numpy as np, tensorflow as tf
>>> from mmzoo.preprocessing.image import preprocess_image
>>> png = tf.io.encode_png(np.full((17, 43, 1), 255, np.uint8))
>>> image = preprocess_image(png, size=(32, 32), channels=3, mode="pad")
>>> tuple(image.shape), image.dtype.name
((32, 32, 3), 'float32')
"""

import keras
import tensorflow as tf

# Plain graph code (tf.cond / tf.while_loop, no Python control flow on tensors): keeps
# AutoGraph from rewriting it, which is slow and changes nothing, inside Dataset.map.
_graph_code = tf.autograph.experimental.do_not_convert

RESIZE_MODES = ("pad", "crop", "stretch")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


@_graph_code
def decode_image(data, channels=3):
    """Decodes PNG, JPEG, BMP or GIF bytes (the first frame of a GIF) to uint8.

    Grayscale images are converted to RGB when `channels=3` and colour images to
    grayscale when `channels=1`.

    Args:
        data: scalar `tf.string` tensor (or Python bytes) of one encoded image.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        uint8 tensor of shape `(height, width, channels)`.

    Raises:
        tf.errors.InvalidArgumentError: when the bytes are not a decodable image.
        ValueError: `channels` is not 1 or 3.

    >>> import numpy as np
    >>> png = tf.io.encode_png(np.full((2, 3, 1), 7, np.uint8))
    >>> image = decode_image(png, channels=3)
    >>> image.shape, image.dtype.name, int(image[0, 0, 2])
    (TensorShape([2, 3, 3]), 'uint8', 7)
    """
    _check_channels(channels)
    # Decoded with its own channels (1-4), then converted here, the same way for
    # every format (BMP and GIF decoders cannot produce grayscale themselves).
    image = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
    is_color = tf.shape(image)[-1] >= 3
    if channels == 3:
        image = tf.cond(
            is_color,
            lambda: image[..., :3],  # RGB, or RGBA without its alpha
            lambda: tf.tile(image[..., :1], [1, 1, 3]),  # gray, or gray + alpha
        )
    else:
        image = tf.cond(
            is_color,
            lambda: tf.image.rgb_to_grayscale(image[..., :3]),
            lambda: image[..., :1],
        )
    image.set_shape([None, None, channels])
    return image


@_graph_code
def resize_image(image, size, mode="pad"):
    """Resizes one image to `size` and scales it to float32 in [0, 1].

    Args:
        image: `(height, width, channels)` tensor; integer images are scaled by their
            dtype's maximum (255 for uint8), float images are taken as already in [0, 1].
        size: `(height, width)` of the output.
        mode: `"pad"` keeps the aspect ratio and pads with zeros (black) around the
            centred image; `"crop"` keeps the aspect ratio, fills the output and cuts
            the centre out; `"stretch"` resizes each side independently.

    Returns:
        float32 tensor of shape `(size[0], size[1], channels)`.

    Raises:
        ValueError: `size` is not a pair of positive ints, `mode` is unknown, or
            `image` is not of rank 3.

    >>> import numpy as np
    >>> image = np.full((2, 4, 1), 255, np.uint8)
    >>> resize_image(image, (4, 4), mode="pad")[..., 0].numpy().tolist()
    [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    >>> resize_image(image, (4, 4), mode="stretch").shape
    TensorShape([4, 4, 1])
    """
    height, width = _check_size(size)
    _check_mode(mode)
    image = tf.convert_to_tensor(image)
    if image.shape.rank is not None and image.shape.rank != 3:
        raise ValueError(
            "`image` must have rank 3 `(height, width, channels)`. "
            f"Received: image with shape {image.shape}"
        )
    image = tf.image.convert_image_dtype(image, tf.float32)
    # An image already at the target size is left as it is (resizing it would give the
    # same values): the common case of a dataset stored at the model's size.
    same_size = tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width]))
    out = tf.cond(same_size, lambda: image, lambda: _fit(image, height, width, mode))
    out = tf.clip_by_value(out, 0.0, 1.0)
    out.set_shape([height, width, image.shape[-1]])
    return out


@_graph_code
def preprocess_image(data, size, channels=3, mode="pad"):
    """Decodes, resizes and scales one encoded image: the whole image preprocessing.

    Args:
        data: scalar `tf.string` tensor of one encoded PNG/JPEG/BMP/GIF image.
        size: `(height, width)` of the output.
        channels: 1 (grayscale) or 3 (RGB).
        mode: `"pad"`, `"crop"` or `"stretch"` (see `resize_image`).

    Returns:
        float32 tensor of shape `(size[0], size[1], channels)` with values in [0, 1].

    Raises:
        ValueError: bad `size`, `channels` or `mode`.
        tf.errors.InvalidArgumentError: the bytes are not a decodable image.

    >>> import numpy as np
    >>> png = tf.io.encode_png(np.full((10, 20, 3), 255, np.uint8))
    >>> image = preprocess_image(png, size=(8, 8), channels=1, mode="crop")
    >>> image.shape, round(float(tf.reduce_min(image)), 3)
    (TensorShape([8, 8, 1]), 1.0)
    """
    _check_size(size)
    _check_mode(mode)
    return resize_image(decode_image(data, channels=channels), size, mode=mode)


@keras.saving.register_keras_serializable(package="mmzoo")
class ImagePreprocessing(keras.layers.Layer):
    """Turns a batch of encoded images into a float32 batch for an image tower.

    Runs `preprocess_image` on each element, so a serving function computes exactly
    what the `tf.data` pipeline computed for training. TensorFlow backend only.

    Args:
        size: `(height, width)` of the output images.
        channels: 1 (grayscale) or 3 (RGB).
        mode: `"pad"`, `"crop"` or `"stretch"` (see `resize_image`).

    Input shape:
        `(batch,)` `tf.string` tensor of encoded PNG/JPEG/BMP/GIF bytes (a trailing
        axis of size 1, `(batch, 1)`, is accepted too).

    Output shape:
        `(batch, height, width, channels)` float32 in [0, 1].

    Raises:
        ValueError: bad `size`, `channels` or `mode`.

    Example:

    >>> import numpy as np, tensorflow as tf
    >>> layer = ImagePreprocessing(size=(28, 28), channels=1)
    >>> png = tf.io.encode_png(np.zeros((17, 43, 3), np.uint8))
    >>> tuple(layer(tf.stack([png, png])).shape)
    (2, 28, 28, 1)
    """

    def __init__(self, size, channels=3, mode="pad", **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(_check_size(size))
        self.channels = _check_channels(channels)
        self.mode = _check_mode(mode)
        # String inputs (lists, numpy arrays of bytes) are converted in `call`.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.supports_jit = False

    def call(self, inputs):
        """Preprocesses `inputs` `(batch,)` encoded images to `(batch, H, W, channels)`."""
        inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        if inputs.shape.rank == 2:
            inputs = tf.squeeze(inputs, axis=-1)
        return tf.map_fn(
            lambda data: preprocess_image(data, self.size, self.channels, self.mode),
            inputs,
            fn_output_signature=tf.TensorSpec((*self.size, self.channels), tf.float32),
        )

    def compute_output_shape(self, input_shape):
        """`(batch, height, width, channels)` for an input of shape `(batch,)`.

        >>> ImagePreprocessing((28, 28), channels=1).compute_output_shape((None,))
        (None, 28, 28, 1)
        """
        return (input_shape[0], *self.size, self.channels)

    def compute_output_spec(self, inputs):
        """A float32 `keras.KerasTensor` of `compute_output_shape(inputs.shape)`."""
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def get_config(self):
        """The layer config, with `size`, `channels` and `mode`.

        >>> ImagePreprocessing((28, 28), channels=1).get_config()["size"]
        [28, 28]
        """
        config = super().get_config()
        config.update({"size": list(self.size), "channels": self.channels, "mode": self.mode})
        return config


def image_augmentation(
    seed=None,
    flip=None,
    translation=0.1,
    zoom=0.1,
    contrast=0.1,
    name="image_augmentation",
):
    """Random image augmentation for float images in [0, 1], active only in training.

    A `keras.Sequential` of Keras preprocessing layers; called with `training=False`
    (the default) it returns its input unchanged. Flips are off by default because
    they change the meaning of digits and many shapes.

    Args:
        seed: optional int seed for reproducible augmentation.
        flip: `None`/`False` (no flips), `True` or `"horizontal"`, `"vertical"`,
            `"horizontal_and_vertical"`.
        translation: largest shift as a fraction of height and width, in [0, 1);
            0 leaves it out.
        zoom: largest zoom in or out as a fraction, in [0, 1); 0 leaves it out.
        contrast: largest contrast change as a fraction, in [0, 1); 0 leaves it out.
        name: name of the returned model.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` float32.

    Output shape:
        Same as the input.

    Returns:
        An `ImageAugmentation` (a `keras.Sequential`; empty when every option is off).

    Raises:
        ValueError: `seed` is not None or an int, `flip` is not a valid mode, or
            `translation`, `zoom` or `contrast` is outside [0, 1).

    >>> import numpy as np
    >>> augment = image_augmentation(seed=1)
    >>> x = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype("float32")
    >>> bool(np.all(np.asarray(augment(x)) == x))
    True
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"`seed` must be None or an int. Received: seed={seed!r}")
    if flip is True:
        flip = "horizontal"
    if flip not in (None, False, *FLIP_MODES):
        raise ValueError(
            f"`flip` must be None, False, True or one of {', '.join(FLIP_MODES)}. "
            f"Received: flip={flip!r}"
        )
    for arg, value in (("translation", translation), ("zoom", zoom), ("contrast", contrast)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"`{arg}` must be a number in [0, 1). Received: {arg}={value!r}")

    def layer_seed(offset):
        return None if seed is None else seed + offset

    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip(flip, seed=layer_seed(0), name="flip"))
    if translation:
        layers.append(
            keras.layers.RandomTranslation(
                translation,
                translation,
                fill_mode="constant",
                fill_value=0.0,
                seed=layer_seed(1),
                name="translation",
            )
        )
    if zoom:
        layers.append(
            keras.layers.RandomZoom(
                zoom, zoom, fill_mode="constant", fill_value=0.0, seed=layer_seed(2), name="zoom"
            )
        )
    if contrast:
        layers.append(
            keras.layers.RandomContrast(
                contrast, value_range=(0.0, 1.0), seed=layer_seed(3), name="contrast"
            )
        )
    return ImageAugmentation(layers, name=name)


@keras.saving.register_keras_serializable(package="mmzoo")
class ImageAugmentation(keras.Sequential):
    """A `keras.Sequential` of random layers that act only when `training=True`.

    Keras' random preprocessing layers augment by default when called outside
    `fit`; here the default is `training=False`, so calling the model directly (as
    an evaluation pipeline or a serving function would) returns the input unchanged.
    Made by `image_augmentation`.

    Args:
        layers: list of Keras layers, applied in order.
        name: the model name.

    Input shape:
        `(batch, height, width, channels)` float32 in [0, 1].

    Output shape:
        Same as the input.

    >>> import numpy as np
    >>> augment = ImageAugmentation([keras.layers.RandomFlip("horizontal", seed=0)])
    >>> x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    >>> bool(np.all(np.asarray(augment(x)) == x))
    True
    """

    def call(self, inputs, training=False, mask=None):
        """Applies the layers when `training` is True; else returns `inputs` as is."""
        return super().call(inputs, training=False if training is None else training, mask=mask)


def _fit(image, height, width, mode):
    """`image` (float32) resized to `(height, width)` by `mode` (see `resize_image`)."""
    if mode == "stretch":
        return _resize(image, tf.constant(height), tf.constant(width))
    in_h = tf.cast(tf.shape(image)[0], tf.float32)
    in_w = tf.cast(tf.shape(image)[1], tf.float32)
    scales = tf.stack([height / in_h, width / in_w])
    scale = tf.reduce_min(scales) if mode == "pad" else tf.reduce_max(scales)
    # Rounded, clamped to [1, target] for "pad" and to >= target for "crop".
    new_h = tf.cast(tf.round(in_h * scale), tf.int32)
    new_w = tf.cast(tf.round(in_w * scale), tf.int32)
    if mode == "pad":
        new_h = tf.clip_by_value(new_h, 1, height)
        new_w = tf.clip_by_value(new_w, 1, width)
        top = (height - new_h) // 2
        left = (width - new_w) // 2
        return tf.pad(
            _resize(image, new_h, new_w),
            [[top, height - new_h - top], [left, width - new_w - left], [0, 0]],
        )
    new_h = tf.maximum(new_h, height)
    new_w = tf.maximum(new_w, width)
    top = (new_h - height) // 2
    left = (new_w - width) // 2
    return _resize(image, new_h, new_w)[top : top + height, left : left + width, :]


def _resize(image, height, width):
    # Antialiasing (a triangle filter widened when shrinking) avoids aliasing when a
    # large photo is reduced to a small tower input; it has no overshoot.
    return tf.image.resize(image, tf.stack([height, width]), method="bilinear", antialias=True)


def _check_size(size):
    ok = (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    )
    if not ok:
        raise ValueError(
            f"`size` must be a pair of positive ints (height, width). Received: size={size!r}"
        )
    return int(size[0]), int(size[1])


def _check_channels(channels):
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels!r}")
    return int(channels)


def _check_mode(mode):
    if mode not in RESIZE_MODES:
        raise ValueError(
            f"`mode` must be one of {', '.join(RESIZE_MODES)}. Received: mode={mode!r}"
        )
    return mode
