"""Image preprocessing on real MNIST digits encoded as PNG, JPEG, BMP and GIF."""

import gzip
import struct

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmzoo.preprocessing.image import (
    ImagePreprocessing,
    decode_image,
    image_augmentation,
    preprocess_image,
    resize_image,
)

# No PIL here: BMP and GIF are written by the two small encoders below.


def encode_bmp(image):
    """24-bit uncompressed BMP (bottom-up rows, BGR, rows padded to 4 bytes)."""
    image = np.asarray(image, np.uint8)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    height, width, _ = image.shape
    padding = b"\0" * ((-width * 3) % 4)
    rows = b"".join(image[y, :, ::-1].tobytes() + padding for y in range(height - 1, -1, -1))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(rows), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return header + info + rows


def encode_gif(frames, palette):
    """GIF89a of palette-index frames `(h, w)` with a 256-colour global palette.

    The LZW stream holds literal codes only, with a clear code every 250 codes so
    the code width stays at 9 bits: valid, just not compressed.
    """
    height, width = frames[0].shape
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0)
    out += np.asarray(palette, np.uint8).tobytes()
    for frame in frames:
        out += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control extension
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
        codes = []
        for i, value in enumerate(np.asarray(frame, np.uint8).ravel()):
            if i % 250 == 0:
                codes.append(256)  # clear
            codes.append(int(value))
        codes.append(257)  # end of information
        stream, bits, count = bytearray(), 0, 0
        for code in codes:
            bits |= code << count
            count += 9
            while count >= 8:
                stream.append(bits & 255)
                bits >>= 8
                count -= 8
        if count:
            stream.append(bits & 255)
        blocks = b"".join(
            bytes([len(stream[i : i + 255])]) + bytes(stream[i : i + 255])
            for i in range(0, len(stream), 255)
        )
        out += bytes([8]) + blocks + b"\0"
    return out + b"\x3b"


GRAY_PALETTE = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)


def encode(image, fmt):
    if fmt == "png":
        return tf.io.encode_png(image).numpy()
    if fmt == "jpeg":
        return tf.io.encode_jpeg(image, quality=100).numpy()
    if fmt == "bmp":
        return encode_bmp(image)
    return encode_gif([image[..., 0]], GRAY_PALETTE)


@pytest.fixture(scope="module")
def digits(data_dir):
    with gzip.open(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:4].copy()


@pytest.fixture(scope="module")
def color_image(digits):
    """An odd-sized 17x43 RGB image: a digit stretched over distinct channel ramps."""
    digit = tf.image.resize(digits[0], (17, 43), method="nearest").numpy()[..., 0]
    ramp = np.linspace(0, 255, 43, dtype=np.float32)[None, :]
    return np.stack([digit, np.broadcast_to(ramp, (17, 43)), 255 - digit], -1).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "bmp", "gif"])
@pytest.mark.parametrize("channels", [1, 3])
def test_decode_mnist_digit_in_every_format(digits, fmt, channels):
    image = decode_image(encode(digits[1], fmt), channels=channels)
    assert image.dtype == tf.uint8 and tuple(image.shape) == (28, 28, channels)
    error = np.abs(image.numpy().astype(int) - digits[1].astype(int))  # gray -> RGB repeats
    if fmt == "jpeg":
        assert error.mean() < 3
    else:
        assert error.max() == 0


@pytest.mark.parametrize("fmt", ["png", "bmp"])
def test_decode_odd_sized_rgb_both_ways(color_image, fmt):
    data = encode(color_image, fmt)
    np.testing.assert_array_equal(decode_image(data, channels=3), color_image)
    gray = decode_image(data, channels=1)
    np.testing.assert_array_equal(gray, tf.image.rgb_to_grayscale(color_image))
    assert tuple(gray.shape) == (17, 43, 1)


def test_decode_composites_alpha_over_white(color_image):
    """Alpha is composited over white: `(colour * a + 255 * (255 - a)) / 255`, rounded."""
    alpha = np.tile(np.array([0, 9, 128, 254, 255], np.uint8), 9)[:43]
    alpha = np.broadcast_to(alpha[None, :, None], (17, 43, 1))
    over_white = (color_image.astype(int) * alpha + 255 * (255 - alpha.astype(int)) + 127) // 255
    rgba = tf.io.encode_png(np.concatenate([color_image, alpha], -1))
    np.testing.assert_array_equal(decode_image(rgba, 3), over_white)
    np.testing.assert_array_equal(decode_image(rgba, 1), tf.image.rgb_to_grayscale(
        over_white.astype(np.uint8)))
    opaque = tf.io.encode_png(np.concatenate([color_image, alpha * 0 + 255], -1))
    np.testing.assert_array_equal(decode_image(opaque, 3), color_image)
    gray_alpha = tf.io.encode_png(np.concatenate([color_image[..., :1], alpha], -1))
    np.testing.assert_array_equal(decode_image(gray_alpha, 1), over_white[..., :1])
    np.testing.assert_array_equal(decode_image(gray_alpha, 3)[..., 2], over_white[..., 0])


