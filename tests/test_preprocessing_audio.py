"""Audio preprocessing on real FSDD recordings (8 kHz, mono, 16-bit PCM)."""

import io
import re
import struct

import keras
import librosa
import numpy as np
import pytest
import soundfile
import tensorflow as tf

from mmzoo.preprocessing.audio import (
    AudioPreprocessing,
    check_finite_waveform,
    decode_wav,
    fix_length,
    nonfinite_samples,
    preprocess_audio,
    resample,
)
from mmzoo.preprocessing.wav import _decode_any_wav, _is_canonical_pcm16


@pytest.fixture(scope="module")
def recordings(data_dir):
    """Three real recordings of different lengths: (wav bytes, float32 waveform)."""
    paths = [data_dir / "fsdd" / "recordings" / f"{d}_jackson_0.wav" for d in (0, 4, 7)]
    clips = []
    for path in paths:
        data = path.read_bytes()
        waveform, rate = soundfile.read(io.BytesIO(data), dtype="float32")
        assert rate == 8000
        clips.append((data, waveform))
    return clips


def to_wav(waveform, rate, subtype="PCM_16", fmt="WAV"):
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, rate, subtype=subtype, format=fmt)
    return buffer.getvalue()


def test_decode_real_files_matches_tf_audio(recordings):
    for data, waveform in recordings:
        decoded, rate = decode_wav(data)
        reference, reference_rate = tf.audio.decode_wav(data)
        assert decoded.dtype == tf.float32 and rate.dtype == tf.int32
        assert int(rate) == int(reference_rate) == 8000
        np.testing.assert_array_equal(decoded, reference[:, 0])
        np.testing.assert_array_equal(decoded, waveform)


@pytest.mark.parametrize(
    "subtype, fmt, atol",
    [
        ("PCM_U8", "WAV", 1e-7),
        ("PCM_16", "WAV", 1e-7),
        ("PCM_24", "WAV", 1e-7),
        ("PCM_32", "WAV", 1e-7),
        ("FLOAT", "WAV", 1e-7),
        ("DOUBLE", "WAV", 1e-7),
        ("PCM_24", "WAVEX", 1e-7),
        ("FLOAT", "WAVEX", 1e-7),
    ],
)
def test_decode_stereo_in_every_encoding(recordings, subtype, fmt, atol):
    waveform = recordings[0][1]
    stereo = np.stack([waveform, -0.5 * waveform], axis=1)
    data = to_wav(stereo, 11025, subtype, fmt)
    decoded, rate = decode_wav(data)
    reference, _ = soundfile.read(io.BytesIO(data), dtype="float64")
    assert int(rate) == 11025 and tuple(decoded.shape) == (len(waveform),)
    np.testing.assert_allclose(decoded, reference.mean(axis=1), atol=atol)


def test_decode_empty_and_short_and_silent():
    empty, rate = decode_wav(tf.audio.encode_wav(tf.zeros((0, 1)), 8000))
    assert tuple(empty.shape) == (0,) and int(rate) == 8000
    short, _ = decode_wav(to_wav(np.linspace(-0.5, 0.5, 37, dtype=np.float32), 8000))
    assert tuple(short.shape) == (37,)
    silent, _ = decode_wav(to_wav(np.zeros(500, np.float32), 8000))
    assert np.all(silent.numpy() == 0)


def _with_list_chunk(data):
    """The same WAV with a 'LIST' chunk between 'fmt ' and 'data' (not canonical)."""
    extra = b"LIST" + (6).to_bytes(4, "little") + b"INFOab"
    body = data[12:36] + extra + data[36:]
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body


