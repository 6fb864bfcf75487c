"""WAV decoding in TensorFlow graph code: bytes -> mono float32 waveform and sample rate.

16-bit PCM files with the plain 44-byte header take a fast path; any other WAV
(24/32-bit PCM, 32-bit float, WAVE_FORMAT_EXTENSIBLE, extra chunks) is parsed chunk by
chunk. Multi-channel audio is averaged to mono. Used per example in `tf.data`
pipelines and by `mmzoo.preprocessing.audio.preprocess_audio`.

>>> import numpy as np, tensorflow as tf
>>> waveform, rate = decode_wav(tf.audio.encode_wav(np.zeros((800, 2), np.float32), 16000))
>>> tuple(waveform.shape), int(rate)
((800,), 16000)
"""

import numpy as np
import tensorflow as tf

# Plain graph code (tf.cond / tf.while_loop, no Python control flow on tensors): keeps
# AutoGraph from rewriting it, which is slow and changes nothing, inside Dataset.map.
_graph_code = tf.autograph.experimental.do_not_convert

_PCM = 1
_IEEE_FLOAT = 3
_EXTENSIBLE = 0xFFFE

# The 44-byte header of a plain 16-bit PCM WAV: its fixed bytes, and the byte
# weights of the fields that vary (data chunk size, channels, sample rate).
_FIXED = {0: b"RIFF", 8: b"WAVEfmt \x10\0\0\0\x01\0", 34: b"\x10\0data"}
_CANONICAL_POSITIONS = np.array(
    [start + i for start, text in _FIXED.items() for i in range(len(text))], np.int32)
_CANONICAL_BYTES = np.array([byte for text in _FIXED.values() for byte in text], np.uint8)
_CANONICAL_FIELDS = np.array(
    [[256.0 ** (i - start) if start <= i < start + size else 0.0 for i in range(44)]
     for start, size in ((40, 4), (22, 2), (24, 4))], np.float64)


@_graph_code
def decode_wav(data):
    """Decodes a WAV file to a mono float32 waveform and its sample rate.

    Reads 8-, 16-, 24- and 32-bit integer PCM and 32- and 64-bit float WAV files
    (plain or `WAVE_FORMAT_EXTENSIBLE`), with any number of channels; channels are
    averaged into one. Integer samples are scaled to [-1, 1) as `tf.audio.decode_wav`
    does (16-bit: `sample / 32768`); float samples are kept as they are.

    Args:
        data: scalar `tf.string` tensor (or Python bytes) holding one WAV file.

    Returns:
        `(waveform, sample_rate)`: float32 tensor of shape `(samples,)` and an int32
        scalar in Hz.

    Raises:
        tf.errors.InvalidArgumentError: when the bytes are not a WAV file this
            function can read. An encoding it does not read is named with its format
            code and bits per sample, e.g. "unsupported WAV format code 6 (A-law)
            with 8 bits per sample; mmzoo reads PCM 8/16/24/32-bit and IEEE float
            32/64-bit" (a WAVE_FORMAT_EXTENSIBLE file is named by its sub-format).
        ValueError: `data` is not a scalar.

    >>> stereo = np.array([[0.5, -0.5], [0.25, 0.25]], np.float32)  # (samples, channels)
    >>> waveform, rate = decode_wav(tf.audio.encode_wav(stereo, 16000))
    >>> waveform.numpy().tolist(), int(rate)
    ([0.0, 0.25], 16000)
    """
    data = tf.convert_to_tensor(data, dtype=tf.string)
    if data.shape.rank is not None and data.shape.rank != 0:
        raise ValueError(
            f"`data` must be a scalar string (one WAV file). Received: data with shape {data.shape}"
        )
    return tf.cond(
        _is_canonical_pcm16(data),
        lambda: _decode_pcm16(data),
        lambda: _decode_any_wav(data),
    )


