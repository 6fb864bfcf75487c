"""LogMelSpectrogram vs librosa on 1,000 real FSDD clips: parity and speed.

Takes the first 1,000 FSDD recordings (sorted file names), decodes them with
`mmzoo.preprocessing.audio.decode_wav` (int16 / 32768, checked against soundfile),
centre-pads/crops them to 8,000 samples with `fix_length`, and compares
`mmzoo.preprocessing.LogMelSpectrogram` with `librosa.feature.melspectrogram` +
`librosa.power_to_db` (ref 1, amin 1e-10, top_db 80, Hann window, centred frames,
zero padding, Slaney-normalised filters) for the Slaney and HTK mel scales:

- max absolute error of the linear mel spectrogram (`log=False`), target <= 1e-4;
- max relative error in dB, `|ours - librosa| / max(|librosa|, 1 dB)` as in
  `tests/test_log_mel.py`, target <= 3e-3;
- speed: the layer on the 1,000 clips in batches of 250 inside a `tf.function` (graph
  mode, as `model.predict`/`fit` run it without XLA; one warm-up pass, best of 3)
  against a per-clip Python loop over `librosa.feature.melspectrogram` +
  `power_to_db` (best of 3), target >= 20x. The librosa loop is timed as is and with
  BLAS limited to one thread (`threadpoolctl`): OpenBLAS's default threading makes
  the small per-clip matmul several times slower on a busy 2-core machine, so the
  faster of the two is the baseline. The layer called eagerly and XLA-compiled,
  `keras.layers.MelSpectrogram` on the same parameters (the field's layer) and a
  librosa loop with a precomputed filterbank are timed too, all round-robin in one
  run so machine noise hits all alike.
- the FFT floor: the bare `tf.signal.rfft` of the already framed and windowed clips.
  No STFT layer can be faster than its FFTs, so `baseline / FFT time` is the highest
  speed-up any such layer can reach on this machine (`speedup_ceiling`).

Three parameter sets: the audio towers' defaults (n_fft 512, hop 128, 64 mels), on
which the targets are gated; librosa's and `keras.layers.MelSpectrogram`'s defaults
(n_fft 2048, hop 512, 128 mels: the parameters of DESIGN.md's calibration figure);
and the AV-MNIST LeNet's (n_fft 1024, hop 72, win_length 256, 112 mels). The parity
targets apply to the towers' and LeNet's parameters. With n_fft 2048 the linear mel
of a 1 s clip peaks above 1,000, so float32 rounding alone (about 1e-7 of the peak,
in librosa's float32 STFT as in ours) exceeds the 1e-4 absolute target; its errors
and speed-up are reported, not gated on. Results go to
`benchmarks/results/log_mel.json` (written also when a target is missed, with
`"target_met": false`); the exit status is 1 when a target is missed.

Usage: `.venv/bin/python benchmarks/log_mel.py [--data-dir DIR] [--clips 1000]
[--batch-size 250] [--repeats 3] [--configs default,librosa_defaults,lenet]` (about
1.5 minutes on 2 idle CPU cores, 3-4 when other jobs share them). The data dir
defaults to `$MMZOO_DATA_DIR`, else `../shared/data` beside the repository.
"""

import argparse
import os
import pathlib
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402
import librosa  # noqa: E402
import soundfile  # noqa: E402
import tensorflow as tf  # noqa: E402
import threadpoolctl  # noqa: E402

from mmzoo.io import atomic_write_json  # noqa: E402
from mmzoo.preprocessing import LogMelSpectrogram  # noqa: E402
from mmzoo.preprocessing.audio import decode_wav, fix_length  # noqa: E402

LOAD_AT_START = round(os.getloadavg()[0], 2)
RESULTS = REPO / "benchmarks" / "results" / "log_mel.json"
SAMPLE_RATE = 8000
NUM_SAMPLES = 8000
CONFIGS = {
    "default": {"n_fft": 512, "hop_length": 128, "win_length": None, "n_mels": 64},
    "librosa_defaults": {"n_fft": 2048, "hop_length": 512, "win_length": None, "n_mels": 128},
    "lenet": {"n_fft": 1024, "hop_length": 72, "win_length": 256, "n_mels": 112},
}
MEL_SCALES = ("slaney", "htk")
DB = {"ref": 1.0, "amin": 1e-10, "top_db": 80.0}
TARGETS = {"max_abs_error_linear": 1e-4, "max_rel_error_db": 3e-3, "speedup": 20.0}
# Which parameter sets decide the exit status: see the docstring.
SPEED_TARGET_CONFIGS = ("default",)
PARITY_TARGET_CONFIGS = ("default", "lenet")


