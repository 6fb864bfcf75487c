"""Audio preprocessing: WAV bytes -> mono float32 waveforms of a fixed rate and length.

Everything here is TensorFlow graph code (no Python callbacks), so the same computation
runs per example in a `tf.data` pipeline and, through `AudioPreprocessing`, on a batch
of waveforms in an exported serving function.

>>> import numpy as np, tensorflow as tf
>>> from mmzoo.preprocessing.audio import preprocess_audio
>>> wav = tf.audio.encode_wav(np.zeros((4000, 1), np.float32), 8000)
>>> waveform = preprocess_audio(wav, sample_rate=16000, num_samples=16000)
>>> tuple(waveform.shape), waveform.dtype.name
((16000,), 'float32')
"""


import keras
import numpy as np
import tensorflow as tf

from mmzoo.checks import check_positive_int, is_int, is_number

# Plain graph code (tf.cond / tf.while_loop, no Python control flow on tensors): keeps
# AutoGraph from rewriting it, which is slow and changes nothing, inside Dataset.map.
_graph_code = tf.autograph.experimental.do_not_convert

FIX_LENGTH_MODES = ("center", "random", "start")

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
            function can read.
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
        tf.debugging.Assert(
            branch >= 0,
            [
                "decode_wav: unsupported WAV encoding (format code, bits per sample):",
                audio_format,
                bits,
                "; supported: integer PCM of 8/16/24/32 bits, float of 32/64 bits.",
            ],
        ),
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


@_graph_code
def resample(waveform, orig_rate, target_rate):
    """Band-limited (FFT) resampling of a waveform from `orig_rate` to `target_rate`.

    Computes what `scipy.signal.resample` does, and so what
    `librosa.resample(y, orig_sr=..., target_sr=..., res_type="fft")` returns: the
    output has `ceil(samples * target_rate / orig_rate)` samples, obtained by cutting
    or zero-extending the spectrum. The rates may be Python ints or (graph) tensors;
    equal rates return the waveform unchanged.

    Args:
        waveform: float tensor `(samples,)`; leading batch axes are allowed, the last
            axis is resampled.
        orig_rate: sample rate of `waveform`, a positive int or int tensor.
        target_rate: wanted sample rate, a positive int or int tensor.

    Returns:
        float32 tensor with the last axis resampled, of length
        `ceil(samples * target_rate / orig_rate)`.

    Raises:
        ValueError: a rate given as a Python number is not a positive int.
        tf.errors.InvalidArgumentError: a rate given as a tensor is not positive.

    >>> tone = tf.sin(tf.range(8000, dtype=tf.float32) * 0.1)  # 1 s at 8000 Hz
    >>> resample(tone, 8000, 16000).shape
    TensorShape([16000])
    >>> resample(tone[None], 8000, 11025).shape  # (batch, samples)
    TensorShape([1, 11025])
    """
    for arg, value in (("orig_rate", orig_rate), ("target_rate", target_rate)):
        if is_number(value) and not (is_int(value) and value > 0):
            raise ValueError(f"`{arg}` must be a positive int. Received: {arg}={value!r}")
    waveform = tf.convert_to_tensor(waveform, dtype=tf.float32)
    if is_number(orig_rate) and is_number(target_rate):
        if orig_rate == target_rate:
            return waveform
    orig = tf.cast(orig_rate, tf.int64)
    target = tf.cast(target_rate, tf.int64)
    checks = [
        tf.debugging.Assert(
            tf.logical_and(orig > 0, target > 0),
            ["resample: sample rates must be positive; received", orig, target],
        )
    ]
    with tf.control_dependencies(checks):
        length = tf.shape(waveform, out_type=tf.int64)[-1]
    ratio = tf.cast(target, tf.float64) / tf.cast(orig, tf.float64)
    # Same float64 arithmetic as librosa, so the output length agrees exactly.
    out_length = tf.cast(tf.math.ceil(tf.cast(length, tf.float64) * ratio), tf.int64)
    unchanged = tf.logical_or(tf.equal(orig, target), tf.equal(length, 0))
    out = tf.cond(
        unchanged,
        lambda: waveform,
        lambda: _fft_resample(waveform, length, out_length),
    )
    out.set_shape(waveform.shape[:-1].concatenate([None]))
    return out


