"""What a table of examples holds: the kind of each column, and sizes read from the data.

`column_kinds` tells image, audio and text columns apart by their values (file
extensions; anything else is text). `image_shape`, `audio_format` and
`text_length` look at a seeded sample of the training rows to size the default
towers: the typical image size, the common sample rate and a duration that covers
most recordings, and a token count that covers most texts.

>>> column_kinds({"photo": ["a.JPG", "b.png"], "caption": ["a cat", "a dog"],
...               "voice": ["x.wav", ""]})
{'photo': 'image', 'caption': 'text', 'voice': 'audio'}
>>> text_length(["a b c", "a b", "a b c d e f g h"])
8
"""

import collections
import os

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
AUDIO_EXTENSIONS = (".wav",)
#: Rows looked at to size the towers.
SAMPLE_ROWS = 200
#: Bounds of the default image side, the audio duration (seconds) and the text length.
IMAGE_SIDE = (16, 128)
MAX_SECONDS = 10.0
TEXT_LENGTH = (8, 256)
#: Sample rates above this are resampled down to it (speech and most sounds fit).
MAX_SAMPLE_RATE = 16000


def column_kinds(columns):
    """The kind (`"image"`, `"audio"` or `"text"`) of each column, from its values.

    A column is an image (audio) column when most of its non-empty values end with
    an image (a WAV) file extension; any other column is text.

    Args:
        columns: dict from column name to its list of values.

    Returns:
        Dict from column name to its kind, in the same order.
    """
    kinds = {}
    for name, values in columns.items():
        present = [str(v).strip().lower() for v in values if v is not None and str(v).strip()]
        counts = collections.Counter(
            "image" if v.endswith(IMAGE_EXTENSIONS) else "audio" if v.endswith(AUDIO_EXTENSIONS)
            else "text" for v in present)
        kind, count = counts.most_common(1)[0] if counts else ("text", 0)
        kinds[name] = kind if kind != "text" and count * 2 > len(present) else "text"
    return kinds


def sample(values, seed=0, count=SAMPLE_ROWS):
    """Up to `count` of `values`, drawn without replacement with `seed`."""
    values = list(values)
    if len(values) <= count:
        return values
    picked = np.random.default_rng(seed).choice(len(values), count, replace=False)
    return [values[i] for i in sorted(picked)]


def image_shape(files, seed=0):
    """A model image shape `(H, W, C)` for image files: their median size, bounded.

    The median height and width of a sample are scaled (keeping their ratio) so that
    neither side exceeds `IMAGE_SIDE[1]` nor falls below `IMAGE_SIDE[0]`, and rounded
    to a multiple of 4. `C` is 1 when every sampled image is grayscale, else 3.

    Args:
        files: image file paths (the training split's).
        seed: seed of the sample.

    Returns:
        A tuple `(height, width, channels)`.
    """
    import tensorflow as tf

    from mmzoo.preprocessing.image import decode_image

    def shape(path):  # decoded as the pipeline does (EXIF rotation included)
        data = tf.io.read_file(path)
        raw = tf.io.decode_image(data, channels=0, expand_animations=False)
        return tf.concat([tf.shape(decode_image(data, channels=3))[:2], tf.shape(raw)[-1:]], 0)

    shapes = tf.data.Dataset.from_tensor_slices(sample(files, seed)).map(
        shape, num_parallel_calls=tf.data.AUTOTUNE)
    shapes = np.concatenate(list(shapes.batch(256).as_numpy_iterator()))
    heights, widths = shapes[:, 0], shapes[:, 1]
    gray = bool(np.all(shapes[:, 2] <= 2))
    height, width = float(np.median(heights)), float(np.median(widths))
    scale = min(1.0, IMAGE_SIDE[1] / max(height, width))
    scale = max(scale, IMAGE_SIDE[0] / min(height, width))
    side = lambda x: int(min(max(round(x * scale / 4) * 4, IMAGE_SIDE[0]), IMAGE_SIDE[1]))  # noqa: E731
    return (side(height), side(width), 1 if gray else 3)


def audio_format(files, seed=0):
    """A model sample rate (Hz) and length (samples) for WAV files.

    The rate is the most common rate of a sample (at most `MAX_SAMPLE_RATE`); the
    length covers the 95th percentile of their durations (at most `MAX_SECONDS`),
    rounded up to a tenth of a second.

    Args:
        files: WAV file paths (the training split's).
        seed: seed of the sample.

    Returns:
        `(sample_rate, num_samples)`.
    """
    import tensorflow as tf

    from mmzoo.preprocessing.audio import decode_wav

    def rate_and_length(path):
        waveform, rate = decode_wav(tf.io.read_file(path))
        return rate, tf.shape(waveform)[0]

    found = tf.data.Dataset.from_tensor_slices(sample(files, seed)).map(
        rate_and_length, num_parallel_calls=tf.data.AUTOTUNE)
    rates, lengths = (np.concatenate(column) for column in
                      zip(*found.batch(256).as_numpy_iterator()))
    rates = rates.astype(int).tolist()
    seconds = (lengths / np.asarray(rates)).tolist()
    rate = min(collections.Counter(rates).most_common(1)[0][0], MAX_SAMPLE_RATE)
    duration = min(np.ceil(float(np.percentile(seconds, 95)) * 10) / 10, MAX_SECONDS)
    return rate, max(1, int(round(rate * max(duration, 0.1))))


def text_length(texts, seed=0):
    """A token count covering 95% of `texts` (after standardization), bounded.

    Args:
        texts: the training split's texts.
        seed: seed of the sample (up to 10 x `SAMPLE_ROWS` texts are counted).

    Returns:
        An int in `TEXT_LENGTH`.
    """
    import tensorflow as tf

    from mmzoo.preprocessing.vocabulary import standardize_text

    picked = sample(texts, seed, 10 * SAMPLE_ROWS)
    standardized = standardize_text(tf.constant([str(t) for t in picked]))
    counts = tf.strings.split(standardized).row_lengths().numpy()
    length = int(np.ceil(np.percentile(counts, 95))) if len(counts) else TEXT_LENGTH[0]
    return int(min(max(length, TEXT_LENGTH[0]), TEXT_LENGTH[1]))


def resolve(path, folder):
    """A file path of a table, relative to the table's folder unless absolute."""
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) else os.path.join(folder, path)
