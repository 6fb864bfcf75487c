"""EXIF orientation of JPEG photos, read and applied in TensorFlow graph code.

Phones and cameras store the pixels as the sensor read them and record in the EXIF
Orientation tag (0x0112) how to turn them to show the scene upright; image viewers
apply it, `tf.io.decode_jpeg` does not. `jpeg_orientation` finds the tag in the bytes
of a JPEG file and `apply_orientation` turns a decoded image accordingly, so a
portrait photo decodes as a portrait, as `PIL.ImageOps.exif_transpose` shows it.

Both are plain graph ops (a substring search, gathers, a `tf.while_loop` over the
JPEG markers when the EXIF segment is not where it usually is, a transpose and a
reverse), so they run in `tf.data` maps and in exported serving functions. They are
written with few ops: every op of a map function costs time per element (in untaken
branches too) and when each iterator starts.

Sources: EXIF 2.32 (CIPA DC-008-2019) section 4.5.4 (APP1 segment "Exif\\0\\0" holding
a TIFF structure) and 4.6.4 (Orientation, tag 0x0112, SHORT, count 1, values 1-8);
TIFF 6.0 section 2 (byte order "II"/"MM", magic 42, IFD entries of 12 bytes);
ITU-T T.81 annex B (JPEG markers and segment lengths).

>>> import numpy as np, tensorflow as tf
>>> image = tf.constant(np.arange(6, dtype=np.uint8).reshape(2, 3, 1))
>>> apply_orientation(image, 6)[..., 0].numpy().tolist()  # 90 degrees clockwise
[[3, 0], [4, 1], [5, 2]]
"""

import numpy as np
import tensorflow as tf

# Plain graph code (tf.cond / tf.while_loop, no Python control flow on tensors): keeps
# AutoGraph from rewriting it, which is slow and changes nothing, inside Dataset.map.
_graph_code = tf.autograph.experimental.do_not_convert

ORIENTATION_TAG = 0x0112
# The EXIF segment follows the start of image (after at most a few other segments):
# it is looked for in the first 256 KiB, which bounds the bytes copied for a photo.
SEARCHED_BYTES = 1 << 18


def _weights(*fields):
    """Rows that turn a vector of bytes into numbers: `(start, size, big_endian)`."""
    rows = np.zeros((len(fields), 16))
    for row, (start, size, big_endian) in enumerate(fields):
        for i in range(size):
            rows[row, start + i] = 256.0 ** (size - 1 - i if big_endian else i)
    return rows


# From the 16 bytes after an APP1 marker (length, "Exif\0\0", TIFF header): the segment
# length, the byte order mark, and the magic number and IFD0 offset in both orders.
_HEADER_FIELDS = _weights((0, 2, True), (8, 2, True), (10, 2, False), (10, 2, True),
                          (12, 4, False), (12, 4, True))
# From a 12-byte IFD entry (and 2-byte counts): tag, type, count and the SHORT value
# (the first 2 bytes of the value field), little- then big-endian.
_ENTRY_FIELDS = _weights((0, 2, False), (2, 2, False), (4, 4, False), (8, 2, False),
                         (0, 2, True), (2, 2, True), (4, 4, True), (8, 2, True))[:, :12].T
_II, _MM = 0x4949, 0x4D4D
# A marker segment head: FF, APP1 (E1), length (2 bytes), "Exif\0\0"; -1 matches any.
_EXIF_HEAD = np.array([0xFF, 0xE1, -1, -1, *b"Exif", 0, 0])