def test_decode_fast_path_and_general_parser_agree(recordings):
    """16-bit PCM files with the plain 44-byte header take `tf.audio.decode_wav`; an
    extra chunk, a truncated data chunk or a stereo file give the same samples."""
    data, waveform = recordings[1]
    assert _is_canonical_pcm16(data)
    stereo = to_wav(np.stack([waveform, waveform], axis=1), 8000)
    truncated = data[:-101]  # the header still announces the full data chunk
    for variant, expected_canonical, expected in [
        (_with_list_chunk(data), False, waveform),
        (truncated, False, waveform[: (len(truncated) - 44) // 2]),
        (stereo, True, waveform),
    ]:
        assert bool(_is_canonical_pcm16(variant)) is expected_canonical
        decoded, rate = decode_wav(variant)
        np.testing.assert_array_equal(decoded, expected)
        general, general_rate = _decode_any_wav(tf.constant(variant))
        np.testing.assert_array_equal(general, decoded)
        assert int(rate) == int(general_rate) == 8000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a wav file at all",
        b"RIFF....WAVEjunk",
        b"RIFF\x04\x00\x00\x00WAVE",  # no chunks
        b"RIFF\x1c\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(16),  # fmt, no data, 0 channels
    ],
    ids=["empty", "text", "junk-chunk", "no-chunks", "no-data"],
)
def test_decode_invalid_raises(data):
    with pytest.raises(tf.errors.InvalidArgumentError, match="decode_wav"):
        decode_wav(data)


SUPPORTED = r"; mmzoo reads PCM 8/16/24/32-bit and IEEE float 32/64-bit"


@pytest.mark.parametrize(
    "subtype, named",
    [
        ("ALAW", "6 (A-law) with 8 bits"),
        ("ULAW", "7 (mu-law) with 8 bits"),
        ("MS_ADPCM", "2 (Microsoft ADPCM) with 4 bits"),
        ("IMA_ADPCM", "17 (IMA ADPCM) with 4 bits"),
        ("GSM610", "49 (GSM 6.10) with 0 bits"),
    ],
)
def test_unsupported_encodings_written_by_libsndfile_are_named(recordings, subtype, named):
    data = to_wav(recordings[0][1], 8000, subtype)
    message = rf"unsupported WAV format code {re.escape(named)} per sample{SUPPORTED}"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        decode_wav(data)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):  # in a graph too
        list(tf.data.Dataset.from_tensors(data).map(lambda d: decode_wav(d)[0]))


def _wav_header(code, bits, channels=1, sub_format=None, payload=bytes(64)):
    """A WAV of `payload` whose 'fmt ' chunk says format `code` and `bits` per sample
    (WAVE_FORMAT_EXTENSIBLE with `sub_format` when given)."""
    block = max(channels * bits // 8, 1)
    fmt = struct.pack("<HHIIHH", 0xFFFE if sub_format else code, channels, 8000, 8000 * block,
                      block, bits)
    if sub_format:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHIH", 22, bits, 0, sub_format) + guid_tail
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    "header, named",
    [
        (_wav_header(1, 12), "1 (PCM) with 12 bits"),
        (_wav_header(3, 16), "3 (IEEE float) with 16 bits"),
        (_wav_header(6, 8), "6 (A-law) with 8 bits"),
        (_wav_header(0x55, 0), "85 (MP3) with 0 bits"),
        (_wav_header(0x1234, 16, channels=2), "4660 (unknown) with 16 bits"),
        (_wav_header(0, 8, sub_format=7), "65534 (extensible, sub-format 7: mu-law) with 8 bits"),
        (_wav_header(0, 20, sub_format=1), "65534 (extensible, sub-format 1: PCM) with 20 bits"),
    ],
    ids=["pcm-12", "float-16", "alaw", "mp3", "unknown", "extensible-mulaw", "extensible-pcm-20"],
)
def test_unsupported_headers_are_named(header, named):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"format code {re.escape(named)} per sample{SUPPORTED}"):
        decode_wav(header)
    supported = _wav_header(1, 16, payload=struct.pack("<4h", 0, 16384, -16384, 0))
    np.testing.assert_array_equal(decode_wav(supported)[0], [0, 0.5, -0.5, 0])