def _is_canonical_pcm16(data):
    """Whether `data` is a 16-bit PCM WAV with the plain 44-byte header.

    That is: 'RIFF' .. 'WAVE', a 16-byte 'fmt ' chunk, then the 'data' chunk filling
    the rest of the file, with channels and rate above 0. Most WAV files are, and
    `tf.audio.decode_wav` reads them several times faster than the general parser.
    Checked with a handful of whole-header ops: per-field ops cost more than decoding.
    """
    header = tf.strings.substr(tf.strings.join([data, b"\0" * 44]), 0, 44)
    header = tf.io.decode_raw(header, tf.uint8)
    fixed = tf.reduce_all(tf.equal(tf.gather(header, _CANONICAL_POSITIONS), _CANONICAL_BYTES))
    # [data chunk size, channels, sample rate] from their little-endian bytes.
    data_size, channels, rate = tf.unstack(
        tf.linalg.matvec(_CANONICAL_FIELDS, tf.cast(header, tf.float64)))
    length = tf.cast(tf.strings.length(data), tf.float64)
    return tf.logical_and(
        fixed, tf.logical_and(tf.equal(data_size, length - 44.0), channels * rate > 0.0))


def _decode_pcm16(data):
    samples, sample_rate = tf.audio.decode_wav(data)
    return tf.reduce_mean(samples, axis=1), sample_rate