@_graph_code
def jpeg_orientation(data):
    """The EXIF orientation (1-8) of a JPEG file; 1 when it has none.

    Finds the APP1 segment that starts with "Exif\\0\\0" (right after the start of
    image or a JFIF APP0 segment, else by walking the markers up to the first scan,
    in the first 256 KiB), reads its TIFF header in either byte order ("II"
    little-endian, "MM" big-endian) and looks up tag 0x0112 among the IFD0 entries.
    Never raises on bad bytes: anything missing, truncated or out of range gives 1
    (upright), and so do bytes that are not a JPEG.

    Args:
        data: scalar `tf.string` tensor (or Python bytes) of one encoded image.

    Returns:
        int32 scalar tensor in 1..8 (EXIF 2.32, 4.6.4 "Orientation": 1 upright,
        2 mirrored, 3 rotated 180 degrees, 4 flipped, 5 transposed, 6 to be turned
        90 degrees clockwise, 7 transversed, 8 to be turned 90 degrees anticlockwise).

    >>> int(jpeg_orientation(tf.io.encode_jpeg(tf.zeros((4, 4, 3), tf.uint8))))
    1
    >>> tiff = b"MM\\0*\\0\\0\\0\\x08\\0\\x01" + b"\\x01\\x12\\0\\x03\\0\\0\\0\\x01\\0\\x06\\0\\0"
    >>> app1 = b"\\xff\\xe1" + (len(tiff) + 8).to_bytes(2, "big") + b"Exif\\0\\0" + tiff
    >>> int(jpeg_orientation(b"\\xff\\xd8" + app1 + b"\\xff\\xd9"))
    6
    """
    data = tf.convert_to_tensor(data, dtype=tf.string)
    prefix = tf.strings.substr(data, 0, SEARCHED_BYTES)
    raw = tf.io.decode_raw(prefix, tf.uint8)
    size = tf.size(raw, out_type=tf.int64)
    # Reads past the end (or of an empty file) give 0; the checks below reject them.
    padded = tf.concat([raw, tf.zeros([1], tf.uint8)], 0)

    def read(positions):
        inside = tf.logical_and(positions >= 0, positions < size)
        return tf.cast(tf.gather(padded, tf.where(inside, positions, size)), tf.int64)

    # Usually the segment follows the start of image, or a JFIF APP0 segment: then the
    # first "Exif\0\0" is found without walking the markers.
    before = tf.raw_ops.StringSplitV2(input=tf.reshape(prefix, [1]), sep=b"Exif\0\0",
                                      maxsplit=1).values
    candidate = tf.cast(tf.strings.length(before[0]), tf.int64) - 4
    # Big-endian pairs: start of image, a JFIF APP0 marker and its length, an APP1 marker.
    soi, app0, app0_length, marker = tf.unstack(tf.reduce_sum(tf.reshape(
        read(tf.stack([0, 1, 2, 3, 4, 5, candidate, candidate + 1])), [4, 2]) * [256, 1], 1))
    standard = tf.reduce_all([
        tf.equal(tf.size(before), 2),
        tf.equal(soi, 0xFFD8),
        tf.equal(marker, 0xFFE1),
        tf.logical_or(tf.equal(candidate, 2), tf.logical_and(tf.equal(app0, 0xFFE0),
                                                             tf.equal(candidate, 4 + app0_length))),
    ])
    app1 = tf.cond(standard, lambda: candidate, lambda: _exif_segment(read, size))
    fields = tf.cast(read(app1 + tf.range(2, 18, dtype=tf.int64)), tf.float64)
    length, order, *numbers = tf.unstack(tf.cast(tf.linalg.matvec(_HEADER_FIELDS, fields),
                                                 tf.int64))
    little = tf.equal(order, _II)
    magic, offset = tf.unstack(tf.where(little, numbers[0::2], numbers[1::2]))
    tiff = app1 + 10
    ifd0 = tiff + offset
    # The IFD0 entry count, then the entries (12 bytes each) gathered at once.
    count = tf.cast(read(ifd0 + tf.range(2, dtype=tf.int64)), tf.float64)
    count = tf.cast(tf.where(little, count[0] + 256 * count[1], 256 * count[0] + count[1]),
                    tf.int64)
    valid = tf.reduce_all([
        app1 >= 0,
        tf.logical_or(little, tf.equal(order, _MM)),
        tf.equal(magic, 42),
        ifd0 >= tiff + 8,
        ifd0 + 2 + 12 * count <= tf.minimum(app1 + 2 + length, size),  # inside the segment
    ])
    count = tf.where(valid, count, 0)
    table = read(ifd0 + 2 + 12 * tf.range(count)[:, None] + tf.range(12, dtype=tf.int64))
    entries = tf.linalg.matmul(tf.cast(table, tf.float64), _ENTRY_FIELDS)
    tag, kind, number, value = tf.unstack(
        tf.cast(tf.where(little, entries[:, :4], entries[:, 4:]), tf.int64), axis=1)
    # Orientation is a SHORT (type 3); the value is 0 when the tag is absent.
    match = tf.logical_and(tf.equal(tag, ORIENTATION_TAG),
                           tf.logical_and(tf.equal(kind, 3), number >= 1))
    value = tf.reduce_max(tf.where(match, value, 0))
    return tf.cast(tf.where(tf.logical_and(value >= 1, value <= 8), value, 1), tf.int32)


