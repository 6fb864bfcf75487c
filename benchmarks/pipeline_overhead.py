"""Training from files on disk vs from memory: does the manifest pipeline keep up?

Builds, in a temporary folder (deleted at the end), a CSV manifest of N examples
(default 1,024): the first N MNIST training digits (raw idx files) written as PNG
files, each paired by label with an FSDD recording (listed by its path in the shared
data folder, cycling through the 250 recordings of that digit), a short noisy
sentence naming the digit (inline text column) and the label. The file pipeline is
`mmzoo.data.from_manifest` (PNG decode + resize, WAV decode + centre crop/pad to 8,000
samples, `TextTokenizer` adapted on the texts; `cache=False`, parallel map and
prefetch as the pipeline does them, `drop_remainder=True` for equal batches).

Three inputs are timed:

- `file`: `from_manifest(..., shuffle=False)`: files decoded while the model trains
  (streaming). This is the measured figure.
- `memory`: the exact batches `file` yields, iterated once and stacked, fed through
  `tf.data.Dataset.from_tensor_slices(...).prefetch(AUTOTUNE)`: nothing is decoded.
- `file_shuffled`: `from_manifest(..., shuffle=True)` (the default): the manifest's
  rows (paths and texts) are shuffled, then decoded while the model trains, so it
  streams like `file`; its whole-epoch throughput and first-batch wait are reported
  too (before the rows were shuffled first, each epoch decoded every file into the
  shuffle buffer before its first batch).

The model: `mmzoo.build_model` with an image `conv` tower (28x28x1), a text `cnn`
tower (16 tokens) and an audio `log_mel_conv` tower (8,000 samples at 8 kHz, log-mel
in the graph), concat fusion, 10-way head; Adam. After one warm-up epoch on each
input, `model.fit` runs one epoch at a time, rotating the three inputs (`file` and
`memory` always adjacent, in alternating order, so drift and other jobs' load hit
both alike), and a callback timestamps every batch: steady-state throughput is the
examples of the batches after the first `--skip-batches` of each epoch over their
time. Each round gives a ratio file / memory of two adjacent epochs; the figure is the
median of the rounds' ratios (robust to a round disturbed by another process; the
ratio of the throughputs pooled over all rounds is reported too); target >= 0.95.

For diagnosis: the pipeline iterated alone (no training), with its default threading
and with a one-thread tf.data pool (the CPU cost per example it adds to training);
and the process CPU time of each epoch, whose memory/file ratio per example is what
the throughput ratio falls to when no core is left idle (e.g. on a machine shared
with other jobs), and the cores other processes kept busy during the rounds.

Results go to `benchmarks/results/pipeline_overhead.json` (written also when the
target is missed, with `"target_met": false`); exit status 1 when it is missed.

Usage: `.venv/bin/python benchmarks/pipeline_overhead.py [--data-dir DIR]
[--examples 1024] [--batch-size 64] [--rounds 6] [--skip-batches 2]` (about 3
minutes on 2 idle CPU cores, 4-5 when other jobs share them). The data dir
defaults to `$MMZOO_DATA_DIR`, else `../shared/data` beside the repository.
"""

import argparse
import contextlib
import csv
import gzip
import io
import os
import pathlib
import platform
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import mmzoo  # noqa: E402
from mmzoo.io import atomic_write_json  # noqa: E402
from mmzoo.preprocessing.text import TextTokenizer  # noqa: E402

LOAD_AT_START = round(os.getloadavg()[0], 2)
RESULTS = REPO / "benchmarks" / "results" / "pipeline_overhead.json"
TARGET = 0.95
SAMPLE_RATE = 8000
NUM_SAMPLES = 8000
SEQUENCE_LENGTH = 16
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
               "nine"]
FILLERS = ["a", "the", "this", "is", "handwritten", "digit", "number", "picture", "of",
           "written", "here", "it", "looks", "like", "maybe", "probably", "scanned", "ink",
           "small", "large"]


def default_data_dir():
    return pathlib.Path(os.environ.get("MMZOO_DATA_DIR", REPO.parent / "shared" / "data"))


