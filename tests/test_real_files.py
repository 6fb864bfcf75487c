"""Image files as people have them, written by Pillow, decoded by mmzoo, compared with Pillow.

Phone photos with an EXIF orientation, transparent PNGs/GIFs/BMPs, 16-bit PNGs, CMYK
and progressive JPEGs, and grayscale and colour files mixed in one dataset.
"""

import io
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from mmzoo.preprocessing.exif import apply_orientation, jpeg_orientation
from mmzoo.preprocessing.image import ImagePreprocessing, decode_image, preprocess_image

WHITE = (255, 255, 255, 255)


def save(tmp_path, image, name, **options):
    """Writes `image` with Pillow into `tmp_path / name`; returns the file's bytes."""
    path = tmp_path / name
    image.save(path, **options)
    return path.read_bytes()


def photo(width=48, height=32):
    """An RGB picture whose every 90-degree turn and mirror image looks different."""
    y, x = np.mgrid[:height, :width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) % 64 * 4], -1)
    pixels[:6, :10] = [255, 255, 0]  # a yellow block in the top-left corner
    pixels[-4:, -3:] = [0, 0, 255]
    return Image.fromarray(pixels.astype(np.uint8))


def pixels(data, mode="RGB"):
    """What Pillow shows for `data`: EXIF applied, transparency over white, as `mode`."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    image = Image.alpha_composite(Image.new("RGBA", image.size, WHITE), image.convert("RGBA"))
    return np.asarray(image.convert(mode)).astype(int).reshape(image.size[1], image.size[0], -1)


def jpeg_with_orientation(tmp_path, orientation, endian=">"):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif.endian = endian
    return save(tmp_path, photo(), "photo.jpg", exif=exif.tobytes(), quality=95)


# EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("endian", ["<", ">"], ids=["II", "MM"])
def test_exif_orientation_matches_pillow(tmp_path, orientation, endian):
    data = jpeg_with_orientation(tmp_path, orientation, endian)
    assert data[data.index(b"Exif\0\0") + 6 :][:2] == (b"II" if endian == "<" else b"MM")
    assert int(jpeg_orientation(data)) == orientation
    image = decode_image(data, channels=3).numpy().astype(int)
    expected = pixels(data)
    assert image.shape == expected.shape == ((32, 48, 3) if orientation < 5 else (48, 32, 3))
    assert np.abs(image - expected).mean() < 2  # measured 0.8 (two JPEG decoders)
    if orientation != 1 and image.shape == (32, 48, 3):  # not a no-op on this picture
        assert np.abs(image - np.asarray(photo()).astype(int)).mean() > 20
    gray = decode_image(data, channels=1).numpy().astype(int)
    assert np.abs(gray - pixels(data, "L")).mean() < 2


def test_orientation_in_layer_tf_function_and_dataset(tmp_path):
    files = [jpeg_with_orientation(tmp_path, o) for o in (6, 1, 8, 3)]
    expected = np.stack([pixels(data) / 255 for data in files[::2]])  # both 48 x 32
    layer = ImagePreprocessing(size=(48, 32), channels=3, mode="stretch")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(batch):
        return layer(batch)

    out = serve(tf.constant(files)).numpy()
    assert out.shape == (4, 48, 32, 3)
    assert np.abs(out[::2] - expected).mean() < 0.01  # 6 and 8: already 48 x 32 upright
    assert np.abs(out[0] - out[2]).mean() > 0.1  # turned opposite ways
    ds = tf.data.Dataset.from_tensor_slices(files).map(
        lambda data: preprocess_image(data, (48, 32), channels=3, mode="stretch"))
    np.testing.assert_allclose(np.stack(list(ds.as_numpy_iterator())), out, atol=1e-6)
    shapes = tf.data.Dataset.from_tensor_slices(files).map(lambda d: tf.shape(decode_image(d)))
    assert [tuple(s) for s in shapes.as_numpy_iterator()] == [
        (48, 32, 3), (32, 48, 3), (48, 32, 3), (32, 48, 3)]


def _app1(tiff):
    return b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\0\0" + tiff


def _tiff(orientation, order="MM", kind=3, count=1, ifd_offset=8, entries=None):
    f = ">" if order == "MM" else "<"
    entry = struct.pack(f + "HHI", 0x0112, kind, count)
    value = (orientation, 0) if kind == 3 else (orientation,)
    entry += struct.pack(f + ("HH" if kind == 3 else "I"), *value)
    n = 1 if entries is None else entries
    next_ifd = struct.pack(f + "I", 0)
    return (order.encode() + struct.pack(f + "HI", 42, ifd_offset) + struct.pack(f + "H", n)
            + entry + next_ifd)


def _insert_after_soi(jpeg, segment):
    return jpeg[:2] + segment + jpeg[2:]


def test_exif_behind_other_segments_and_fill_bytes(tmp_path):
    plain = save(tmp_path, photo(), "plain.jpg", quality=95)
    comment = b"\xff\xfe" + struct.pack(">H", 9) + b"made up"
    icc = b"\xff\xe2" + struct.pack(">H", 20) + b"ICC_PROFILE\0" + bytes(6)
    for order in ("MM", "II"):
        data = _insert_after_soi(plain, comment + icc + b"\xff\xff" + _app1(_tiff(6, order)))
        assert int(jpeg_orientation(data)) == 6
        np.testing.assert_array_equal(decode_image(data), apply_orientation(decode_image(plain), 6))
        assert np.abs(decode_image(data).numpy().astype(int) - pixels(data)).mean() < 2


@pytest.mark.parametrize(
    "segment",
    [
        _app1(_tiff(9)),  # not an orientation
        _app1(_tiff(0)),
        _app1(b"XX" + _tiff(6)[2:]),  # no byte order
        _app1(b"MM\0\x2b" + _tiff(6)[4:]),  # magic 43
        _app1(_tiff(6, ifd_offset=4000)),  # IFD0 outside the segment
        _app1(_tiff(6, ifd_offset=2)),  # IFD0 inside the header
        _app1(_tiff(6, entries=2)),  # more entries than the segment holds
        _app1(_tiff(6, kind=4)),  # a LONG, not a SHORT
        _app1(_tiff(6, count=0)),
        _app1(_tiff(6)[:-6]),  # the entry cut short
        b"\xff\xe1\0\x01",  # segment length below 2
        b"\xff\xe1" + struct.pack(">H", 20) + b"Exif\0\0" + bytes(12),  # all zeros
        b"\xff\xe1" + struct.pack(">H", 14) + b"XMP\0\0\0" + _tiff(6)[:6],  # not Exif
    ],
    ids=["value-9", "value-0", "byte-order", "magic", "ifd-far", "ifd-early", "count-2",
         "long", "count-0", "cut-entry", "length-1", "zeros", "not-exif"],
)
def test_malformed_exif_means_upright(tmp_path, segment):
    plain = save(tmp_path, photo(), "plain.jpg", quality=95)
    data = _insert_after_soi(plain, segment)
    assert int(jpeg_orientation(data)) == 1
    if segment[2:4] != b"\0\x01":  # a segment length below 2 breaks the JPEG itself
        np.testing.assert_array_equal(decode_image(data), decode_image(plain))


def test_exif_parser_never_fails_on_damaged_bytes(tmp_path):
    data = jpeg_with_orientation(tmp_path, 6)
    rng = np.random.default_rng(0)
    header = data.index(b"\xff\xdb")  # the metadata before the quantization tables
    for _ in range(40):
        damaged = bytearray(data)
        for position in rng.integers(2, header, 4):
            damaged[position] = rng.integers(0, 256)
        assert 1 <= int(jpeg_orientation(bytes(damaged))) <= 8
    for cut in (0, 1, 3, 10, 25, header):
        assert int(jpeg_orientation(data[:cut])) in (1, 6)
    png = tf.io.encode_png(np.zeros((2, 2, 1), np.uint8))
    for other in (b"", b"\xff\xd8", b"not an image", png):
        assert int(jpeg_orientation(other)) == 1


def test_non_jpeg_files_are_not_turned(tmp_path):
    picture = photo()
    exif = Image.Exif()
    exif[0x0112] = 6
    png = save(tmp_path, picture, "photo.png", exif=exif.tobytes())  # an eXIf chunk
    assert b"eXIf" in png
    np.testing.assert_array_equal(decode_image(png), np.asarray(picture))


# Transparency: composited over white


def palette_image(size=(6, 5), seed=0):
    image = Image.new("P", size)
    image.putpalette([255, 0, 0, 0, 160, 0, 0, 0, 255, 40, 40, 40] + [0] * 756)
    indices = np.random.default_rng(seed).integers(0, 4, size[0] * size[1])
    indices[:3] = 0
    image.putdata([int(i) for i in indices])
    return image


@pytest.mark.parametrize("fmt", ["png", "gif"])
def test_palette_transparency_is_white(tmp_path, fmt):
    data = save(tmp_path, palette_image(), f"p.{fmt}", transparency=0)  # index 0: red
    image = decode_image(data, channels=3).numpy().astype(int)
    np.testing.assert_array_equal(image, pixels(data))
    np.testing.assert_array_equal(image[0, :3], [[255, 255, 255]] * 3)
    assert not np.any(np.all(image == [255, 0, 0], axis=-1))  # no red left
    assert np.abs(decode_image(data, 1).numpy().astype(int) - pixels(data, "L")).max() <= 1


def test_gif_with_local_palette_and_extensions(tmp_path):
    """A GIF whose transparent colour lies in the frame's own (local) palette, after a
    comment and a looping extension: the frame's transparent pixels come out white."""
    indices = np.random.default_rng(1).integers(0, 4, (5, 6)).astype(np.uint8)
    indices[0, :2] = 2
    local = bytes([10, 20, 30, 200, 0, 0, 0, 0, 200, 90, 90, 90])
    comment = b"\x21\xfe\x05hello\x00"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    control = b"\x21\xf9\x04\x01\x00\x00\x02\x00"  # transparent index 2
    lzw = _lzw_literal(indices.ravel(), 2)
    gif = (b"GIF89a" + struct.pack("<HHBBB", 6, 5, 0x80, 0, 0) + bytes(6)  # 2-entry global
           + comment + loop + control + b"\x2c" + struct.pack("<HHHHB", 0, 0, 6, 5, 0x81)
           + local + lzw + b"\x3b")
    path = tmp_path / "local.gif"
    path.write_bytes(gif)
    image = decode_image(gif).numpy().astype(int)
    np.testing.assert_array_equal(image, pixels(gif))
    palette = np.frombuffer(local, np.uint8).reshape(4, 3)
    np.testing.assert_array_equal(image, np.where(indices[..., None] == 2, 255, palette[indices]))