def _exif_segment(read, size):
    """Position of the first APP1 "Exif\\0\\0" segment before the scan; -1 if none."""

    def cond(position, app1):
        return tf.logical_and(position >= 0, position + 4 <= size)

    def body(position, app1):
        head = read(position + tf.range(10, dtype=tf.int64))
        first, marker, high, low = tf.unstack(head[:4])
        fill = tf.equal(marker, 0xFF)  # fill bytes before a marker
        alone = tf.logical_or(tf.equal(marker, 0x01),  # markers without a length
                              tf.logical_and(marker >= 0xD0, marker <= 0xD7))
        length = high * 256 + low
        exif = tf.logical_and(
            tf.reduce_all(tf.logical_or(tf.equal(head, _EXIF_HEAD), _EXIF_HEAD < 0)), length >= 8)
        stop = tf.reduce_any([
            exif,
            tf.not_equal(first, 0xFF),
            tf.equal(marker, 0xDA),  # start of scan: no metadata after it
            tf.equal(marker, 0xD9),  # end of image
            tf.logical_and(tf.logical_not(tf.logical_or(fill, alone)), length < 2),
        ])
        step = tf.where(fill, one, tf.where(alone, 2 * one, 2 + length))
        return tf.where(stop, -one, position + step), tf.where(exif, position, app1)

    one = tf.constant(1, tf.int64)

    is_jpeg = tf.reduce_all(tf.equal(read(tf.range(2, dtype=tf.int64)), [0xFF, 0xD8]))
    start = tf.where(is_jpeg, 2 * one, -one)  # no loop if not a JPEG
    _, app1 = tf.while_loop(cond, body, (start, -one),
                            maximum_iterations=4096)
    return app1


@_graph_code
def apply_orientation(image, orientation):
    """Turns an image decoded as stored into the way its EXIF orientation shows it.

    The same transforms as `PIL.ImageOps.exif_transpose`: 1 as is, 2 mirrored
    left-right, 3 rotated 180 degrees, 4 flipped upside down, 5 transposed (rows
    become columns), 6 rotated 90 degrees clockwise, 7 transversed (transposed and
    rotated 180 degrees), 8 rotated 90 degrees anticlockwise. Orientations 5-8 swap
    height and width.

    Args:
        image: tensor of shape `(height, width, channels)`, any dtype.
        orientation: int scalar (Python or tensor), the EXIF Orientation value; values
            outside 1..8 are taken as 1.

    Returns:
        tensor of the same dtype, of shape `(height, width, channels)` or
        `(width, height, channels)` for orientations 5-8.

    >>> import numpy as np
    >>> image = tf.constant(np.arange(6, dtype=np.uint8).reshape(2, 3, 1))
    >>> apply_orientation(image, 3)[..., 0].numpy().tolist()
    [[5, 4, 3], [2, 1, 0]]
    >>> apply_orientation(image, 8)[..., 0].numpy().tolist()
    [[2, 5], [1, 4], [0, 3]]
    """
    image = tf.convert_to_tensor(image)
    orientation = tf.cast(orientation, tf.int32)
    valid = tf.logical_and(orientation >= 1, orientation <= 8)
    steps = tf.gather(_STEPS, tf.where(valid, orientation, 1))
    # Identity permutations and empty axis lists return the input without a copy.
    image = tf.transpose(image, tf.where(steps[0], [1, 0, 2], [0, 1, 2]))
    return tf.reverse(image, tf.where(steps[1:])[:, 0])


# Per orientation (0 unused): transpose?, then reverse rows?, reverse columns?
_STEPS = np.array(
    [[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0], [1, 0, 0], [1, 0, 1], [1, 1, 1],
     [1, 1, 0]], bool)
