"""Image preprocessing: encoded bytes -> float32 `(H, W, C)` tensors in [0, 1].

The functions are TensorFlow graph code, so the same computation runs per example in a
`tf.data` pipeline (`Dataset.map`) and, through `ImagePreprocessing`, on a batch of
encoded images inside an exported serving function.

An image decodes the way a viewer shows it on a white page:

- JPEG photos are turned upright by their EXIF orientation (`mmzoo.preprocessing.exif`).
- Transparency is composited over white, `alpha * colour + (1 - alpha) * 255`, for
  every format that has it: RGBA and gray + alpha PNGs, palette PNGs with transparent
  entries, gray and RGB PNGs with a transparent colour (a `tRNS` key), GIFs with a
  transparent colour (the first frame), and 32-bit BMPs with an alpha mask. The
  fourth byte of a plain 32-bit BMP (`BI_RGB`) is padding and ignored.
- 16-bit PNGs keep the high byte of each sample (`value >> 8`, as libpng and PIL
  reduce them); CMYK JPEGs (Adobe's inverted ones too) are converted to RGB.

>>> import numpy as np, tensorflow as tf
>>> from mmzoo.preprocessing.image import preprocess_image
>>> png = tf.io.encode_png(np.full((17, 43, 1), 255, np.uint8))
>>> image = preprocess_image(png, size=(32, 32), channels=3, mode="pad")
>>> tuple(image.shape), image.dtype.name
((32, 32, 3), 'float32')
"""

import keras
import numpy as np
import tensorflow as tf

from mmzoo.preprocessing.exif import apply_orientation, jpeg_orientation

# Plain graph code (tf.cond / tf.while_loop, no Python control flow on tensors): keeps
# AutoGraph from rewriting it, which is slow and changes nothing, inside Dataset.map.
_graph_code = tf.autograph.experimental.do_not_convert

RESIZE_MODES = ("pad", "crop", "stretch")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")

# What the first bytes say: the format, and the PNG colour type (byte 25) or BMP bits
# per pixel (byte 28); -1 matches any value.
_OTHER, _JPEG, _GIF, _PNG_KEY, _BMP = range(5)  # the branches of decode_image
_SIGNATURE_AT = [0, 1, 2, 3, 4, 5, 6, 7, 25, 28]
_SIGNATURES = [
    (_JPEG, [0xFF, 0xD8, 0xFF] + [-1] * 7),
    (_GIF, [*b"GIF8"] + [-1] * 6),
    (_PNG_KEY, [*b"\x89PNG\r\n\x1a\n", 0, -1]),  # gray: may name a transparent gray
    (_PNG_KEY, [*b"\x89PNG\r\n\x1a\n", 2, -1]),  # RGB: may name a transparent colour
    (_BMP, [*b"BM"] + [-1] * 7 + [32]),  # 32 bits: a fourth byte, alpha or not
]
_BRANCHES = np.array([branch for branch, _ in _SIGNATURES], np.int32)
_PATTERNS = np.array([pattern for _, pattern in _SIGNATURES], np.int32)
# Where a JPEG's EXIF block or a PNG's transparent colour is looked for.
_SEARCHED_BYTES = 1 << 18


@_graph_code
def decode_image(data, channels=3):
    """Decodes PNG, JPEG, BMP or GIF bytes (the first frame of a GIF) to uint8.

    The image comes out as a viewer shows it on a white page: a JPEG's EXIF
    orientation is applied (so height and width are the upright ones), transparent
    and translucent pixels of any format are composited over white
    (`(colour * alpha + 255 * (255 - alpha)) / 255`, rounded), 16-bit PNG samples
    keep their high byte and CMYK JPEGs become RGB. Grayscale images are then
    converted to RGB when `channels=3` and colour images to grayscale (ITU-R BT.601
    weights, `tf.image.rgb_to_grayscale`) when `channels=1`.

    Args:
        data: scalar `tf.string` tensor (or Python bytes) of one encoded image.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        uint8 tensor of shape `(height, width, channels)`.

    Raises:
        tf.errors.InvalidArgumentError: when the bytes are not a decodable image
            (metadata that cannot be read, such as a damaged EXIF block, is ignored).
        ValueError: `channels` is not 1 or 3.

    >>> import numpy as np
    >>> png = tf.io.encode_png(np.full((2, 3, 1), 7, np.uint8))
    >>> image = decode_image(png, channels=3)
    >>> image.shape, image.dtype.name, int(image[0, 0, 2])
    (TensorShape([2, 3, 3]), 'uint8', 7)
    >>> rgba = tf.io.encode_png(np.array([[[255, 0, 0, 0], [255, 0, 0, 255]]], np.uint8))
    >>> decode_image(rgba).numpy().tolist()  # transparent red is white
    [[[255, 255, 255], [255, 0, 0]]]
    """
    _check_channels(channels)
    data = tf.convert_to_tensor(data, dtype=tf.string)
    # TensorFlow's decoder alone, or the formats and metadata it does not handle.
    image = tf.switch_case(_branch(data), [
        lambda: _decode(data),
        lambda: _decode_jpeg_upright(data),
        lambda: _decode_gif(data),
        lambda: _decode_keyed_png(data),
        lambda: _decode_bmp(data),
    ])
    return _to_channels(image, channels)


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