def _float_wav_with(bad_values, at, channels=1, subtype="FLOAT"):
    """A real float WAV (libsndfile) of a tone with `bad_values` put at sample `at`."""
    tone = (0.5 * np.sin(np.arange(800) * 0.05)).astype(np.float32)
    samples = np.stack([tone] * channels, axis=1) if channels > 1 else tone.copy()
    for i, value in enumerate(bad_values):
        if channels > 1:
            samples[at + 3 * i, 1] = value  # in one channel only
        else:
            samples[at + 3 * i] = value
    return to_wav(samples, 8000, subtype)


def test_nan_and_infinite_samples_are_found_and_refused():
    nan_file = _float_wav_with([np.nan], at=17)
    waveform, _ = decode_wav(nan_file)  # decoding keeps them: checkers can count them
    assert nonfinite_samples(waveform) == (1, 17)
    assert nonfinite_samples(waveform.numpy()) == (1, 17)
    message = r"the WAV holds 1 NaN or infinite samples \(first at sample 17\)"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        preprocess_audio(nan_file, sample_rate=8000, num_samples=800)
    mixed = _float_wav_with([np.inf, np.nan, -np.inf], at=40, channels=2, subtype="DOUBLE")
    assert nonfinite_samples(decode_wav(mixed)[0]) == (3, 40)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"the WAV holds 3 NaN or infinite samples \(first at sample 40\)"):
        preprocess_audio(mixed, sample_rate=16000, num_samples=1600)
    clean = _float_wav_with([], at=0)
    assert nonfinite_samples(decode_wav(clean)[0]) == (0, None)
    assert tuple(preprocess_audio(clean, 8000, 800).shape) == (800,)
    # The graph code: in a tf.data map and a tf.function (prediction, serving).
    files = tf.data.Dataset.from_tensor_slices([clean, nan_file])
    ds = files.map(lambda data: preprocess_audio(data, 8000, 800))
    iterator = iter(ds)
    np.testing.assert_allclose(next(iterator), decode_wav(clean)[0], atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        next(iterator)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def checked(waveform):
        return check_finite_waveform(waveform, "clip.wav")

    np.testing.assert_array_equal(checked(np.ones(5, np.float32)), np.ones(5))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"clip.wav holds 2 NaN or infinite samples \(first at sample 0\)"):
        checked(np.array([np.nan, 0, np.inf], np.float32))


def test_resample_matches_librosa_fft_on_real_audio(recordings):
    worst = 0.0
    for _, waveform in recordings:
        up = resample(waveform, 8000, 16000).numpy()
        up_ref = librosa.resample(waveform, orig_sr=8000, target_sr=16000, res_type="fft")
        down = resample(up, 16000, 8000).numpy()
        down_ref = librosa.resample(up_ref, orig_sr=16000, target_sr=8000, res_type="fft")
        odd = resample(waveform, 8000, 22050).numpy()
        odd_ref = librosa.resample(waveform, orig_sr=8000, target_sr=22050, res_type="fft")
        for out, ref in ((up, up_ref), (down, down_ref), (odd, odd_ref)):
            assert out.shape == ref.shape
            worst = max(worst, float(np.abs(out - ref).max()))
        np.testing.assert_allclose(down, waveform, atol=1e-5)  # band-limited round trip
    assert worst < 1e-6, worst  # measured about 2e-7 (float32 FFTs on both sides)


@pytest.mark.parametrize("length", [1, 2, 3, 4, 7, 10])
def test_resample_tiny_clips_match_librosa(length):
    waveform = np.random.default_rng(length).uniform(-1, 1, length).astype(np.float32)
    for orig, target in ((8000, 16000), (16000, 8000), (8000, 22050), (22050, 8000)):
        ref = librosa.resample(waveform, orig_sr=orig, target_sr=target, res_type="fft")
        np.testing.assert_allclose(resample(waveform, orig, target), ref, atol=1e-6)


def test_resample_with_tensor_rates_in_graph(recordings):
    waveform = recordings[1][1]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32)])
    def to_16k(x, rate):
        return resample(x, rate, 16000)

    ref = librosa.resample(waveform, orig_sr=8000, target_sr=16000, res_type="fft")
    np.testing.assert_allclose(to_16k(waveform, 8000), ref, atol=1e-6)
    np.testing.assert_array_equal(to_16k(waveform, 16000), waveform)  # equal rates: unchanged
    assert tuple(to_16k(np.zeros(0, np.float32), 8000).shape) == (0,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="positive"):
        to_16k(waveform, 0)