def default_data_dir():
    return pathlib.Path(os.environ.get("MMZOO_DATA_DIR", REPO.parent / "shared" / "data"))


def load_clips(data_dir, count):
    """First `count` FSDD files (sorted) -> (names, (count, 8000) float32, decode check)."""
    folder = pathlib.Path(data_dir) / "fsdd" / "recordings"
    files = sorted(folder.glob("*.wav"))
    if len(files) < count:
        raise SystemExit(f"need {count} FSDD wav files under {folder}, found {len(files)}; "
                         "pass --data-dir or set MMZOO_DATA_DIR")
    files = files[:count]
    waves, worst_decode = [], 0.0
    for path in files:
        waveform, rate = decode_wav(tf.io.read_file(str(path)))
        if int(rate) != SAMPLE_RATE:
            raise SystemExit(f"{path} has sample rate {int(rate)}, expected {SAMPLE_RATE}")
        reference, _ = soundfile.read(path, dtype="int16")
        worst_decode = max(worst_decode, float(np.abs(
            waveform.numpy() - reference.astype("float32") / 32768.0).max()))
        waves.append(fix_length(waveform, NUM_SAMPLES, "center").numpy())
    lengths = [int(soundfile.info(path).frames) for path in files]
    return [p.name for p in files], np.stack(waves).astype("float32"), worst_decode, lengths


def librosa_features(wave, options, mel_scale):
    mel = librosa.feature.melspectrogram(
        y=wave, sr=SAMPLE_RATE, window="hann", center=True, pad_mode="constant", power=2.0,
        htk=mel_scale == "htk", norm="slaney", **options,
    )
    return mel, librosa.power_to_db(mel, **DB)


def in_batches(fn, waves, batch_size):
    return np.concatenate([np.asarray(fn(waves[i:i + batch_size]))
                           for i in range(0, len(waves), batch_size)])


def interleaved_best(functions, repeats):
    """Times every function once per round, round-robin (so machine noise hits all
    alike), for `repeats` rounds; returns best and all times per name."""
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}, times


def parity(waves, options, mel_scale, batch_size):
    """Worst linear absolute and dB relative errors over all clips."""
    common = dict(sample_rate=SAMPLE_RATE, mel_scale=mel_scale, norm="slaney", **options)
    linear = in_batches(LogMelSpectrogram(log=False, **common), waves, batch_size)
    log_mel = in_batches(LogMelSpectrogram(**common, **DB), waves, batch_size)
    worst_abs = worst_rel = worst_db = peak = 0.0
    for wave, ours, ours_db in zip(waves, linear, log_mel):
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            mel, db = librosa_features(wave, options, mel_scale)
        mel, db = mel.T, db.T
        assert ours.shape == mel.shape, (ours.shape, mel.shape)
        worst_abs = max(worst_abs, float(np.abs(ours - mel).max()))
        peak = max(peak, float(mel.max()))
        worst_db = max(worst_db, float(np.abs(ours_db - db).max()))
        rel = np.abs(ours_db - db) / np.maximum(np.abs(db), 1.0)
        worst_rel = max(worst_rel, float(rel.max()))
    return {
        "max_abs_error_linear": worst_abs,
        "max_linear_value": peak,
        "max_abs_error_db": worst_db,
        "max_rel_error_db": worst_rel,
        "frames": int(linear.shape[1]),
        "n_mels": int(linear.shape[2]),
    }


def librosa_loop(waves, options):
    for wave in waves:
        librosa.power_to_db(librosa.feature.melspectrogram(
            y=wave, sr=SAMPLE_RATE, window="hann", center=True, pad_mode="constant",
            **options), **DB)