@_graph_code
def fix_length(waveform, num_samples, mode="center", seed=None):
    """Pads with zeros or crops the last axis of a waveform to `num_samples`.

    Args:
        waveform: float tensor `(samples,)` (or `(batch, samples)`: one offset is used
            for the whole batch).
        num_samples: wanted length, a positive int.
        mode: where the kept window lies, or where a short clip goes in the padded
            output: `"center"` (centred), `"start"` (at the start, padding at the end)
            or `"random"` (a uniformly random offset, drawn with a stateless op from
            `seed`).
        seed: for `mode="random"`: a shape `(2,)` int tensor (e.g. one per example and
            epoch from the pipeline) or an int; `None` draws from TensorFlow's global
            random state (not reproducible).

    Returns:
        tensor like `waveform` with the last axis of length `num_samples`.

    Raises:
        ValueError: `num_samples` is not a positive int, `mode` is unknown,
            `waveform` is a scalar, or `seed` has the wrong shape.

    >>> fix_length(tf.constant([1.0, 2.0]), 4).numpy().tolist()
    [0.0, 1.0, 2.0, 0.0]
    >>> fix_length(tf.constant([1.0, 2.0, 3.0, 4.0]), 2, mode="start").numpy().tolist()
    [1.0, 2.0]
    """
    num_samples = check_positive_int("num_samples", num_samples)
    if mode not in FIX_LENGTH_MODES:
        raise ValueError(
            f"`mode` must be one of {', '.join(FIX_LENGTH_MODES)}. Received: mode={mode!r}"
        )
    waveform = tf.convert_to_tensor(waveform)
    if waveform.shape.rank == 0:
        raise ValueError(
            "`waveform` must have at least one axis (samples). "
            f"Received: waveform with shape {waveform.shape}"
        )
    length = tf.shape(waveform)[-1]
    room = tf.abs(length - num_samples)  # samples to cut, or zeros to add
    if mode == "center":
        offset = room // 2
    elif mode == "start":
        offset = tf.constant(0)
    else:
        offset = _random_offset(room, seed)
    crop_start = tf.where(length > num_samples, offset, 0)
    cropped = waveform[..., crop_start : crop_start + num_samples]
    pad_before = tf.where(length < num_samples, offset, 0)
    pad_after = num_samples - tf.shape(cropped)[-1] - pad_before
    rank = tf.rank(waveform)
    paddings = tf.concat([tf.zeros([rank - 1, 2], tf.int32), [[pad_before, pad_after]]], axis=0)
    out = tf.pad(cropped, paddings)
    if waveform.shape.rank is not None:
        out.set_shape(waveform.shape[:-1].concatenate([num_samples]))
    return out


@_graph_code
def preprocess_audio(data, sample_rate, num_samples, training=False, seed=None):
    """Decodes, resamples and fixes the length of one WAV file: all audio preprocessing.

    Args:
        data: scalar `tf.string` tensor holding one WAV file.
        sample_rate: the model's sample rate; the audio is resampled to it.
        num_samples: output length in samples.
        training: `True` crops (or places) at a random offset drawn from `seed`;
            `False` centres.
        seed: shape `(2,)` int tensor for the random offset when `training`.

    Returns:
        float32 tensor of shape `(num_samples,)`, at `sample_rate` Hz.

    Raises:
        ValueError: `sample_rate` or `num_samples` is not a positive int, or
            `training` is not a bool.
        tf.errors.InvalidArgumentError: `data` is not a readable WAV file.

    >>> wav = tf.audio.encode_wav(np.ones((100, 1), np.float32) * 0.5, 8000)
    >>> out = preprocess_audio(wav, sample_rate=8000, num_samples=4)
    >>> out.numpy().tolist()
    [0.5, 0.5, 0.5, 0.5]
    """
    sample_rate = check_positive_int("sample_rate", sample_rate)
    num_samples = check_positive_int("num_samples", num_samples)
    if not isinstance(training, bool):
        raise ValueError(f"`training` must be a bool. Received: training={training!r}")
    waveform, rate = decode_wav(data)
    waveform = resample(waveform, rate, sample_rate)
    return fix_length(waveform, num_samples, "random" if training else "center", seed)