def _decode(data, dtype=tf.uint8):
    """Bytes -> `(height, width, 1..4)` as stored (TensorFlow's own decoders)."""
    return tf.io.decode_image(data, channels=0, dtype=dtype, expand_animations=False)


def _branch(data):
    """The branch of `decode_image` for `data`: 0 (TensorFlow's decoder does it all)
    for most files, found with a few ops and one substring search."""
    header = tf.gather(tf.io.decode_raw(data, tf.uint8, fixed_length=29), _SIGNATURE_AT)
    match = tf.logical_or(tf.equal(tf.cast(header, tf.int32), _PATTERNS), _PATTERNS < 0)
    kind = tf.reduce_max(tf.where(tf.reduce_all(match, axis=1), _BRANCHES, _OTHER))
    # JPEGs holding "Exif\0\0" and gray or RGB PNGs holding "tRNS" near their start.
    found, _ = _find(data, tf.where(tf.equal(kind, _JPEG), b"Exif\0\0", b"tRNS"))
    more = tf.gather(tf.stack([False, found, True, found, True]), kind)
    return tf.where(more, kind, _OTHER)


def _to_channels(image, channels):
    """`(h, w, 1..4)` uint8 -> `(h, w, channels)`, alpha composited over white."""
    count = tf.shape(image)[-1]

    def convert():
        # RGB, or gray repeated: broadcasting returns a 3-channel input as it is.
        shape = tf.shape(image)
        rgb = tf.broadcast_to(image[..., : tf.where(count >= 3, 3, 1)],
                              tf.concat([shape[:2], [3]], 0))
        # Alpha, the last of 2 or 4 channels, over white: integer arithmetic, rounded.
        rgb = tf.cond(tf.equal(count % 2, 0), lambda: _over_white(rgb, image[..., -1:]),
                      lambda: rgb)
        # The gray of a repeated gray is that gray (checked for all 256 values).
        return rgb if channels == 3 else tf.image.rgb_to_grayscale(rgb)

    image = tf.cond(tf.equal(count, channels), lambda: image, convert)
    image.set_shape([None, None, channels])
    return image