def test_fix_length_modes():
    x = tf.range(1, 11, dtype=tf.float32)  # 1..10
    np.testing.assert_array_equal(fix_length(x, 4, "center"), [4, 5, 6, 7])
    np.testing.assert_array_equal(fix_length(x, 4, "start"), [1, 2, 3, 4])
    np.testing.assert_array_equal(
        fix_length(x, 13, "center"), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0]
    )
    np.testing.assert_array_equal(fix_length(x, 12, "start"), [*range(1, 11), 0, 0])
    np.testing.assert_array_equal(fix_length(x, 10, "random", seed=[1, 2]), x)
    batch = tf.stack([x, -x])
    np.testing.assert_array_equal(fix_length(batch, 3, "center"), [[4, 5, 6], [-4, -5, -6]])
    assert fix_length(tf.zeros([0]), 5).numpy().tolist() == [0.0] * 5


def test_fix_length_random_is_seeded():
    x = tf.range(1, 101, dtype=tf.float32)
    crops = [
        fix_length(x, 10, "random", seed=tf.constant([s, 7], tf.int64)).numpy() for s in range(8)
    ]
    for crop in crops:  # a contiguous window of x
        assert crop[-1] - crop[0] == 9 and np.all(np.diff(crop) == 1)
    assert len({c[0] for c in crops}) > 1
    np.testing.assert_array_equal(fix_length(x, 10, "random", seed=[3, 7]), crops[3])
    padded = fix_length(x[:5], 10, "random", seed=tf.constant([0, 1], tf.int32)).numpy()
    assert padded.sum() == 15 and np.count_nonzero(padded) == 5
    assert tuple(fix_length(x, 10, "random").shape) == (10,)  # unseeded still works


def test_argument_checks():
    x = tf.zeros([10])
    for bad in (0, -3, 2.5, True, None):
        with pytest.raises(ValueError, match="num_samples"):
            fix_length(x, bad)
        with pytest.raises(ValueError, match="num_samples"):
            AudioPreprocessing(sample_rate=8000, num_samples=bad)
        with pytest.raises(ValueError, match="sample_rate"):
            AudioPreprocessing(sample_rate=bad, num_samples=10)
        with pytest.raises(ValueError, match="sample_rate"):
            preprocess_audio(b"", sample_rate=bad, num_samples=10)
        with pytest.raises(ValueError, match="num_samples"):
            preprocess_audio(b"", sample_rate=8000, num_samples=bad)
    with pytest.raises(ValueError, match=r"mode.*Received: mode='end'"):
        fix_length(x, 5, mode="end")
    with pytest.raises(ValueError, match="seed"):
        fix_length(x, 5, mode="random", seed=[1, 2, 3])
    with pytest.raises(ValueError, match="waveform"):
        fix_length(tf.constant(1.0), 5)
    with pytest.raises(ValueError, match="orig_rate"):
        resample(x, 0, 8000)
    with pytest.raises(ValueError, match="target_rate"):
        resample(x, 8000, 22050.5)
    with pytest.raises(ValueError, match="training"):
        preprocess_audio(b"", 8000, 10, training="yes")
    with pytest.raises(ValueError, match="data"):
        decode_wav([b"a", b"b"])