def test_decode_gif_first_frame(digits):
    gif = encode_gif([digits[2][..., 0], digits[3][..., 0]], GRAY_PALETTE)
    np.testing.assert_array_equal(decode_image(gif, channels=1), digits[2])


@pytest.mark.parametrize(
    "data",
    [b"not an image at all", b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 20],
    ids=["text", "empty", "png-header-only"],
)
def test_undecodable_bytes_raise(data):
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_image(data)


def test_truncated_png_raises(digits):
    data = tf.io.encode_png(digits[0]).numpy()
    with pytest.raises(tf.errors.InvalidArgumentError):
        preprocess_image(data[: len(data) // 2], size=(28, 28))


def test_resize_pad_keeps_aspect_ratio_and_centres():
    white = np.full((17, 43, 1), 255, np.uint8)
    out = resize_image(white, (32, 32), mode="pad").numpy()[..., 0]
    # 17x43 scaled by 32/43 -> 13x32, centred: rows 9..21 are the image.
    assert out.dtype == np.float32 and out.shape == (32, 32)
    np.testing.assert_allclose(out[9:22], 1.0, atol=1e-6)
    assert np.all(out[:9] == 0) and np.all(out[22:] == 0)


def test_resize_crop_takes_the_centre():
    halves = np.zeros((10, 40, 1), np.uint8)
    halves[:, 20:] = 255
    out = resize_image(halves, (10, 10), mode="crop").numpy()[..., 0]
    np.testing.assert_allclose(out[:, :5], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[:, 5:], 1.0, atol=1e-6)


def test_resize_stretch_and_scaling(digits):
    out = resize_image(digits[0], (56, 14), mode="stretch")
    assert tuple(out.shape) == (56, 14, 1)
    assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
    # Same size: only the uint8 -> [0, 1] scaling.
    for mode in ("pad", "crop", "stretch"):
        np.testing.assert_allclose(
            resize_image(digits[0], (28, 28), mode), digits[0] / 255, atol=1e-6
        )
    # Float input is taken as already in [0, 1].
    np.testing.assert_allclose(
        resize_image(digits[0] / 255, (28, 28), "stretch"), digits[0] / 255, atol=1e-6
    )


@pytest.mark.parametrize("fmt", ["png", "jpeg", "bmp", "gif"])
def test_preprocess_image_output(digits, fmt):
    out = preprocess_image(encode(digits[0], fmt), size=(20, 36), channels=3, mode="pad")
    assert out.dtype == tf.float32 and tuple(out.shape) == (20, 36, 3)
    assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
    assert float(tf.reduce_max(out)) > 0.5  # the digit is there


def test_preprocess_in_dataset_map_graph_mode(digits, color_image):
    files = [encode(digits[0], "png"), encode(color_image, "bmp"), encode(digits[1], "gif")]
    ds = tf.data.Dataset.from_tensor_slices(files).map(
        lambda data: preprocess_image(data, (24, 24), channels=1, mode="crop")
    )
    assert ds.element_spec.shape == (24, 24, 1)
    out = list(ds.batch(3))[0]
    for i, data in enumerate(files):
        np.testing.assert_allclose(out[i], preprocess_image(data, (24, 24), 1, "crop"), atol=1e-6)
    broken = tf.data.Dataset.from_tensor_slices([b"broken"]).map(
        lambda d: preprocess_image(d, (8, 8))
    )
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(broken)


def test_layer_batch_config_and_keras_file(tmp_path, digits, color_image):
    batch = tf.constant(
        [
            encode(digits[0], "png"),
            encode(digits[1], "jpeg"),
            encode(color_image, "bmp"),
            encode(digits[3], "gif"),
        ]
    )
    layer = ImagePreprocessing(size=(16, 20), channels=3, mode="stretch", name="image_pre")
    out = layer(batch)
    assert tuple(out.shape) == (4, 16, 20, 3) and out.dtype == tf.float32
    for i in range(4):
        np.testing.assert_allclose(
            out[i], preprocess_image(batch[i], (16, 20), 3, "stretch"), atol=1e-6
        )
    np.testing.assert_allclose(layer(tf.reshape(batch, (4, 1))), out)  # (batch, 1) input

    restored = ImagePreprocessing.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    np.testing.assert_allclose(restored(batch), out)

    inputs = keras.Input(shape=(), dtype="string", name="image")
    model = keras.Model(inputs, layer(inputs))
    assert model.output_shape == (None, 16, 20, 3)
    model.save(tmp_path / "image.keras")
    loaded = keras.saving.load_model(tmp_path / "image.keras", safe_mode=True)
    np.testing.assert_allclose(loaded(batch), out)


def test_argument_checks():
    png = tf.io.encode_png(np.zeros((4, 4, 1), np.uint8))
    for bad in [(0, 4), (4,), "28", (4.0, 4), (True, 4), None]:
        with pytest.raises(ValueError, match="size"):
            preprocess_image(png, size=bad)
        with pytest.raises(ValueError, match="size"):
            ImagePreprocessing(size=bad)
    for bad in [0, 2, 4, True]:
        with pytest.raises(ValueError, match="channels"):
            decode_image(png, channels=bad)
        with pytest.raises(ValueError, match="channels"):
            ImagePreprocessing(size=(4, 4), channels=bad)
    with pytest.raises(ValueError, match=r"mode.*Received: mode='fit'"):
        resize_image(np.zeros((4, 4, 1), np.uint8), (4, 4), mode="fit")
    with pytest.raises(ValueError, match="mode"):
        ImagePreprocessing(size=(4, 4), mode="fit")
    with pytest.raises(ValueError, match="image"):
        resize_image(np.zeros((4, 4), np.uint8), (4, 4))
    with pytest.raises(ValueError, match="flip"):
        image_augmentation(flip="diagonal")
    for arg in ("translation", "zoom", "contrast"):
        with pytest.raises(ValueError, match=rf"{arg}.*Received: {arg}=1\.5"):
            image_augmentation(**{arg: 1.5})
    with pytest.raises(ValueError, match="seed"):
        image_augmentation(seed="1")


def test_augmentation_only_in_training(digits):
    images = tf.convert_to_tensor(digits / 255, tf.float32)
    augment = image_augmentation(seed=3, flip="horizontal")
    assert [layer.name for layer in augment.layers] == ["flip", "translation", "zoom", "contrast"]
    np.testing.assert_array_equal(augment(images), images)
    np.testing.assert_array_equal(augment(images, training=False), images)
    changed = augment(images, training=True)
    assert changed.shape == images.shape and not np.allclose(changed, images)
    assert 0.0 <= float(tf.reduce_min(changed)) and float(tf.reduce_max(changed)) <= 1.0
    # Same seed, same first draw.
    again = image_augmentation(seed=3, flip="horizontal")(images, training=True)
    np.testing.assert_allclose(again, changed, atol=1e-6)
    assert [layer.name for layer in image_augmentation(zoom=0, contrast=0).layers] == [
        "translation"
    ]


def test_augmentation_keras_file(tmp_path, digits):
    images = tf.convert_to_tensor(digits / 255, tf.float32)
    inputs = keras.Input(shape=(28, 28, 1))
    model = keras.Model(inputs, image_augmentation(seed=1, flip=True)(inputs))
    model.save(tmp_path / "augment.keras")
    loaded = keras.saving.load_model(tmp_path / "augment.keras", safe_mode=True)
    assert isinstance(loaded.layers[-1], keras.Sequential)
    assert [layer.name for layer in loaded.layers[-1].layers] == [
        "flip",
        "translation",
        "zoom",
        "contrast",
    ]
    np.testing.assert_array_equal(loaded(images), images)
    assert not np.allclose(loaded(images, training=True), images)


def test_augmentation_in_dataset_map(digits):
    augment = image_augmentation(seed=0)
    ds = (
        tf.data.Dataset.from_tensor_slices([encode(d, "png") for d in digits])
        .map(lambda data: preprocess_image(data, (28, 28), channels=1))
        .batch(2)
        .map(lambda x: augment(x, training=True))
    )
    batches = list(ds)
    assert [tuple(b.shape) for b in batches] == [(2, 28, 28, 1), (2, 28, 28, 1)]
    assert not np.allclose(batches[0], digits[:2] / 255)
