"""Waveform -> (log-)mel spectrogram as a Keras layer that matches librosa.

`LogMelSpectrogram` computes, inside the model graph with `tf.signal`, what

    S = librosa.feature.melspectrogram(y=y, sr=sample_rate, n_fft=n_fft, ...)
    librosa.power_to_db(S, ref=ref, amin=amin, top_db=top_db).T

computes for one clip, for a whole batch at once. Unlike `keras.layers.MelSpectrogram`,
the `top_db` floor is taken from each example's own maximum, so a clip gets the same
features alone or in any batch.

>>> import numpy as np
>>> from mmzoo.preprocessing.log_mel import LogMelSpectrogram
>>> layer = LogMelSpectrogram(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40)
>>> tuple(layer(np.zeros((2, 8000), "float32")).shape)
(2, 101, 40)
"""

import math

import keras
import numpy as np
import tensorflow as tf

from mmzoo.checks import is_int, is_number

WINDOWS = ("hann", "hamming", "blackman", "boxcar")
MEL_SCALES = ("slaney", "htk")
NORMS = ("slaney", None)
PAD_MODES = ("constant", "reflect")


def _check(condition, argument, value, requirement):
    if not condition:
        raise ValueError(f"`{argument}` must be {requirement}. Received: {argument}={value!r}")


