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
from mmzoo.preprocessing.wav import decode_wav  # noqa: F401  (part of this module's API)

# Plain graph code (tf.cond / tf.while_loop, no Python control flow on tensors): keeps
# AutoGraph from rewriting it, which is slow and changes nothing, inside Dataset.map.
_graph_code = tf.autograph.experimental.do_not_convert

FIX_LENGTH_MODES = ("center", "random", "start")

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
def check_finite_waveform(waveform, what="the WAV"):
    """Returns `waveform`, or raises if any sample is NaN or infinite.

    Graph code for `tf.data` maps and serving functions: a float WAV can hold NaN or
    infinite samples, which pass decoding and turn a model's weights (one `fit` step)
    or predictions into NaN. The error names how many samples are bad and the first.

    Args:
        waveform: float tensor, `(samples,)` (or any shape: then the position is
            counted in the flattened samples).
        what: what the waveform is, to start the message (e.g. a file name).

    Returns:
        `waveform`, unchanged, once the check has run.

    Raises:
        tf.errors.InvalidArgumentError: "<what> holds N NaN or infinite samples
            (first at sample K)", K counted from 0.

    >>> check_finite_waveform(tf.constant([0.5, -0.25])).numpy().tolist()
    [0.5, -0.25]
    >>> try:
    ...     check_finite_waveform(tf.constant([0.0, np.nan, np.inf]), "a.wav")
    ... except tf.errors.InvalidArgumentError as error:
    ...     print(error.message)
    a.wav holds 2 NaN or infinite samples (first at sample 1)
    """
    waveform = tf.convert_to_tensor(waveform)
    if tf.executing_eagerly():  # a plain message rather than the Assert op's
        count, first = nonfinite_samples(waveform)
        if count:
            raise tf.errors.InvalidArgumentError(
                None, None,
                f"{what} holds {count} NaN or infinite samples (first at sample {first})")
        return waveform
    bad = tf.logical_not(tf.math.is_finite(tf.reshape(waveform, [-1])))
    count = tf.reduce_sum(tf.cast(bad, tf.int64))
    first = tf.argmax(tf.cast(bad, tf.int32), output_type=tf.int64)
    message = tf.strings.join([
        f"{what} holds ", tf.strings.as_string(count),
        " NaN or infinite samples (first at sample ", tf.strings.as_string(first), ")",
    ])
    with tf.control_dependencies([tf.debugging.Assert(tf.equal(count, 0), [message])]):
        return tf.identity(waveform)


def nonfinite_samples(waveform):
    """How many samples of an (eager) waveform are NaN or infinite, and the first.

    For checks outside a graph, such as a manifest checker's report; the graph-code
    check is `check_finite_waveform`.

    Args:
        waveform: eager tensor or array-like of floats, `(samples,)` (or any shape:
            positions are counted in the flattened samples).

    Returns:
        `(count, first)`: Python ints, the number of NaN or infinite samples and the
        position of the first, counted from 0; `(0, None)` when all are finite.

    >>> nonfinite_samples(tf.constant([0.0, np.nan, 1.0, -np.inf]))
    (2, 1)
    >>> nonfinite_samples([0.0, 1.0])
    (0, None)
    """
    bad = ~np.isfinite(np.asarray(waveform, dtype=np.float64).reshape(-1))
    count = int(bad.sum())
    return count, (int(np.argmax(bad)) if count else None)


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
        tf.errors.InvalidArgumentError: `data` is not a readable WAV file, or holds
            NaN or infinite samples (`check_finite_waveform`: "the WAV holds N NaN or
            infinite samples (first at sample K)").

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
    waveform = check_finite_waveform(waveform, "the WAV")
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