def _over_white(colour, alpha):
    colour, alpha = tf.cast(colour, tf.int32), tf.cast(alpha, tf.int32)
    return tf.cast((colour * alpha + 255 * (255 - alpha) + 127) // 255, tf.uint8)


def _bmp_alpha(data, image):
    """`image` of a BMP with its alpha made opaque unless an alpha mask announces it.

    In a plain 32-bit BMP (BI_RGB) the fourth byte is unused (often 0), and viewers
    show the picture opaque. Alpha is given by bit fields: BI_BITFIELDS (3) with a
    BITMAPV4/V5 header (56 bytes or more) or BI_ALPHABITFIELDS (6), with a non-zero
    alpha mask, at byte 66 in both layouts.
    """
    header = tf.cast(tf.io.decode_raw(data, tf.uint8, fixed_length=70), tf.int32)
    compression, info_size = header[30], header[14] + 256 * header[15]
    with_alpha = tf.logical_and(
        tf.logical_or(tf.logical_and(tf.equal(compression, 3), info_size >= 56),
                      tf.equal(compression, 6)),
        tf.reduce_any(tf.not_equal(header[66:70], 0)),
    )
    return tf.concat([image[..., :3], tf.where(with_alpha, image[..., 3:], 255)], -1)


def _bytes(data, position, count):
    """int64 `(count,)`: the bytes of `data` from `position` on, zeros past its end."""
    position = tf.cast(position, tf.int64)
    position = tf.clip_by_value(position, 0, tf.cast(tf.strings.length(data), tf.int64))
    window = tf.strings.substr(data, position, tf.constant(count, tf.int64))
    return tf.cast(tf.io.decode_raw(window, tf.uint8, fixed_length=count), tf.int64)


def _find(data, text, start=0):
    """`(found, position)` of the first `text` in `data` at or after `start`."""
    start = tf.cast(start, tf.int64)
    rest = tf.strings.substr(data, start, tf.constant(_SEARCHED_BYTES, tf.int64))
    pieces = tf.raw_ops.StringSplitV2(input=tf.reshape(rest, [1]), sep=text, maxsplit=1).values
    return (tf.equal(tf.size(pieces), 2),
            start + tf.cast(tf.strings.length(pieces[0]), tf.int64))


def _gif_transparent_to_white(data):
    """The GIF with its first frame's transparent colour made an opaque white.

    TensorFlow's GIF decoder leaves transparent pixels of the first frame black;
    clearing the transparency flag of the frame's graphic control extension (21 F9 04
    flags delay delay index 00, right before the image descriptor 2C) and making the
    transparent palette entry white gives those pixels the white of compositing.
    Another layout, or bytes that are not a GIF, leave `data` as it is. (GIF89a
    sections 18, 20, 23.)
    """

    def entries(flags):  # colour table entries announced by a packed field
        return tf.where(flags >= 128, tf.bitwise.left_shift(tf.constant(2, tf.int64), flags % 8),
                        tf.constant(0, tf.int64))

    global_entries = entries(_bytes(data, 10, 1)[0])
    found, control = _find(data, b"\x21\xf9\x04", 13 + 3 * global_entries)
    # Flags, index, terminator, image separator, image flags (at control + 17).
    flags, index, end, separator, image_flags = tf.unstack(
        tf.gather(_bytes(data, control + 3, 15), [0, 3, 4, 5, 14]))
    local_entries = entries(image_flags)
    table = tf.where(local_entries > 0, control + 18, 13)
    count = tf.where(local_entries > 0, local_entries, global_entries)
    ok = tf.reduce_all([
        tf.equal(tf.strings.substr(data, 0, 4), "GIF8"),
        found, tf.equal(flags % 2, 1), tf.equal(end, 0), tf.equal(separator, 0x2C),
        index < count, table + 3 * count <= tf.cast(tf.strings.length(data), tf.int64),
    ])
    # Without all that, the same bytes are written back where they were.
    length = tf.cast(tf.strings.length(data), tf.int64)
    control, entry = tf.minimum(control + 3, length), tf.minimum(table + 3 * index, length)
    flags = tf.strings.substr(_ALL_BYTES, tf.where(ok, flags - 1, flags), 1)
    data = _replace(data, control, tf.where(ok, flags, tf.strings.substr(data, control, 1)))
    return _replace(data, entry, tf.where(ok, b"\xff" * 3, tf.strings.substr(data, entry, 3)))


_ALL_BYTES = bytes(range(256))


def _replace(data, position, new):
    """`data` with the bytes from `position` on replaced by the string `new`."""
    rest = position + tf.cast(tf.strings.length(new), tf.int64)
    return tf.strings.join([
        tf.strings.substr(data, tf.constant(0, tf.int64), position),
        new,
        tf.strings.substr(data, rest, tf.constant(1 << 62, tf.int64)),
    ])


def _keyed_png(data):
    """Pixels equal to the `tRNS` colour of a gray or RGB PNG become white.

    (PNG 1.2, sections 4.2.1.1 and 11.3.2.1: a `tRNS` chunk of 2 bytes for gray, 6 for
    RGB, each sample big-endian at the image's bit depth, before the image data.)
    """
    depth, colour_type = tf.unstack(_bytes(data, 24, 2))
    samples = tf.where(tf.equal(colour_type, 2), 3, 1)  # RGB or gray
    found, at = _find(data, b"tRNS")
    chunk = _bytes(data, at - 4, 14)  # length (big-endian), "tRNS", up to 3 samples
    length = tf.reduce_sum(chunk[:4] * [1 << 24, 1 << 16, 1 << 8, 1])
    found = tf.logical_and(found, tf.equal(length, 2 * tf.cast(samples, tf.int64)))
    # Samples of fewer than 16 bits come out of the uint16 decoder scaled to 0..65535.
    top = tf.bitwise.left_shift(tf.constant(1, tf.int64), tf.minimum(depth, 16)) - 1
    scale = tf.where(depth >= 16, tf.constant(1, tf.int64), 255 // tf.maximum(top, 1) * 257)
    colour = (chunk[8::2] * 256 + chunk[9::2]) * scale
    image = _decode(data, tf.uint16)
    colour = tf.cast(colour[: tf.shape(image)[-1]], tf.int32)
    keyed = tf.reduce_all(tf.equal(tf.cast(image, tf.int32), colour), axis=-1, keepdims=True)
    high_byte = tf.cast(tf.bitwise.right_shift(image, 8), tf.uint8)
    return tf.where(tf.logical_and(keyed, found), tf.constant(255, tf.uint8), high_byte)


def _separate(function):
    """`function(data)` as one call op in the caller's graph, not inlined into it.

    Every op of a `tf.data` map function costs time per element, in untaken branches
    too (they are lowered to dead-tensor graph code); these functions serve few
    files, and only a taken branch runs their ops.
    """
    return tf.function(function, input_signature=[tf.TensorSpec([], tf.string)],
                       autograph=False, experimental_attributes={"_noinline": True})


_decode_jpeg_upright = _separate(
    lambda data: apply_orientation(_decode(data), jpeg_orientation(data)))
_decode_gif = _separate(lambda data: _decode(_gif_transparent_to_white(data)))
_decode_keyed_png = _separate(_keyed_png)
_decode_bmp = _separate(lambda data: _bmp_alpha(data, _decode(data)))


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