def speed(waves, options, batch_size, repeats):
    """Best-of-`repeats` seconds of each variant, measured round-robin."""
    layer = LogMelSpectrogram(sample_rate=SAMPLE_RATE, **options, **DB)
    variants = {
        "layer_eager": layer,
        "layer_tf_function": tf.function(layer),
        "layer_xla": tf.function(layer, jit_compile=True),
        # The field's layer on the same parameters, for reference (its dB floor uses
        # the batch maximum, so its values differ from librosa's; see DESIGN.md).
        "keras_mel_spectrogram": tf.function(keras.layers.MelSpectrogram(
            fft_length=options["n_fft"], sequence_stride=options["hop_length"],
            sequence_length=options["win_length"], num_mel_bins=options["n_mels"],
            sampling_rate=SAMPLE_RATE, max_freq=SAMPLE_RATE / 2, top_db=DB["top_db"])),
    }
    functions = {}
    for name, fn in variants.items():
        in_batches(fn, waves, batch_size)  # warm-up (tracing, compilation)
        functions[name] = lambda fn=fn: in_batches(fn, waves, batch_size)

    def librosa_one_blas_thread():
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            librosa_loop(waves, options)

    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=options["n_fft"],
                                n_mels=options["n_mels"], dtype=np.float32)

    def librosa_precomputed_basis():
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            for wave in waves:
                stft = librosa.stft(wave, n_fft=options["n_fft"],
                                    hop_length=options["hop_length"],
                                    win_length=options["win_length"], window="hann",
                                    center=True, pad_mode="constant")
                librosa.power_to_db(basis @ (np.abs(stft) ** 2), **DB)

    librosa_loop(waves[:20], options)  # warm-up (numba compilation on the first call)
    functions["librosa_loop"] = lambda: librosa_loop(waves, options)
    functions["librosa_loop_one_blas_thread"] = librosa_one_blas_thread
    functions["librosa_precomputed_basis_one_blas_thread"] = librosa_precomputed_basis
    return interleaved_best(functions, repeats)


