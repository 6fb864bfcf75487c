"""Audio towers: `(num_samples,)` float32 waveforms in [-1, 1] -> embedding.

Families (registered as `"audio/<family>"`):

- `log_mel_conv`: a log-mel spectrogram computed in the graph, then a Conv2D stack.
- `waveform_conv`: a ConvTasNet-style learned filterbank and dilated separable
  convolutions on the raw waveform (Luo & Mesgarani, 2019).
- `lenet`: MultiBench's AV-MNIST audio baseline, a LeNet on a 112x112 log-mel image.

>>> from mmzoo.towers.audio import build_log_mel_conv
>>> tower = build_log_mel_conv((4000,), filters=(8, 16))
>>> tower.name, tuple(tower.output["sequence"].shape)
('audio_tower', (None, 8, 256))
"""

import keras

from mmzoo.checks import (
    check_bool,
    check_choice,
    check_int_sequence,
    check_positive_int,
    check_rate,
    check_shape,
)
from mmzoo.preprocessing.log_mel import LogMelSpectrogram
from mmzoo.towers import TOWERS
from mmzoo.towers.common import (
    batch_norm,
    check_embedding_dim,
    check_lenet_options,
    conv_block,
    lenet_encoder,
    project,
    tower_model,
)


def _spectrogram_image(inputs, name, min_size, reason, normalize, **log_mel_options):
    """Waveform -> `(frames, n_mels, 1)` log-mel image, optionally BatchNorm'd per band.

    A rank-2 input is taken as a precomputed `(frames, bands)` spectrogram.
    """
    precomputed = len(inputs.shape) == 3
    if precomputed:
        frames, bands = inputs.shape[1:]
        source = "input"
    else:
        log_mel = LogMelSpectrogram(name=f"{name}_log_mel", **log_mel_options)
        frames, bands = log_mel.num_frames(inputs.shape[-1]), log_mel.n_mels
        source = f"log-mel spectrogram of {inputs.shape[-1]} samples"
    if min(frames, bands) < min_size:
        raise ValueError(
            f"`input_shape` is too small: the {source} has {frames} frames x {bands} "
            f"bands; both must be at least {min_size}{reason}. Use longer inputs, a "
            f"smaller `hop_length` or more `n_mels`. "
            f"Received: input_shape={tuple(inputs.shape[1:])}"
        )
    x = inputs if precomputed else log_mel(inputs)
    x = keras.layers.Reshape((frames, bands, 1), name=f"{name}_add_channel")(x)
    if normalize:
        x = batch_norm(f"{name}_spectrogram_norm", axis=2)(x)
    return x


def _map_outputs(features, name, embedding_dim, dropout=0.0):
    """Embedding from global average pooling; sequence = (time, freq * channels)."""
    frames, mels, channels = features.shape[1:]
    pooled = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(features)
    if dropout:
        pooled = keras.layers.Dropout(dropout, name=f"{name}_dropout")(pooled)
    sequence = keras.layers.Reshape((frames, mels * channels), name=f"{name}_sequence")(
        features
    )
    return {"embedding": project(pooled, embedding_dim, name), "sequence": sequence}


def build_log_mel_conv(
    input_shape, name="audio", sample_rate=8000, n_fft=512, hop_length=128, win_length=None,
    n_mels=64, fmin=0.0, fmax=None, normalize=True, filters=(32, 64, 128), kernel_size=3,
    embedding_dim=128, dropout=0.0,
):
    """Log-mel spectrogram in the graph, then Conv2D -> BatchNorm -> ReLU -> MaxPool.

    Args:
        input_shape: `(num_samples,)`.
        name: input name; the model is named `f"{name}_tower"`.
        sample_rate: sampling rate of the waveforms in Hz.
        n_fft, hop_length, win_length, n_mels, fmin, fmax: `LogMelSpectrogram` options
            (its defaults otherwise: Hann window, centred frames, Slaney mel, 80 dB range).
        normalize: whether a BatchNormalization per mel band precedes the convolutions.
        filters: filters of each conv block; frames and mel bands must be at least
            `2 ** len(filters)`.
        kernel_size: convolution kernel size.
        embedding_dim: width of the final ReLU projection; `None` keeps `filters[-1]`.
        dropout: dropout rate after global average pooling.

    Returns:
        A `keras.Model` with outputs `embedding` and `sequence`
        `(batch, frames', mels' * filters[-1])`.

    Raises:
        ValueError: an option out of range or of the wrong type, or an `input_shape`
            of the wrong rank or too small for the tower; the message names the
            argument and the value received.

    >>> build_log_mel_conv((8000,), embedding_dim=None).output["embedding"].shape
    (None, 128)
    """
    input_shape = check_shape(input_shape, 1, "(num_samples,)")
    filters = check_int_sequence("filters", filters)
    check_positive_int("kernel_size", kernel_size)
    check_embedding_dim(embedding_dim)
    check_rate("dropout", dropout)
    check_bool("normalize", normalize)
    inputs = keras.Input(shape=input_shape, name=name)
    x = _spectrogram_image(
        inputs, name, 2 ** len(filters), f" for {len(filters)} 2x2 max pools", normalize,
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
        n_mels=n_mels, fmin=fmin, fmax=fmax,
    )
    for i, width in enumerate(filters):
        x = conv_block(x, width, kernel_size, f"{name}_block{i}")
    return tower_model(inputs, _map_outputs(x, name, embedding_dim, dropout), name)