def read_idx(path):
    """An MNIST idx(.gz) file as a numpy array."""
    with gzip.open(path) as handle:
        data = handle.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_dataset(folder, data_dir, count, seed):
    """PNG digits + FSDD paths + noisy texts + labels -> `folder/manifest.csv`."""
    needed = [data_dir / "mnist" / f"train-{kind}-idx{n}-ubyte.gz"
              for kind, n in (("images", 3), ("labels", 1))]
    needed.append(data_dir / "fsdd" / "recordings")
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        raise SystemExit(f"data not found: {missing}; pass --data-dir or set MMZOO_DATA_DIR")
    images = read_idx(data_dir / "mnist" / "train-images-idx3-ubyte.gz")[:count]
    labels = read_idx(data_dir / "mnist" / "train-labels-idx1-ubyte.gz")[:count]
    wavs = sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))
    by_digit = {d: [w for w in wavs if w.name.split("_")[0] == str(d)] for d in range(10)}
    if len(images) < count or any(not files for files in by_digit.values()):
        raise SystemExit(f"MNIST idx files or FSDD recordings missing under {data_dir}; "
                         "pass --data-dir or set MMZOO_DATA_DIR")
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir()
    rows, used = [], [0] * 10
    for i, (image, label) in enumerate(zip(images, labels)):
        label = int(label)
        name = f"images/{i:05d}.png"
        (folder / name).write_bytes(tf.io.encode_png(image[..., None]).numpy())
        wav = by_digit[label][used[label] % len(by_digit[label])]
        used[label] += 1
        # Names the digit 80% of the time, a random one otherwise, among filler words.
        word = DIGIT_WORDS[label] if rng.random() < 0.8 else DIGIT_WORDS[rng.integers(10)]
        words = [*rng.choice(FILLERS, size=rng.integers(3, 10)), word]
        rng.shuffle(words)
        rows.append({"image": name, "text": " ".join(words), "audio": str(wav),
                     "label": str(label)})
    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "text", "audio", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "manifest.csv", rows


def busy_cpu_seconds():
    """CPU seconds all processes have spent busy so far (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class BatchTimer(keras.callbacks.Callback):
    """Timestamps the start of each epoch and the end of every batch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.times = [time.perf_counter()]

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def fit_epoch(model, dataset, batch_size, skip):
    """One epoch of `model.fit`: (steady-state examples/s, whole-epoch examples/s, n)."""
    timer = BatchTimer()
    cpu_start = time.process_time()
    model.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
    cpu_seconds = time.process_time() - cpu_start
    times = timer.times
    batches = len(times) - 1
    steady = times[skip:]  # end of batch `skip` (1-based) .. end of the last batch
    steady_examples = (len(steady) - 1) * batch_size
    return {
        "steady_examples": steady_examples,
        "steady_seconds": steady[-1] - steady[0],
        "steady_examples_per_s": steady_examples / (steady[-1] - steady[0]),
        "epoch_examples_per_s": batches * batch_size / (times[-1] - times[0]),
        "batches": batches,
        # From the start of the epoch to the end of its first batch: the wait for the
        # pipeline to start (and fill a shuffle buffer) plus one step.
        "first_batch_ms": 1000 * (times[1] - times[0]),
        # Steady-state batch times: a pipeline that stalls now and then shows up as a
        # max far above the median.
        "batch_ms_median": 1000 * statistics.median(np.diff(steady)),
        "batch_ms_max": 1000 * float(np.max(np.diff(steady))),
        # Process CPU time (all threads) of the whole fit call per example, and the
        # cores busy on average: how much CPU the pipeline adds and how full the
        # machine is.
        "cpu_ms_per_example": 1000 * cpu_seconds / (batches * batch_size),
        "cores_busy": cpu_seconds / (times[-1] - times[0]),
    }