@keras.saving.register_keras_serializable(package="mmzoo")
class AudioPreprocessing(keras.layers.Layer):
    """Centre-pads or crops a batch of raw waveforms to the model's length.

    For serving: the waveforms must already be at the model's `sample_rate` (kept in
    the config so a client can read it); `fix_length(..., "center")` gives them the
    length the model was trained on, as the evaluation pipeline does.

    Args:
        sample_rate: the model's sample rate, a positive int.
        num_samples: output length in samples, a positive int.

    Input shape:
        `(batch, samples)` float waveforms (any number of samples).

    Output shape:
        `(batch, num_samples)` float32.

    Raises:
        ValueError: `sample_rate` or `num_samples` is not a positive int.

    Example:

    >>> import numpy as np
    >>> layer = AudioPreprocessing(sample_rate=8000, num_samples=8000)
    >>> tuple(layer(np.zeros((2, 5000), "float32")).shape)
    (2, 8000)
    """

    def __init__(self, sample_rate, num_samples, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.num_samples = check_positive_int("num_samples", num_samples)

    def call(self, inputs):
        """Centre-pads or crops `inputs` `(batch, samples)` to `(batch, num_samples)`."""
        inputs = tf.cast(inputs, tf.float32)
        return fix_length(inputs, self.num_samples, "center")

    def compute_output_shape(self, input_shape):
        """`input_shape` with its last axis replaced by `num_samples`.

        >>> AudioPreprocessing(8000, 100).compute_output_shape((None, 7))
        (None, 100)
        """
        return (*input_shape[:-1], self.num_samples)

    def get_config(self):
        """The layer config, with `sample_rate` and `num_samples`.

        >>> AudioPreprocessing(8000, 100).get_config()["num_samples"]
        100
        """
        config = super().get_config()
        config.update({"sample_rate": self.sample_rate, "num_samples": self.num_samples})
        return config


def _fft_resample(waveform, length, out_length):
    """scipy.signal.resample (real input, no window) on the last axis."""
    kept = tf.minimum(length, out_length)  # frequency bins both lengths share
    kept_bins = kept // 2 + 1
    spectrum = tf.signal.rfft(waveform, fft_length=tf.cast(tf.reshape(length, [1]), tf.int32))
    spectrum = spectrum[..., :kept_bins]
    # The unpaired Nyquist bin of an even `kept`: doubled when shrinking, halved when
    # growing (its partner at -kept/2 is folded in or split off).
    nyquist_factor = tf.where(
        tf.logical_and(tf.equal(kept % 2, 0), tf.not_equal(length, out_length)),
        tf.where(out_length < length, 2.0, 0.5),
        1.0,
    )
    factors = 1.0 + (nyquist_factor - 1.0) * tf.one_hot(
        tf.cast(kept // 2, tf.int32), tf.cast(kept_bins, tf.int32)
    )
    scale = tf.cast(tf.cast(out_length, tf.float64) / tf.cast(length, tf.float64), tf.float32)
    spectrum = spectrum * tf.cast(factors * scale, tf.complex64)
    return tf.signal.irfft(spectrum, fft_length=tf.cast(tf.reshape(out_length, [1]), tf.int32))


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


def _random_offset(room, seed):
    if seed is None:
        return tf.random.uniform([], 0, room + 1, dtype=tf.int32)
    if is_int(seed):
        seed = [seed, 0]
    seed = tf.convert_to_tensor(seed)
    if not seed.shape.is_compatible_with([2]):
        raise ValueError(
            "`seed` must be an int or a shape (2,) int tensor. "
            f"Received: seed with shape {seed.shape}"
        )
    seed = tf.reshape(tf.cast(seed, tf.int64), [2])  # e.g. (None,) from Dataset.batch
    return tf.random.stateless_uniform([], seed=seed, minval=0, maxval=room + 1, dtype=tf.int32)