def _activation(kind, name):
    if kind == "prelu":
        return keras.layers.PReLU(shared_axes=[1], name=name)
    return keras.layers.ReLU(name=name)


def build_waveform_conv(
    input_shape, name="audio", sample_rate=8000, num_filters=64, kernel_size=16,
    bottleneck_dim=64, hidden_dim=128, num_blocks=4, block_kernel_size=3,
    activation="prelu", embedding_dim=128, dropout=0.0,
):
    """ConvTasNet-style encoder on the raw waveform.

    A learned filterbank (Conv1D with `num_filters` filters of `kernel_size` samples,
    stride `kernel_size // 2`, ReLU), global layer norm and a 1x1 bottleneck conv, then
    `num_blocks` residual blocks: 1x1 conv to `hidden_dim`, activation, global layer
    norm, depthwise conv with dilation `2 ** i`, activation, global layer norm, 1x1 conv
    back to `bottleneck_dim`.

    Args:
        input_shape: `(num_samples,)`, at least `kernel_size` samples.
        name: input name; the model is named `f"{name}_tower"`.
        sample_rate: sampling rate in Hz; accepted for a uniform audio interface, the
            learned filterbank does not depend on it.
        num_filters: filters of the learned filterbank.
        kernel_size: filterbank length in samples.
        bottleneck_dim: channels between blocks (and of `sequence`).
        hidden_dim: channels inside a block.
        num_blocks: residual blocks, with dilations 1, 2, 4, ...
        block_kernel_size: kernel size of the depthwise convolutions.
        activation: `"prelu"` or `"relu"`.
        embedding_dim: width of the final ReLU projection; `None` keeps `bottleneck_dim`.
        dropout: dropout rate after global average pooling.

    Returns:
        A `keras.Model` with outputs `embedding` and `sequence`
        `(batch, frames, bottleneck_dim)`, `frames = 1 + (num_samples - kernel_size) //
        (kernel_size // 2)`.

    Raises:
        ValueError: an option out of range or of the wrong type, or an `input_shape`
            of the wrong rank or too small for the tower; the message names the
            argument and the value received.

    >>> build_waveform_conv((800,), num_blocks=2).output["sequence"].shape
    (None, 99, 64)
    """
    input_shape = check_shape(input_shape, 1, "(num_samples,)")
    check_positive_int("sample_rate", sample_rate)
    check_positive_int("num_filters", num_filters)
    check_positive_int("kernel_size", kernel_size)
    check_positive_int("bottleneck_dim", bottleneck_dim)
    check_positive_int("hidden_dim", hidden_dim)
    check_positive_int("num_blocks", num_blocks)
    check_positive_int("block_kernel_size", block_kernel_size)
    check_choice("activation", activation, ("prelu", "relu"))
    check_embedding_dim(embedding_dim)
    check_rate("dropout", dropout)
    if input_shape[0] < kernel_size:
        raise ValueError(
            f"`input_shape` must have at least kernel_size={kernel_size} samples. "
            f"Received: input_shape={input_shape}"
        )
    inputs = keras.Input(shape=input_shape, name=name)
    x = keras.layers.Reshape((input_shape[0], 1), name=f"{name}_add_channel")(inputs)
    x = keras.layers.Conv1D(
        num_filters, kernel_size, strides=max(1, kernel_size // 2), activation="relu",
        use_bias=False, name=f"{name}_filterbank",
    )(x)
    x = keras.layers.GroupNormalization(1, epsilon=1e-8, name=f"{name}_filterbank_norm")(x)
    x = keras.layers.Conv1D(bottleneck_dim, 1, name=f"{name}_bottleneck")(x)
    for i in range(num_blocks):
        prefix = f"{name}_block{i}"
        y = keras.layers.Conv1D(hidden_dim, 1, name=f"{prefix}_expand")(x)
        y = _activation(activation, f"{prefix}_act0")(y)
        y = keras.layers.GroupNormalization(1, epsilon=1e-8, name=f"{prefix}_norm0")(y)
        y = keras.layers.DepthwiseConv1D(
            block_kernel_size, dilation_rate=2**i, padding="same", name=f"{prefix}_depthwise"
        )(y)
        y = _activation(activation, f"{prefix}_act1")(y)
        y = keras.layers.GroupNormalization(1, epsilon=1e-8, name=f"{prefix}_norm1")(y)
        y = keras.layers.Conv1D(bottleneck_dim, 1, name=f"{prefix}_project")(y)
        x = keras.layers.Add(name=f"{prefix}_residual")([x, y])
    pooled = keras.layers.GlobalAveragePooling1D(name=f"{name}_pool")(x)
    if dropout:
        pooled = keras.layers.Dropout(dropout, name=f"{name}_dropout")(pooled)
    outputs = {"embedding": project(pooled, embedding_dim, name), "sequence": x}
    return tower_model(inputs, outputs, name)


def build_lenet(
    input_shape, name="audio", sample_rate=8000, n_fft=1024, hop_length=72, win_length=256,
    n_mels=112, fmin=0.0, fmax=None, normalize=True, channels=6, additional_layers=5,
    embedding_dim=None,
):
    """MultiBench's AV-MNIST audio baseline: a LeNet on a log-mel spectrogram image.

    With the defaults one second at 8 kHz gives a 112x112 spectrogram (112 centred
    frames of hop 72 with a 256-sample Hann window in a 1024-point FFT, 112 Slaney mel
    bands), and the LeNet of
    `image/lenet` with 5 additional layers reduces it to 1x1x192: a 192-wide embedding.
    An `input_shape` of rank 2, e.g. `(112, 112)`, takes precomputed `(frames, bands)`
    spectrograms instead of waveforms.

    Args:
        input_shape: `(num_samples,)` waveforms or `(frames, bands)` spectrograms.
        name: input name; the model is named `f"{name}_tower"`.
        sample_rate: sampling rate of the waveforms in Hz.
        n_fft, hop_length, win_length, n_mels, fmin, fmax: `LogMelSpectrogram` options;
            frames and mel bands must be at least `2 ** (additional_layers + 1)`.
        normalize: whether a BatchNormalization per band precedes the LeNet.
        channels: filters of the first (5x5) convolution.
        additional_layers: 3x3 convolutions after it, each doubling the width.
        embedding_dim: width of a final ReLU projection; `None` keeps
            `channels * 2 ** additional_layers`.

    Returns:
        A `keras.Model` with outputs `embedding` and `sequence`.

    Raises:
        ValueError: an option out of range or of the wrong type, or an `input_shape`
            of the wrong rank or too small for the tower; the message names the
            argument and the value received.

    >>> build_lenet((8000,)).output["embedding"].shape
    (None, 192)
    """
    if isinstance(input_shape, (list, tuple)) and len(input_shape) == 2:
        input_shape = check_shape(input_shape, 2, "(frames, bands)")
    else:
        input_shape = check_shape(input_shape, 1, "(num_samples,) or (frames, bands)")
    check_lenet_options(channels, additional_layers)
    check_embedding_dim(embedding_dim)
    check_bool("normalize", normalize)
    pools = additional_layers + 1
    inputs = keras.Input(shape=input_shape, name=name)
    x = _spectrogram_image(
        inputs, name, 2**pools, f" for {pools} 2x2 max pools", normalize,
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
        n_mels=n_mels, fmin=fmin, fmax=fmax,
    )
    features = lenet_encoder(x, channels, additional_layers, name)
    return tower_model(inputs, _map_outputs(features, name, embedding_dim), name)


TOWERS.register("audio/log_mel_conv", build_log_mel_conv)
TOWERS.register("audio/waveform_conv", build_waveform_conv)
TOWERS.register("audio/lenet", build_lenet)