def fft_floor(waves, options, batch_size, repeats=5):
    """Seconds per batch of the bare `tf.signal.rfft` of the already framed and
    windowed clips, and of the whole layer, timed round-robin.

    No STFT-based layer can be faster than its FFTs, so `baseline / (fft seconds x
    batches)` bounds the speed-up any such layer can reach on this machine.
    """
    layer = LogMelSpectrogram(sample_rate=SAMPLE_RATE, **options)
    batch = tf.constant(waves[:batch_size])
    win = options["win_length"] or options["n_fft"]
    frames = tf.signal.frame(tf.pad(batch, [[0, 0], [win // 2, win // 2]]), win,
                             options["hop_length"]) * layer._window_values
    rfft = tf.function(lambda f: tf.signal.rfft(f, [options["n_fft"]]))
    whole = tf.function(layer)
    functions = {"rfft": lambda: np.asarray(rfft(frames)),
                 "layer_tf_function": lambda: np.asarray(whole(batch))}
    for fn in functions.values():
        fn()
    best, _ = interleaved_best(functions, repeats)
    return {f"{name}_seconds_per_batch": round(value, 5) for name, value in best.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None,
                        help="shared data folder (default: $MMZOO_DATA_DIR or ../shared/data)")
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", default="default,librosa_defaults,lenet",
                        help=f"comma-separated subset of {sorted(CONFIGS)}")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    data_dir = pathlib.Path(args.data_dir) if args.data_dir else default_data_dir()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for name in configs:
        if name not in CONFIGS:
            parser.error(f"unknown config {name!r}; choose from {sorted(CONFIGS)}")

    start = time.perf_counter()
    names, waves, decode_error, lengths = load_clips(data_dir, args.clips)
    print(f"decoded {len(names)} clips ({names[0]} .. {names[-1]}, {min(lengths)}-"
          f"{max(lengths)} samples, fixed to {NUM_SAMPLES}) in "
          f"{time.perf_counter() - start:.1f} s; decode_wav vs soundfile max abs diff "
          f"{decode_error:.2e}", flush=True)

    results, met = {}, True
    for config in configs:
        options = CONFIGS[config]
        entry = {"parameters": {"sample_rate": SAMPLE_RATE, **options, **DB, "window": "hann",
                                "center": True, "pad_mode": "constant", "norm": "slaney"},
                 "parity": {}}
        for mel_scale in MEL_SCALES:
            errors = parity(waves, options, mel_scale, args.batch_size)
            errors["target_met"] = bool(
                errors["max_abs_error_linear"] <= TARGETS["max_abs_error_linear"]
                and errors["max_rel_error_db"] <= TARGETS["max_rel_error_db"])
            errors["target_applies"] = config in PARITY_TARGET_CONFIGS
            if errors["target_applies"]:
                met &= errors["target_met"]
            entry["parity"][mel_scale] = errors
            print(f"[{config}] {mel_scale:6s} linear max abs err "
                  f"{errors['max_abs_error_linear']:.3e} (peak {errors['max_linear_value']:.3g}), "
                  f"dB max rel err {errors['max_rel_error_db']:.3e} "
                  f"(max abs {errors['max_abs_error_db']:.3e} dB)  "
                  f"{'ok' if errors['target_met'] else 'MISSED'}"
                  f"{'' if errors['target_applies'] else ' (informational)'}", flush=True)
        seconds, all_times = speed(waves, options, args.batch_size, args.repeats)
        baseline = min(seconds["librosa_loop"], seconds["librosa_loop_one_blas_thread"])
        speedup = baseline / seconds["layer_tf_function"]
        entry["seconds_best"] = {k: round(v, 4) for k, v in seconds.items()}
        entry["seconds_all"] = {k: [round(t, 4) for t in v] for k, v in all_times.items()}
        entry["speedup"] = round(speedup, 2)
        entry["speedup_all"] = {
            f"{layer_name}_vs_{librosa_name}": round(seconds[librosa_name] / seconds[layer_name], 2)
            for layer_name in ("layer_eager", "layer_tf_function", "layer_xla")
            for librosa_name in ("librosa_loop", "librosa_loop_one_blas_thread",
                                 "librosa_precomputed_basis_one_blas_thread")
        }
        entry["speed_target_met"] = bool(speedup >= TARGETS["speedup"])
        entry["speed_target_applies"] = config in SPEED_TARGET_CONFIGS
        if entry["speed_target_applies"]:
            met &= entry["speed_target_met"]
        floor = fft_floor(waves, options, args.batch_size)
        floor["speedup_ceiling"] = round(
            baseline / (floor["rfft_seconds_per_batch"] * len(waves) / args.batch_size), 1)
        entry["fft_floor"] = floor
        status = "ok" if entry["speed_target_met"] else (
            "MISSED" if entry["speed_target_applies"] else "MISSED (informational)")
        print(f"[{config}] layer on {len(waves)} clips (batch {args.batch_size}): eager "
              f"{seconds['layer_eager']:.3f} s, tf.function {seconds['layer_tf_function']:.3f} s, "
              f"XLA {seconds['layer_xla']:.3f} s; librosa per-clip loop "
              f"{seconds['librosa_loop']:.3f} s (1 BLAS thread "
              f"{seconds['librosa_loop_one_blas_thread']:.3f} s, precomputed filterbank "
              f"{seconds['librosa_precomputed_basis_one_blas_thread']:.3f} s)", flush=True)
        print(f"[{config}] speed-up (fastest librosa loop / layer tf.function) {speedup:.1f}x "
              f"(eager {baseline / seconds['layer_eager']:.1f}x, XLA "
              f"{baseline / seconds['layer_xla']:.1f}x), target >= {TARGETS['speedup']:g}x: "
              f"{status}", flush=True)
        print(f"[{config}] keras.layers.MelSpectrogram (same parameters) "
              f"{seconds['keras_mel_spectrogram']:.3f} s = "
              f"{baseline / seconds['keras_mel_spectrogram']:.1f}x; bare tf.signal.rfft of the "
              f"frames {floor['rfft_seconds_per_batch'] * 1000:.1f} ms per batch, so no STFT "
              f"layer can beat {floor['speedup_ceiling']:.1f}x here", flush=True)
        results[config] = entry

    report = {
        "benchmark": "log_mel",
        "data": {"clips": len(names), "first": names[0], "last": names[-1],
                 "selection": "first clips by sorted file name",
                 "num_samples": NUM_SAMPLES, "fix_length": "center",
                 "original_samples_min_max": [min(lengths), max(lengths)],
                 "decode_wav_vs_soundfile_max_abs_diff": decode_error},
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "targets": TARGETS,
        "speed_target_configs": list(SPEED_TARGET_CONFIGS),
        "parity_target_configs": list(PARITY_TARGET_CONFIGS),
        "error_definitions": {
            "max_abs_error_linear": "max |ours - librosa| of the linear mel spectrogram "
                                    "(power 2, Slaney-normalised filters) over all clips",
            "max_rel_error_db": "max |ours_db - librosa_db| / max(|librosa_db|, 1) over all "
                                "clips (as tests/test_log_mel.py)",
            "speedup": "fastest best-of-repeats librosa per-clip loop (as is, or with BLAS "
                       "limited to one thread, which avoids OpenBLAS thread thrashing on "
                       "small matmuls) / best-of-repeats time of the layer in a tf.function "
                       "(graph mode, as in model.predict/fit without XLA) on the batched "
                       "clips; all variants are timed round-robin in one run",
        },
        "configs": results,
        "target_met": bool(met),
        "environment": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "librosa": librosa.__version__,
            "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
            # 1-minute load averages: other processes on the machine (noise).
            "load_average_start_end": [LOAD_AT_START, round(os.getloadavg()[0], 2)],
        },
    }
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output, report)
    print(f"target {'met' if met else 'MISSED'}; wrote {output}")
    return report


if __name__ == "__main__":
    sys.exit(0 if main()["target_met"] else 1)