def pipeline_alone(dataset, epochs=2):
    """Examples/s of iterating the dataset without training (best of `epochs`)."""
    best = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        count = sum(int(label.shape[0]) for _, label in dataset)
        best = max(best, count / (time.perf_counter() - start))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None,
                        help="shared data folder (default: $MMZOO_DATA_DIR or ../shared/data)")
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=6,
                        help="measured epochs per input, rotating the inputs")
    parser.add_argument("--skip-batches", type=int, default=2,
                        help="batches at the start of each epoch left out of the figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    data_dir = pathlib.Path(args.data_dir) if args.data_dir else default_data_dir()
    if args.examples // args.batch_size <= args.skip_batches + 2:
        parser.error("--examples must give more than --skip-batches + 2 full batches")
    keras.utils.set_random_seed(args.seed)

    folder = pathlib.Path(tempfile.mkdtemp(prefix="mmzoo_pipeline_overhead_"))
    try:
        report = run(args, data_dir, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output, report)
    print(f"target {'met' if report['target_met'] else 'MISSED'}; wrote {output}")
    return report


def run(args, data_dir, folder):
    timings = {}
    start = time.perf_counter()
    manifest_path, rows = write_dataset(folder, data_dir, args.examples, args.seed)
    timings["write_dataset"] = time.perf_counter() - start

    tokenizer = TextTokenizer(sequence_length=SEQUENCE_LENGTH)
    tokenizer.adapt([row["text"] for row in rows])
    specs = {
        "image": {"kind": "image", "size": (28, 28), "channels": 1},
        "text": {"kind": "text", "tokenizer": tokenizer},
        "audio": {"kind": "audio", "sample_rate": SAMPLE_RATE, "num_samples": NUM_SAMPLES},
    }
    options = {"batch_size": args.batch_size, "drop_remainder": True, "cache": False,
               "seed": args.seed}
    start = time.perf_counter()
    # read_manifest shows a progress bar over 1,000 rows; from_manifest cannot turn it off.
    with contextlib.redirect_stdout(io.StringIO()):
        file_ds, manifest = mmzoo.data.from_manifest(manifest_path, specs, shuffle=False,
                                                     **options)
    timings["from_manifest_validation"] = time.perf_counter() - start
    with contextlib.redirect_stdout(io.StringIO()):
        shuffled_ds, _ = mmzoo.data.from_manifest(manifest_path, specs, shuffle=True,
                                                  **options)
    print(f"{len(manifest)} examples in {folder} (PNG digits, FSDD wavs in place, texts); "
          f"writing {timings['write_dataset']:.1f} s, manifest validation "
          f"{timings['from_manifest_validation']:.1f} s", flush=True)

    start = time.perf_counter()
    batches = list(file_ds)
    timings["materialise"] = time.perf_counter() - start
    features = {name: tf.stack([x[name] for x, _ in batches]) for name in batches[0][0]}
    labels = tf.stack([y for _, y in batches])
    memory_ds = tf.data.Dataset.from_tensor_slices((features, labels)).prefetch(
        tf.data.AUTOTUNE)
    num_batches = len(batches)
    del batches

    model = mmzoo.build_model(
        {
            "image": {"tower": "conv", "input_shape": (28, 28, 1)},
            "text": {"tower": "cnn", "input_shape": (SEQUENCE_LENGTH,),
                     "vocab_size": tokenizer.vocabulary_size},
            "audio": {"tower": "log_mel_conv", "input_shape": (NUM_SAMPLES,),
                      "sample_rate": SAMPLE_RATE},
        },
        fusion="concat",
        num_outputs=10,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    print(f"model: {model.count_params():,} parameters; {num_batches} batches of "
          f"{args.batch_size} per epoch", flush=True)

    inputs = {"file": file_ds, "memory": memory_ds, "file_shuffled": shuffled_ds}
    start = time.perf_counter()
    warmup = {name: fit_epoch(model, ds, args.batch_size, args.skip_batches)
              for name, ds in inputs.items()}
    timings["warmup_epochs"] = time.perf_counter() - start
    print("warm-up epochs (examples/s, whole epoch): " + ", ".join(
        f"{name} {w['epoch_examples_per_s']:.0f}" for name, w in warmup.items()), flush=True)

    measured = {name: [] for name in inputs}
    start = time.perf_counter()
    busy_start, own_start = busy_cpu_seconds(), time.process_time()
    for round_index in range(args.rounds):
        if round_index % 2 == 0:
            order = ("file", "memory", "file_shuffled")
        else:
            order = ("file_shuffled", "memory", "file")
        for name in order:
            measured[name].append(fit_epoch(model, inputs[name], args.batch_size,
                                            args.skip_batches))
        last = {name: results[-1] for name, results in measured.items()}
        steady = {name: r["steady_examples_per_s"] for name, r in last.items()}
        print(f"round {round_index + 1}/{args.rounds}: steady examples/s file "
              f"{steady['file']:.1f}, memory {steady['memory']:.1f} (ratio "
              f"{steady['file'] / steady['memory']:.3f}); whole epoch file {last['file']['epoch_examples_per_s']:.1f}, memory "
              f"{last['memory']['epoch_examples_per_s']:.1f}, file_shuffled "
              f"{last['file_shuffled']['epoch_examples_per_s']:.1f} (first batch "
              f"{last['file_shuffled']['first_batch_ms']:.0f} ms vs "
              f"{last['memory']['first_batch_ms']:.0f} ms)", flush=True)
    timings["measured_epochs"] = time.perf_counter() - start
    busy_end, own_end = busy_cpu_seconds(), time.process_time()
    # Cores other processes kept busy, on average, while the rounds ran.
    other_cores = None
    if busy_start is not None and busy_end is not None:
        other_cores = max(0.0, (busy_end - busy_start - (own_end - own_start))
                          / timings["measured_epochs"])

    def paired(name, key, baseline="memory"):
        return [r[key] / m[key] for r, m in zip(measured[name], measured[baseline])]

    def pooled(name):
        examples = sum(r["steady_examples"] for r in measured[name])
        return examples / sum(r["steady_seconds"] for r in measured[name])

    def median_of(name, key):
        return statistics.median(r[key] for r in measured[name])

    round_ratios = paired("file", "steady_examples_per_s")
    ratio = statistics.median(round_ratios)
    target_met = bool(ratio >= TARGET)
    quartiles = statistics.quantiles(round_ratios, n=4)
    pooled_ratio = pooled("file") / pooled("memory")
    epoch_ratio = statistics.median(paired("file", "epoch_examples_per_s"))
    shuffled_epoch_ratio = statistics.median(paired("file_shuffled", "epoch_examples_per_s"))
    shuffled_steady_ratio = statistics.median(paired("file_shuffled", "steady_examples_per_s"))
    fit_cpu = {name: median_of(name, "cpu_ms_per_example") for name in measured}
    cores = {name: median_of(name, "cores_busy") for name in measured}
    first_batch = {name: median_of(name, "first_batch_ms") for name in measured}
    cpu_bound_ratio = fit_cpu["memory"] / fit_cpu["file"]
    noisy = bool(quartiles[2] - quartiles[0] > 0.1
                 or (other_cores is not None and other_cores > 0.25))

    # Diagnosis: the pipeline alone, with its own threading and single-threaded.
    single = tf.data.Options()
    single.threading.private_threadpool_size = 1
    alone = {
        "default_threading": pipeline_alone(file_ds),
        "one_thread": pipeline_alone(file_ds.with_options(single)),
    }
    cpu_ms_per_example = 1000.0 / alone["one_thread"]

    print(f"steady-state ratio file/memory (median of {args.rounds} paired rounds) "
          f"{ratio:.3f}, target >= {TARGET}: {'met' if target_met else 'MISSED'} "
          f"(quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}; pooled: file "
          f"{pooled('file'):.1f}, memory {pooled('memory'):.1f} examples/s, ratio "
          f"{pooled_ratio:.3f}; whole epochs {epoch_ratio:.3f})", flush=True)
    print(f"default shuffle=True: whole-epoch ratio to memory {shuffled_epoch_ratio:.3f}, "
          f"first batch after {first_batch['file_shuffled']:.0f} ms (memory "
          f"{first_batch['memory']:.0f} ms, file {first_batch['file']:.0f} ms); "
          f"steady-state ratio {shuffled_steady_ratio:.3f} (rows are shuffled before "
          f"decoding, so it streams like `file`)", flush=True)
    if noisy:
        others = "unknown" if other_cores is None else f"{other_cores:.2f}"
        print(f"WARNING: noisy measurement (round ratios' interquartile range "
              f"{quartiles[2] - quartiles[0]:.3f}; other processes kept {others} of "
              f"{os.cpu_count()} cores busy): the CPU-time ratio below is the robust "
              "figure", flush=True)
    print(f"pipeline alone: {alone['default_threading']:.0f} examples/s (default threading), "
          f"{alone['one_thread']:.0f} examples/s on one thread = {cpu_ms_per_example:.2f} ms "
          f"CPU per example", flush=True)
    print(f"training CPU per example (median): file {fit_cpu['file']:.2f} ms, memory "
          f"{fit_cpu['memory']:.2f} ms (the ratio a fully CPU-bound machine would give: "
          f"{cpu_bound_ratio:.3f}); cores busy: file {cores['file']:.2f}, memory "
          f"{cores['memory']:.2f} of {os.cpu_count()}", flush=True)

    def rounded(value):
        return round(value, 3) if isinstance(value, float) else value

    return {
        "benchmark": "pipeline_overhead",
        "examples": len(manifest),
        "batch_size": args.batch_size,
        "batches_per_epoch": num_batches,
        "rounds": args.rounds,
        "skip_batches": args.skip_batches,
        "seed": args.seed,
        "data": "first N MNIST train digits as PNG (28x28x1), each paired by label with "
                "an FSDD wav (read in place from the shared data dir), a noisy inline "
                "sentence naming the digit, CSV manifest in a temporary folder",
        "pipeline": "mmzoo.data.from_manifest(cache=False, drop_remainder=True): image "
                    "28x28x1, audio 8000 samples at 8 kHz (centre), text "
                    "TextTokenizer(vectorization, 16 tokens); 'file' shuffle=False, "
                    "'file_shuffled' shuffle=True (default: the rows are shuffled, "
                    "then decoded)",
        "memory_baseline": "the 'file' pipeline's batches iterated once, stacked, "
                           "Dataset.from_tensor_slices(...).prefetch(AUTOTUNE)",
        "model": "mmzoo.build_model: image conv (32, 64, 128), text cnn, audio "
                 "log_mel_conv (32, 64, 128), concat fusion, multiclass head; Adam 1e-3; "
                 f"{model.count_params()} parameters",
        "ratio": round(ratio, 4),
        "ratio_definition": "median over rounds of (file / memory steady-state examples/s "
                            "of the two adjacent epochs of that round), file = "
                            "from_manifest(shuffle=False)",
        "target": TARGET,
        "target_met": target_met,
        "round_ratios": [round(r, 4) for r in round_ratios],
        "round_ratio_quartiles": [round(q, 4) for q in quartiles],
        "steady_examples_per_s_pooled": {name: round(pooled(name), 2) for name in measured},
        "pooled_ratio": round(pooled_ratio, 4),
        "whole_epoch_ratio_median": round(epoch_ratio, 4),
        "shuffled_default": {
            "whole_epoch_ratio_median": round(shuffled_epoch_ratio, 4),
            "steady_ratio_median": round(shuffled_steady_ratio, 4),
            "first_batch_ms_median": {k: round(v, 1) for k, v in first_batch.items()},
        },
        "noisy": noisy,
        "other_processes_cores_busy": None if other_cores is None else round(other_cores, 3),
        "pipeline_alone_examples_per_s": {k: round(v, 1) for k, v in alone.items()},
        "pipeline_cpu_ms_per_example_one_thread": round(cpu_ms_per_example, 3),
        "fit_cpu_ms_per_example_median": {k: round(v, 3) for k, v in fit_cpu.items()},
        "fit_cores_busy_median": {k: round(v, 3) for k, v in cores.items()},
        # memory / file CPU per example: the throughput ratio when CPU is the bottleneck
        # (no idle core for the pipeline), a lower bound; with idle cores it nears 1.
        "cpu_bound_ratio_estimate": round(cpu_bound_ratio, 4),
        "per_epoch": {name: [{k: rounded(v) for k, v in r.items()} for r in results]
                      for name, results in measured.items()},
        "warmup_epoch_examples_per_s": {k: round(v["epoch_examples_per_s"], 2)
                                        for k, v in warmup.items()},
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "environment": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
            # 1-minute load averages: other processes on the machine (noise).
            "load_average_start_end": [LOAD_AT_START, round(os.getloadavg()[0], 2)],
        },
    }


if __name__ == "__main__":
    sys.exit(0 if main()["target_met"] else 1)
