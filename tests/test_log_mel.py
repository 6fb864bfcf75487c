"""LogMelSpectrogram: parity with librosa on real FSDD recordings, batch invariance."""

import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf
from testing import run_layer_test

from mmzoo.preprocessing import LogMelSpectrogram

librosa = pytest.importorskip("librosa")

SAMPLE_RATE = 8000
STFT = dict(n_fft=512, hop_length=128, n_mels=64)


@pytest.fixture(scope="module")
def clips(data_dir):
    """40 FSDD recordings spread over digits, speakers and takes, int16 -> [-1, 1)."""
    files = sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))
    if len(files) < 100:
        pytest.fail(f"FSDD recordings not found under {data_dir}/fsdd/recordings")
    waves = []
    for path in files[:: len(files) // 40][:40]:
        data, rate = soundfile.read(path, dtype="int16")
        assert rate == SAMPLE_RATE
        waves.append(data.astype("float32") / 32768.0)
    return waves


def _librosa(wave, mel_scale, norm, pad_mode, power=2.0):
    mel = librosa.feature.melspectrogram(
        y=wave, sr=SAMPLE_RATE, window="hann", center=True, pad_mode=pad_mode,
        power=power, htk=mel_scale == "htk", norm=norm, **STFT,
    )
    return mel.T, librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0).T


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
@pytest.mark.parametrize("mel_scale", ["slaney", "htk"])
@pytest.mark.parametrize("norm", ["slaney", None])
def test_matches_librosa_on_fsdd(clips, mel_scale, norm, pad_mode):
    options = dict(sample_rate=SAMPLE_RATE, mel_scale=mel_scale, norm=norm,
                   pad_mode=pad_mode, **STFT)
    linear = LogMelSpectrogram(log=False, **options)
    log_mel = LogMelSpectrogram(**options)
    worst_abs = worst_rel_db = 0.0
    for wave in clips:
        mel, db = _librosa(wave, mel_scale, norm, pad_mode)
        ours = np.asarray(linear(wave[None]))[0]
        ours_db = np.asarray(log_mel(wave[None]))[0]
        assert ours.shape == mel.shape == (1 + len(wave) // 128, 64)
        # Unnormalised filters reach values in the thousands, where float32 itself
        # only resolves ~1e-4, so the bound scales with the peak there.
        worst_abs = max(worst_abs, np.abs(ours - mel).max() / max(1.0, mel.max() / 100))
        # Relative error in dB, measured against at least 1 dB (0 dB is not special).
        rel = np.abs(ours_db - db) / np.maximum(np.abs(db), 1.0)
        worst_rel_db = max(worst_rel_db, rel.max())
    assert worst_abs <= 1e-4
    assert worst_rel_db <= 3e-3


def test_magnitude_window_and_options_match_librosa(clips):
    wave = clips[3]
    layer = LogMelSpectrogram(
        sample_rate=SAMPLE_RATE, n_fft=256, hop_length=100, win_length=200,
        window="hamming", n_mels=40, fmin=50.0, fmax=3500.0, power=1.0, top_db=None,
        ref=0.5, amin=1e-5,
    )
    mel = librosa.feature.melspectrogram(
        y=wave, sr=SAMPLE_RATE, n_fft=256, hop_length=100, win_length=200,
        window="hamming", n_mels=40, fmin=50.0, fmax=3500.0, power=1.0,
    )
    db = librosa.power_to_db(mel, ref=0.5, amin=1e-5, top_db=None).T
    np.testing.assert_allclose(np.asarray(layer(wave[None]))[0], db, atol=3e-3)


def test_uncentered_frames_match_librosa(clips):
    wave = clips[0]
    layer = LogMelSpectrogram(sample_rate=SAMPLE_RATE, center=False, log=False, **STFT)
    mel = librosa.feature.melspectrogram(y=wave, sr=SAMPLE_RATE, center=False, **STFT).T
    assert layer.compute_output_shape((None, len(wave)))[1] == mel.shape[0]
    np.testing.assert_allclose(np.asarray(layer(wave[None]))[0], mel, atol=1e-4)


def test_batch_invariant_top_db(clips):
    layer = LogMelSpectrogram(sample_rate=SAMPLE_RATE, **STFT)
    length = 4000
    quiet = 0.05 * np.resize(clips[0], length)
    batch = np.stack(
        [quiet] + [np.clip(3.0 * np.resize(c, length), -1, 1) for c in clips[1:32]]
    ).astype("float32")
    alone = np.asarray(layer(quiet[None].astype("float32")))[0]
    together = np.asarray(layer(batch))[0]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    # The floor is per example: the quiet clip keeps its own 80 dB range.
    assert alone.max() - alone.min() == pytest.approx(80.0, abs=1e-3)


def test_short_and_silent_clips_are_finite():
    layer = LogMelSpectrogram(sample_rate=SAMPLE_RATE, **STFT)
    for samples in (1, 100, 600):
        out = np.asarray(layer(np.zeros((2, samples), "float32")))
        assert out.shape == (2, 1 + samples // 128, 64)
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, -100.0)  # 10 * log10(amin)
    short = np.asarray(layer(np.random.default_rng(0).uniform(-1, 1, (2, 50)).astype("float32")))
    assert np.all(np.isfinite(short))


def test_static_and_dynamic_output_shapes():
    layer = LogMelSpectrogram(sample_rate=SAMPLE_RATE, **STFT)
    assert layer.compute_output_shape((None, 8000)) == (None, 63, 64)
    assert layer.compute_output_shape((None, None)) == (None, None, 64)
    static = keras.Input((8000,))
    assert tuple(layer(static).shape) == (None, 63, 64)
    model = keras.Sequential([keras.Input((None,)), LogMelSpectrogram(sample_rate=SAMPLE_RATE)])
    assert model.predict(np.zeros((2, 1000), "float32"), verbose=0).shape == (2, 8, 64)


def test_single_waveform_in_tf_data(clips):
    layer = LogMelSpectrogram(sample_rate=SAMPLE_RATE, **STFT)
    waves = np.stack([np.resize(c, 3000) for c in clips[:4]]).astype("float32")
    mapped = tf.data.Dataset.from_tensor_slices(waves).map(layer).batch(4)
    np.testing.assert_allclose(next(iter(mapped)).numpy(), np.asarray(layer(waves)), atol=1e-5)
    assert layer.compute_output_shape((3000,)) == (24, 64)


def test_float32_under_mixed_precision(clips):
    wave = clips[5][None]
    reference = np.asarray(LogMelSpectrogram(sample_rate=SAMPLE_RATE)(wave))
    layer = LogMelSpectrogram(sample_rate=SAMPLE_RATE, dtype="mixed_float16")
    out = layer(wave.astype("float16"))
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    # float16 output resolution (~0.03 dB at 40 dB); input half precision is the rest.
    np.testing.assert_allclose(np.asarray(out, "float32"), reference, atol=0.05, rtol=0.01)
    full = LogMelSpectrogram(sample_rate=SAMPLE_RATE, dtype="mixed_float16")(wave)
    np.testing.assert_allclose(np.asarray(full, "float32"), reference, atol=0.05)


def test_layer_contract():
    # Config round trip, symbolic call, .keras reload with equal outputs, mixed_float16.
    run_layer_test(
        LogMelSpectrogram,
        dict(sample_rate=16000, n_mels=40, mel_scale="htk", norm=None, pad_mode="reflect",
             top_db=None),
        np.random.default_rng(1).uniform(-1, 1, (2, 3000)).astype("float32"),
        expected_output_shape=(2, 1 + 3000 // 128, 40),
        expected_num_trainable_weights=0,
    )


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(sample_rate=0), "sample_rate"),
        (dict(sample_rate=8000.0), "sample_rate"),
        (dict(n_fft=1), "n_fft"),
        (dict(hop_length=0), "hop_length"),
        (dict(win_length=1024), "win_length"),
        (dict(window="kaiser"), "window"),
        (dict(n_mels=0), "n_mels"),
        (dict(fmin=-1.0), "fmin"),
        (dict(fmax=5000.0), "fmax"),
        (dict(power=0.0), "power"),
        (dict(mel_scale="bark"), "mel_scale"),
        (dict(norm="l2"), "norm"),
        (dict(center="yes"), "center"),
        (dict(pad_mode="edge"), "pad_mode"),
        (dict(log=1), "log"),
        (dict(top_db=-1.0), "top_db"),
        (dict(ref=0.0), "ref"),
        (dict(amin=0.0), "amin"),
    ],
)
def test_argument_errors(kwargs, argument):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=rf"{argument}.*Received: {argument}={value!r}"):
        LogMelSpectrogram(**kwargs)


def test_input_errors():
    with pytest.raises(ValueError, match="input_shape"):
        LogMelSpectrogram(pad_mode="reflect")(keras.Input((200,)))
    with pytest.raises(ValueError, match="input_shape"):
        LogMelSpectrogram(center=False)(keras.Input((200,)))
    with pytest.raises(ValueError, match="input_shape"):
        LogMelSpectrogram()(keras.Input((200, 1)))