def _decode_any_wav(data):
    """The general parser: any chunk order, 8-64 bit integer and float samples."""
    length = tf.cast(tf.strings.length(data), tf.int64)
    # Header fields are read from a zero-padded copy, so no read can start past the
    # end of a short or truncated file (the checks below reject those).
    padded = tf.strings.join([data, tf.constant(b"\0" * 64)])
    is_riff = tf.logical_and(
        tf.equal(tf.strings.substr(padded, 0, 4), "RIFF"),
        tf.equal(tf.strings.substr(padded, 8, 4), "WAVE"),
    )
    is_riff = tf.logical_and(length >= 12, is_riff)

    def cond(offset, fmt_at, fmt_size, data_at, data_size):
        return tf.logical_and(offset + 8 <= length, tf.logical_or(fmt_at < 0, data_at < 0))

    def body(offset, fmt_at, fmt_size, data_at, data_size):
        chunk_id = tf.strings.substr(padded, offset, 4)
        size = _uint(padded, offset + 4, 4)
        first_fmt = tf.logical_and(tf.equal(chunk_id, "fmt "), fmt_at < 0)
        first_data = tf.logical_and(tf.equal(chunk_id, "data"), data_at < 0)
        return (
            offset + 8 + size + size % 2,  # chunks are padded to an even size
            tf.where(first_fmt, offset + 8, fmt_at),
            tf.where(first_fmt, size, fmt_size),
            tf.where(first_data, offset + 8, data_at),
            tf.where(first_data, size, data_size),
        )

    minus_one = tf.constant(-1, tf.int64)
    start = tf.where(is_riff, tf.constant(12, tf.int64), length)  # no loop if not RIFF
    _, fmt_at, fmt_size, data_at, data_size = tf.while_loop(
        cond, body, (start, minus_one, minus_one, minus_one, minus_one)
    )
    has_fmt = tf.logical_and(fmt_at >= 0, fmt_size >= 16)
    has_fmt = tf.logical_and(has_fmt, fmt_at + 16 <= length)
    # Fields are read at a safe position when the chunk is missing (checked below).
    fmt_at = tf.where(has_fmt, fmt_at, 0)
    audio_format = _uint(padded, fmt_at, 2)
    channels = _uint(padded, fmt_at + 2, 2)
    sample_rate = _uint(padded, fmt_at + 4, 4)
    bits = _uint(padded, fmt_at + 14, 2)
    tag = audio_format
    is_extensible = tf.logical_and(tf.equal(audio_format, _EXTENSIBLE), fmt_size >= 26)
    audio_format = tf.where(is_extensible, _uint(padded, fmt_at + 24, 2), audio_format)

    # Branch index for the sample decoder: the layouts that can be read.
    layouts = [(_PCM, 8), (_PCM, 16), (_PCM, 24), (_PCM, 32), (_IEEE_FLOAT, 32), (_IEEE_FLOAT, 64)]
    branch = tf.constant(-1, tf.int64)
    for index, (fmt_code, fmt_bits) in enumerate(layouts):
        match = tf.logical_and(tf.equal(audio_format, fmt_code), tf.equal(bits, fmt_bits))
        branch = tf.where(match, tf.constant(index, tf.int64), branch)

    checks = [
        tf.debugging.Assert(is_riff, ["decode_wav: the data is not a RIFF/WAVE file."]),
        tf.debugging.Assert(has_fmt, ["decode_wav: the WAV file has no valid 'fmt ' chunk."]),
        tf.debugging.Assert(data_at >= 0, ["decode_wav: the WAV file has no 'data' chunk."]),
        tf.debugging.Assert(branch >= 0, [_unsupported(tag, audio_format, is_extensible, bits)]),
        tf.debugging.Assert(channels > 0, ["decode_wav: the WAV file has 0 channels."]),
        tf.debugging.Assert(sample_rate > 0, ["decode_wav: the WAV file has sample rate 0."]),
    ]
    with tf.control_dependencies(checks):
        channels = tf.maximum(channels, 1)
        frame_bytes = channels * tf.maximum(bits // 8, 1)
        data_at = tf.maximum(data_at, 0)
        # A truncated data chunk is read as far as it goes, in whole frames.
        available = tf.clip_by_value(length - data_at, 0, tf.maximum(data_size, 0))
        payload = tf.strings.substr(data, data_at, available // frame_bytes * frame_bytes)
        samples = tf.switch_case(
            tf.cast(tf.maximum(branch, 0), tf.int32),
            [
                lambda: (tf.cast(tf.io.decode_raw(payload, tf.uint8), tf.float32) - 128.0) / 128.0,
                lambda: tf.cast(tf.io.decode_raw(payload, tf.int16), tf.float32) / 32768.0,
                lambda: _decode_int24(payload),
                lambda: tf.cast(
                    tf.cast(tf.io.decode_raw(payload, tf.int32), tf.float64) / 2147483648.0,
                    tf.float32,
                ),
                lambda: tf.io.decode_raw(payload, tf.float32),
                lambda: tf.cast(tf.io.decode_raw(payload, tf.float64), tf.float32),
            ],
        )
        waveform = tf.reduce_mean(tf.reshape(samples, [-1, tf.cast(channels, tf.int32)]), axis=1)
        sample_rate = tf.cast(sample_rate, tf.int32)
    return waveform, sample_rate


def _unsupported(tag, audio_format, is_extensible, bits):
    """The message for a format this parser cannot read, e.g. "decode_wav: unsupported
    WAV format code 6 (A-law) with 8 bits per sample; mmzoo reads PCM ..."."""

    def name(code):
        index = tf.argmax(tf.concat([tf.equal(_FORMAT_CODES, code), [True]], 0))
        return tf.gather(_FORMAT_NAMES, index)

    code = tf.where(
        is_extensible,
        tf.strings.join([tf.strings.as_string(tag), " (extensible, sub-format ",
                         tf.strings.as_string(audio_format), ": ", name(audio_format), ")"]),
        tf.strings.join([tf.strings.as_string(tag), " (", name(tag), ")"]),
    )
    return tf.strings.join([
        "decode_wav: unsupported WAV format code ", code, " with ", tf.strings.as_string(bits),
        " bits per sample; mmzoo reads PCM 8/16/24/32-bit and IEEE float 32/64-bit.",
    ])


# WAVE format codes (RFC 2361, Microsoft's mmreg.h) and their names, for messages.
_FORMATS = {
    0x0001: "PCM", 0x0002: "Microsoft ADPCM", 0x0003: "IEEE float", 0x0006: "A-law",
    0x0007: "mu-law", 0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0050: "MPEG",
    0x0055: "MP3", 0x0161: "WMA", 0x1610: "AAC", 0xFFFE: "extensible, without its sub-format",
}
_FORMAT_CODES = np.array(list(_FORMATS), np.int64)
_FORMAT_NAMES = np.array([*_FORMATS.values(), "unknown"], object)


def _decode_int24(payload):
    raw = tf.cast(tf.reshape(tf.io.decode_raw(payload, tf.uint8), [-1, 3]), tf.int32)
    value = raw[:, 0] + raw[:, 1] * 256 + raw[:, 2] * 65536
    value = tf.where(value >= 8388608, value - 16777216, value)
    return tf.cast(value, tf.float32) / 8388608.0


def _uint(data, position, size):
    """Little-endian unsigned int of `size` bytes at `position`, as int64."""
    raw = tf.io.decode_raw(tf.strings.substr(data, position, size), tf.uint8)
    raw = tf.reshape(tf.cast(raw, tf.int64), [size])
    weights = tf.constant([1, 256, 65536, 16777216][:size], tf.int64)
    return tf.reduce_sum(raw * weights)