@keras.saving.register_keras_serializable(package="mmzoo")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel (or mel) spectrogram of a batch of waveforms, librosa-compatible.

    The STFT uses librosa's conventions: a periodic window of `win_length` samples
    centred in `n_fft`, and with `center=True` the waveform padded by `n_fft // 2` on
    both sides with `pad_mode`. The mel filterbank is `librosa.filters.mel` (librosa is
    imported when the layer is created). Everything is computed in float32, also under
    a mixed-precision policy; the output is cast to the layer's compute dtype.

    Args:
        sample_rate: sampling rate of the waveforms in Hz.
        n_fft: FFT length (samples per frame).
        hop_length: samples between the starts of consecutive frames.
        win_length: window length, at most `n_fft`; `None` means `n_fft`.
        window: one of `"hann"`, `"hamming"`, `"blackman"`, `"boxcar"` (periodic, as
            `scipy.signal.get_window(window, win_length, fftbins=True)`).
        n_mels: number of mel bands.
        fmin: lowest frequency of the filterbank in Hz.
        fmax: highest frequency in Hz, at most `sample_rate / 2`; `None` means
            `sample_rate / 2`.
        power: exponent of the magnitude (2.0 power, 1.0 magnitude spectrogram).
        mel_scale: `"slaney"` (librosa's `htk=False`) or `"htk"`.
        norm: `"slaney"` (area-normalised filters) or `None`.
        center: whether frame `t` is centred at sample `t * hop_length`.
        pad_mode: `"constant"` (zeros, librosa's default) or `"reflect"` (then
            waveforms need more than `n_fft // 2` samples).
        log: whether to convert to decibels (`librosa.power_to_db`); `False` returns
            the linear mel spectrogram.
        top_db: floor of the output at `max - top_db` dB, the maximum taken per
            example; `None` disables the floor.
        ref: reference value, the output is `10 * log10(S / ref)`.
        amin: smallest value of `S` (and `ref`) before the logarithm.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `(batch, num_samples)` waveforms, typically in [-1, 1], or one waveform
        `(num_samples,)` (as in `tf.data.Dataset.map`).

    Output shape:
        `(batch, frames, n_mels)` (or `(frames, n_mels)`), where
        `frames = 1 + num_samples // hop_length` when `center=True`, else
        `1 + (num_samples - n_fft) // hop_length`.

    Raises:
        ValueError: an argument out of range (e.g. `fmax` above `sample_rate / 2`,
            `win_length > n_fft`, an unknown `window`); at build, a fixed input
            shorter than the padding or window needs, or not of rank 1 or 2.

    Example:

    >>> import numpy as np
    >>> layer = LogMelSpectrogram(sample_rate=8000, n_mels=32)
    >>> tuple(layer(np.zeros((2, 4000), "float32")).shape)
    (2, 32, 32)
    """

    def __init__(
        self,
        sample_rate=8000,
        n_fft=512,
        hop_length=128,
        win_length=None,
        window="hann",
        n_mels=64,
        fmin=0.0,
        fmax=None,
        power=2.0,
        mel_scale="slaney",
        norm="slaney",
        center=True,
        pad_mode="constant",
        log=True,
        top_db=80.0,
        ref=1.0,
        amin=1e-10,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check(is_int(sample_rate) and sample_rate > 0, "sample_rate", sample_rate,
               "a positive integer")
        _check(is_int(n_fft) and n_fft >= 2, "n_fft", n_fft, "an integer >= 2")
        _check(is_int(hop_length) and hop_length > 0, "hop_length", hop_length,
               "a positive integer")
        _check(win_length is None or (is_int(win_length) and 0 < win_length <= n_fft),
               "win_length", win_length, f"None or an integer in [1, n_fft={n_fft}]")
        _check(window in WINDOWS, "window", window, f"one of {WINDOWS}")
        _check(is_int(n_mels) and n_mels > 0, "n_mels", n_mels, "a positive integer")
        nyquist = sample_rate / 2
        _check(is_number(fmin) and 0 <= fmin < nyquist, "fmin", fmin,
               f"a number in [0, sample_rate / 2 = {nyquist})")
        _check(fmax is None or (is_number(fmax) and fmin < fmax <= nyquist), "fmax", fmax,
               f"None or a number in (fmin, sample_rate / 2 = {nyquist}]")
        _check(is_number(power) and power > 0, "power", power, "a positive number")
        _check(mel_scale in MEL_SCALES, "mel_scale", mel_scale, f"one of {MEL_SCALES}")
        _check(norm in NORMS, "norm", norm, f"one of {NORMS}")
        _check(isinstance(center, bool), "center", center, "a boolean")
        _check(pad_mode in PAD_MODES, "pad_mode", pad_mode, f"one of {PAD_MODES}")
        _check(isinstance(log, bool), "log", log, "a boolean")
        _check(top_db is None or (is_number(top_db) and top_db >= 0), "top_db", top_db,
               "None or a non-negative number")
        _check(is_number(ref) and ref > 0, "ref", ref, "a positive number")
        _check(is_number(amin) and amin > 0, "amin", amin, "a positive number")
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.win_length = None if win_length is None else int(win_length)
        self.window = window
        self.n_mels = int(n_mels)
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.power = float(power)
        self.mel_scale = mel_scale
        self.norm = norm
        self.center = center
        self.pad_mode = pad_mode
        self.log = log
        self.top_db = None if top_db is None else float(top_db)
        self.ref = float(ref)
        self.amin = float(amin)
        self._window_values, self._mel_basis = self._constants()

    @property
    def input_dtype(self):
        # Waveforms stay float32 under mixed precision: the STFT needs the precision.
        return "float32"

    def _constants(self):
        """The analysis window `(win_length,)` and the filterbank `(bins, n_mels)`."""
        import librosa  # imported lazily: only needed to build the constants
        import scipy.signal

        win_length = self.win_length or self.n_fft
        window = scipy.signal.get_window(self.window, win_length, fftbins=True)
        mel = librosa.filters.mel(
            sr=self.sample_rate,
            n_fft=self.n_fft,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
            htk=self.mel_scale == "htk",
            norm=self.norm,
            dtype=np.float32,
        )
        return window.astype("float32"), np.ascontiguousarray(mel.T)

    def num_frames(self, num_samples):
        """Frames produced for `num_samples` samples (`None` stays `None`)."""
        if num_samples is None:
            return None
        if self.center:
            return 1 + num_samples // self.hop_length
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def build(self, input_shape):
        if len(input_shape) not in (1, 2):
            raise ValueError(
                "`input_shape` must be (batch, num_samples) or (num_samples,) for "
                "LogMelSpectrogram. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        samples = input_shape[-1]
        if samples is not None:
            if self.center and self.pad_mode == "reflect" and samples <= self.n_fft // 2:
                raise ValueError(
                    f"`input_shape` must have more than n_fft // 2 = {self.n_fft // 2} "
                    f"samples for pad_mode='reflect'. Received: input_shape={tuple(input_shape)}"
                )
            if not self.center and samples < self.n_fft:
                raise ValueError(
                    f"`input_shape` must have at least n_fft = {self.n_fft} samples for "
                    "center=False. "
                    f"Received: input_shape={tuple(input_shape)}"
                )

    def call(self, inputs):
        x = tf.cast(inputs, "float32")
        single = x.shape.rank == 1  # one waveform, e.g. in `tf.data.Dataset.map`
        if single:
            x = x[None]
        if self.center:
            pad = self.n_fft // 2
            x = tf.pad(x, [[0, 0], [pad, pad]], mode=self.pad_mode.upper())
        power_spectrum = self._power_spectrum(x)
        if self.power != 2.0:
            power_spectrum = tf.pow(power_spectrum, self.power / 2.0)
        mel = tf.matmul(power_spectrum, self._mel_basis)
        if self.log:
            mel = 10.0 * tf.math.log(tf.maximum(mel, self.amin)) / math.log(10.0)
            mel = mel - 10.0 * math.log10(max(self.amin, self.ref))
            if self.top_db is not None:
                peak = tf.reduce_max(mel, axis=(1, 2), keepdims=True)  # per example
                mel = tf.maximum(mel, peak - self.top_db)
        if single:
            mel = mel[0]
        return tf.cast(mel, self.compute_dtype)

    def _power_spectrum(self, x):
        """`|STFT|^2` of padded waveforms, `(batch, frames, n_fft // 2 + 1)`.

        Only the `win_length` samples under the window are framed (the rest of each
        `n_fft` frame is multiplied by zero); `tf.signal.stft` zero-pads them to
        `n_fft` at the end instead of both sides, a phase shift of every bin that
        leaves the magnitudes unchanged.
        """
        win = self.win_length or self.n_fft
        left = (self.n_fft - win) // 2  # where the window starts within a frame
        samples = x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]
        frames = 1 + (samples - self.n_fft) // self.hop_length
        x = x[:, left : left + (frames - 1) * self.hop_length + win]
        stft = tf.signal.stft(x, win, self.hop_length, fft_length=self.n_fft,
                              window_fn=lambda length, dtype: self._window_values)
        # real^2 + imag^2 rather than abs()^2: no square root per bin.
        return tf.square(tf.math.real(stft)) + tf.square(tf.math.imag(stft))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_frames(input_shape[-1]), self.n_mels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "n_fft": self.n_fft,
                "hop_length": self.hop_length,
                "win_length": self.win_length,
                "window": self.window,
                "n_mels": self.n_mels,
                "fmin": self.fmin,
                "fmax": self.fmax,
                "power": self.power,
                "mel_scale": self.mel_scale,
                "norm": self.norm,
                "center": self.center,
                "pad_mode": self.pad_mode,
                "log": self.log,
                "top_db": self.top_db,
                "ref": self.ref,
                "amin": self.amin,
            }
        )
        return config
