"""MultiBench's AV-MNIST preprocessing: PCA-degraded images and square spectrograms.

MultiBench (Liang et al., 2021) keeps the principal components of MNIST holding 25 %
of the pixel variance (a harder image modality) and turns each spoken digit into a
112 x 112 spectrogram. `mmzoo.datasets.av_mnist.load(variant="multibench")` uses these.
"""

import threading

import numpy as np
import tensorflow as tf

PCA_VARIANCE = 0.25
_DB_RANGE = 80.0
_lock = threading.Lock()
_pca_cache = {}


def pca_projection(path, split):
    """`(mean (1, 784), basis (784, k))` of the PCA keeping 25 % of the pixel variance.

    Fitted once per data folder on MNIST's `split` (the train images) and cached.

    Args:
        path: the TFDS data folder holding `mnist`.
        split: the TFDS split of the training images.

    Returns:
        Two float32 tensors: the mean image and the basis of the kept components.
    """
    key = (str(path), split)
    with _lock:
        if key not in _pca_cache:
            _pca_cache[key] = _fit_pca(path, split)
        mean, basis = _pca_cache[key]
    return tf.constant(mean), tf.constant(basis)


def _fit_pca(path, split, variance=PCA_VARIANCE):
    import tensorflow_datasets as tfds

    images = tfds.as_numpy(tfds.load("mnist", split=split, data_dir=str(path),
                                      download=False, batch_size=-1))["image"]
    pixels = images.reshape(len(images), 784).astype(np.float32) / 255.0
    mean = pixels.mean(axis=0)
    centred = pixels - mean
    covariance = (centred.T @ centred).astype(np.float64) / (len(pixels) - 1)
    _, singular_values, vt = np.linalg.svd(covariance)
    explained = np.cumsum(singular_values) / singular_values.sum()
    k = int(np.searchsorted(explained, variance) + 1)
    return mean[None].astype(np.float32), np.ascontiguousarray(vt[:k].T).astype(np.float32)


def spectrogram_fn(kind, num_samples, sample_rate, size):
    """`fn(waveform) -> (size, size)` spectrogram in [0, 1], as MultiBench makes them.

    Args:
        kind: `"log_mel"` (mel bins, `LogMelSpectrogram`) or `"linear"` (STFT bins
            from 0 Hz to the Nyquist frequency).
        num_samples: the waveform length in samples.
        sample_rate: the waveform's rate in Hz.
        size: frames and bins of the square output.

    Returns:
        A function of one `(num_samples,)` float32 waveform: dB values within 80 dB
        of the clip's maximum, scaled to [0, 1], shape `(size, size)`.

    >>> import tensorflow as tf
    >>> fn = spectrogram_fn("linear", 8000, 8000, 112)
    >>> tuple(fn(tf.random.normal([8000])).shape)
    (112, 112)
    """
    if kind == "log_mel":
        from mmzoo.preprocessing.log_mel import LogMelSpectrogram

        layer = LogMelSpectrogram(sample_rate=sample_rate, n_fft=1024, win_length=256,
                                  hop_length=num_samples // (size - 1), n_mels=size,
                                  top_db=_DB_RANGE, name="multibench_log_mel")

        def db(audio):
            return layer(audio[None])[0]
    else:
        frame = 2 * (size - 1)  # 222-point FFT: 112 bins from 0 Hz to 4 kHz
        step = (num_samples - frame) // (size - 1)

        def db(audio):
            stft = tf.signal.stft(audio, frame_length=frame, frame_step=step, fft_length=frame)
            power = tf.square(tf.abs(stft))
            return 10.0 * tf.math.log(tf.maximum(power, 1e-10)) / tf.math.log(10.0)

    def spectrogram(audio):
        values = db(audio)[:size]
        values = values - tf.reduce_max(values) + _DB_RANGE
        values = tf.clip_by_value(values / _DB_RANGE, 0.0, 1.0)
        return tf.ensure_shape(values, [size, size])

    return spectrogram