def test_preprocess_audio_real_and_other_rates(recordings, tmp_path):
    data, waveform = recordings[0]
    out = preprocess_audio(data, sample_rate=16000, num_samples=16000)
    assert out.dtype == tf.float32 and tuple(out.shape) == (16000,)
    upsampled = librosa.resample(waveform, orig_sr=8000, target_sr=16000, res_type="fft")
    np.testing.assert_allclose(
        out,
        librosa.util.fix_length(librosa.util.pad_center(upsampled, size=16000), size=16000),
        atol=1e-6,
    )

    # A 22.05 kHz copy written to disk comes back at 8 kHz as librosa computes it, and
    # close to the original (the lengths round, 5148 -> 14190 -> 5149 samples).
    copy = librosa.resample(waveform, orig_sr=8000, target_sr=22050, res_type="fft")
    path = tmp_path / "copy.wav"
    path.write_bytes(tf.audio.encode_wav(copy[:, None], 22050).numpy())
    back = preprocess_audio(tf.io.read_file(str(path)), 8000, len(waveform)).numpy()
    stored, _ = soundfile.read(path, dtype="float32")
    reference = librosa.resample(stored, orig_sr=22050, target_sr=8000, res_type="fft")
    np.testing.assert_allclose(back, reference[: len(waveform)], atol=1e-6)
    assert np.corrcoef(back, waveform)[0, 1] > 0.95  # measured 0.984

    # Stereo float 44.1 kHz, very short and silent clips.
    stereo = to_wav(np.stack([copy, copy], 1), 44100, "FLOAT")
    assert tuple(preprocess_audio(stereo, 8000, 4000).shape) == (4000,)
    tiny = preprocess_audio(to_wav(np.full(50, 0.25, np.float32), 8000), 8000, 1000).numpy()
    assert np.count_nonzero(tiny) == 50 and np.allclose(tiny[475:525], 0.25, atol=1e-4)
    silent = preprocess_audio(to_wav(np.zeros(3000, np.float32), 16000), 8000, 2000)
    assert np.all(silent.numpy() == 0)
    empty = preprocess_audio(tf.audio.encode_wav(tf.zeros((0, 1)), 8000), 8000, 100)
    assert np.all(empty.numpy() == 0) and tuple(empty.shape) == (100,)


def test_preprocess_audio_in_dataset_map_with_seeds(recordings):
    files = [data for data, _ in recordings]

    def training_map(data, seed):
        return preprocess_audio(data, 8000, 3000, training=True, seed=seed)

    def run(epoch_seed):
        seeds = tf.data.Dataset.random(seed=epoch_seed).batch(2)
        ds = tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(files), seeds)
        return np.stack(list(ds.map(training_map).as_numpy_iterator()))

    first, again, other = run(1), run(1), run(2)
    assert first.shape == (3, 3000)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    for crop, (_, waveform) in zip(first, recordings, strict=True):  # each a window of its clip
        starts = [
            i
            for i in np.flatnonzero(waveform[:-2999] == crop[0])
            if np.array_equal(waveform[i : i + 3000], crop)
        ]
        assert starts, "the random crop is not a window of the clip"

    ds = tf.data.Dataset.from_tensor_slices(files).map(lambda d: preprocess_audio(d, 8000, 3000))
    assert ds.element_spec.shape == (3000,)
    for out, (data, _) in zip(ds, recordings, strict=True):
        np.testing.assert_array_equal(out, preprocess_audio(data, 8000, 3000))
    broken = tf.data.Dataset.from_tensor_slices([b"garbage"]).map(
        lambda d: preprocess_audio(d, 8000, 10)
    )
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(broken)


def test_layer_batch_config_and_keras_file(tmp_path, recordings):
    layer = AudioPreprocessing(sample_rate=8000, num_samples=6000, name="audio_pre")
    waveform = recordings[0][1]
    batch = np.stack([waveform[:5000], -waveform[:5000]]).astype(np.float32)
    out = layer(batch)
    assert tuple(out.shape) == (2, 6000) and out.dtype == tf.float32
    np.testing.assert_array_equal(out[0], fix_length(batch[0], 6000, "center"))
    np.testing.assert_array_equal(
        layer(np.tile(waveform[:7000], (2, 1)))[0], fix_length(waveform[:7000], 6000)
    )

    restored = AudioPreprocessing.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config() and restored.sample_rate == 8000

    inputs = keras.Input(shape=(None,), name="audio")
    model = keras.Model(inputs, layer(inputs))
    assert model.output_shape == (None, 6000)
    model.save(tmp_path / "audio.keras")
    loaded = keras.saving.load_model(tmp_path / "audio.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded(batch), out)