def _lzw_literal(indices, min_code_size):
    """GIF image data with literal codes only and a clear code before the code size grows."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    width, codes = min_code_size + 1, []
    for i, index in enumerate(indices):
        if i % ((1 << width) - end - 1) == 0:
            codes.append(clear)
        codes.append(int(index))
    codes.append(end)
    bits = sum(code << (width * i) for i, code in enumerate(codes))
    stream = bits.to_bytes((width * len(codes) + 7) // 8, "little")
    return bytes([min_code_size, len(stream)]) + stream + b"\0"


def test_rgba_and_gray_alpha_png(tmp_path):
    rng = np.random.default_rng(2)
    rgba = rng.integers(0, 256, (7, 9, 4)).astype(np.uint8)
    rgba[0, 0, 3], rgba[0, 1, 3] = 0, 255
    data = save(tmp_path, Image.fromarray(rgba, "RGBA"), "rgba.png")
    image = decode_image(data).numpy().astype(int)
    assert np.abs(image - pixels(data)).max() <= 1  # Pillow's integer blend rounds its way
    np.testing.assert_array_equal(image[0, :2], [[255, 255, 255], rgba[0, 1, :3]])
    gray_alpha = rng.integers(0, 256, (7, 9, 2)).astype(np.uint8)
    data = save(tmp_path, Image.fromarray(gray_alpha, "LA"), "la.png")
    for channels, mode in ((1, "L"), (3, "RGB")):
        image = decode_image(data, channels).numpy().astype(int)
        assert np.abs(image - pixels(data, mode)).max() <= 1


def _png(pixels, depth, colour_type, key):
    """A PNG of `depth`-bit samples (packed rows) with a `tRNS` colour key."""
    height, width = pixels.shape[:2]
    if depth < 8:
        rows = np.packbits(np.unpackbits(pixels.astype(np.uint8)[..., None], axis=-1)[..., -depth:]
                           .reshape(height, width * depth), axis=-1)
    else:
        rows = pixels.astype(">u2" if depth == 16 else np.uint8).reshape(height, -1).view(np.uint8)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)

    def chunk(kind, body):
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", b"Comment\0hi")
            + chunk(b"tRNS", struct.pack(">" + "H" * len(key), *key))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(
    "colour_type, depth",
    [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16)],
    ids=["gray-1", "gray-2", "gray-4", "gray-8", "gray-16", "rgb-8", "rgb-16"],
)
def test_gray_and_rgb_png_with_a_transparent_colour(tmp_path, colour_type, depth):
    top = (1 << depth) - 1
    samples = 3 if colour_type == 2 else 1
    values = np.random.default_rng(depth).integers(0, top + 1, (6, 8, samples))
    key = [top // 3 + 1, 0, top][:samples]
    values[0, :6] = key
    values[1, :4] = [top // 3 + 1, top, top][:samples]  # only partly the key
    data = _png(values[..., 0] if samples == 1 else values, depth, colour_type, key)
    (tmp_path / "key.png").write_bytes(data)
    keyed = np.all(values == key, axis=-1, keepdims=True)
    eight_bit = values >> 8 if depth == 16 else values * (255 // top)
    expected = np.where(keyed, 255, eight_bit).astype(int)
    if samples == 1:
        expected = expected.repeat(3, -1)
    decoded = decode_image(data).numpy().astype(int)
    np.testing.assert_array_equal(decoded, expected)
    if depth == 8:  # Pillow applies the key at 8 bits only (reads 16-bit RGB as 8-bit)
        np.testing.assert_array_equal(decoded, pixels(data))
    assert keyed.sum() >= 6 and np.all(decoded[0, :6] == 255)


def test_bmp_alpha_only_with_an_alpha_mask(tmp_path):
    rgba = np.random.default_rng(4).integers(0, 256, (3, 5, 4)).astype(np.uint8)
    rgba[..., 3] = [0, 64, 128, 255, 9]
    rows = b"".join(rgba[y, :, [2, 1, 0, 3]].T.tobytes() for y in range(2, -1, -1))
    plain = struct.pack("<IiiHHIIiiII", 40, 5, 3, 1, 32, 0, len(rows), 2835, 2835, 0, 0)
    masks = struct.pack("<IIII", 0xFF0000, 0xFF00, 0xFF, 0xFF000000)
    v4 = struct.pack("<IiiHHIIiiII", 108, 5, 3, 1, 32, 3, len(rows), 2835, 2835, 0, 0)
    v4 += masks + b"\0" * 52
    for info, alpha in ((plain, False), (v4, True)):
        data = struct.pack("<2sIHHI", b"BM", 14 + len(info) + len(rows), 0, 0, 14 + len(info))
        data += info + rows
        (tmp_path / "a.bmp").write_bytes(data)
        assert Image.open(tmp_path / "a.bmp").mode == ("RGBA" if alpha else "RGB")
        image = decode_image(data).numpy().astype(int)
        assert np.abs(image - pixels(data)).max() <= 1
        if not alpha:  # the fourth byte of a BI_RGB file is padding
            np.testing.assert_array_equal(image, rgba[..., :3])


# Bit depths and JPEG variants


def test_16_bit_png_keeps_the_high_byte(tmp_path):
    values = np.array([[0, 255, 256, 0x12FF, 0x8000], [0xFEFF, 0xFF00, 65534, 65535, 1]],
                      np.uint16)
    expected = (values >> 8).astype(np.uint8)  # scaled, not wrapped (values & 255)
    gray = save(tmp_path, Image.fromarray(values), "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode == "I;16"
    np.testing.assert_array_equal(decode_image(gray, 1)[..., 0], expected)
    rgb = np.stack([values, 65535 - values, values // 3], -1)
    data = tf.io.encode_png(rgb).numpy()  # Pillow cannot write 16-bit RGB; it reads it
    (tmp_path / "rgb16.png").write_bytes(data)
    assert data[24] == 16
    decoded = decode_image(data, 3).numpy()
    np.testing.assert_array_equal(decoded, (rgb >> 8).astype(np.uint8))
    np.testing.assert_array_equal(decoded, pixels(data))
    assert np.abs(decoded.astype(int) - np.round(rgb / 257)).max() <= 1


def test_cmyk_jpeg_matches_pillow(tmp_path):
    picture = np.asarray(photo())
    cmyk = Image.fromarray(picture).convert("CMYK")
    data = save(tmp_path, cmyk, "cmyk.jpg", quality=95)
    assert b"Adobe" in data and Image.open(io.BytesIO(data)).mode == "CMYK"
    image = decode_image(data, 3).numpy().astype(int)
    assert image.shape == (32, 48, 3)
    assert np.abs(image - pixels(data)).mean() < 2  # Pillow's own CMYK -> RGB
    assert np.abs(image - picture).mean() < 4  # and near the RGB it came from
    assert np.abs(decode_image(data, 1).numpy().astype(int) - pixels(data, "L")).mean() < 2


def test_progressive_jpeg_matches_pillow(tmp_path):
    data = save(tmp_path, photo(), "progressive.jpg", progressive=True, quality=95)
    assert b"\xff\xc2" in data  # a progressive frame
    image = decode_image(data).numpy().astype(int)
    assert np.abs(image - pixels(data)).mean() < 2
    baseline = save(tmp_path, photo(), "baseline.jpg", quality=95)
    assert np.abs(image - decode_image(baseline).numpy().astype(int)).mean() < 2


def test_gray_and_colour_files_mixed_in_one_dataset(tmp_path):
    picture = photo()
    files = [
        save(tmp_path, picture, "c.png"),
        save(tmp_path, picture.convert("L"), "g.png"),
        save(tmp_path, picture, "c.jpg", quality=95),
        save(tmp_path, picture.convert("L"), "g.jpg", quality=95),
        save(tmp_path, picture.convert("P"), "p.gif"),
        save(tmp_path, picture, "c.bmp"),
        save(tmp_path, picture.convert("LA"), "la.png"),
        jpeg_with_orientation(tmp_path, 3),
    ]
    for channels, mode in ((3, "RGB"), (1, "L")):
        ds = tf.data.Dataset.from_tensor_slices(files).map(lambda d: decode_image(d, channels))
        assert ds.element_spec.shape.as_list() == [None, None, channels]
        batch = next(iter(ds.batch(len(files)))).numpy().astype(int)
        assert batch.shape == (len(files), 32, 48, channels)
        for image, data in zip(batch, files, strict=True):
            assert np.abs(image - pixels(data, mode)).mean() < 2


def test_rare_formats_through_a_saved_model(tmp_path):
    """EXIF, transparency and BMP alpha in a SavedModel's serving function, as exported."""
    rgba = np.zeros((32, 48, 4), np.uint8)
    rgba[..., 0], rgba[:, :24, 3] = 200, 255  # left half opaque red, right half clear
    files = [
        jpeg_with_orientation(tmp_path, 6),
        save(tmp_path, palette_image((48, 32)), "p.gif", transparency=0),
        save(tmp_path, Image.fromarray(rgba, "RGBA"), "half.png"),
        save(tmp_path, photo(), "plain.png"),
    ]
    layer = ImagePreprocessing(size=(40, 40), channels=3, mode="pad")
    module = tf.Module()
    module.serve = tf.function(layer.call, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "served"))
    served = tf.saved_model.load(str(tmp_path / "served")).serve(tf.constant(files)).numpy()
    np.testing.assert_allclose(served, layer(tf.constant(files)), atol=1e-6)
    for out, data in zip(served, files, strict=True):
        expected = preprocess_image(data, (40, 40), 3, "pad").numpy()
        np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.allclose(served[2][12:28, 25:35], 1.0)  # the clear half is white
