"""Training step time and memory of the three-modality sentiment model at real sizes.

The founding system's model: a BERT-base text tower, a ResNet50 image tower and a
ConvTasNet-style waveform audio tower, fused by attention into a 3-way head
(negative / neutral / positive), built with `mmzoo.build_model`:

- text: `text/pretrained` over `keras_hub.models.BertBackbone` (12 layers, 12 heads,
  hidden 768, intermediate 3072, 30,522 tokens, max length 512) with its
  `BertTokenizer` + `BertTextClassifierPreprocessor` (a synthetic vocabulary:
  `[PAD] [UNK] [CLS] [SEP] [MASK]` then made-up words), 128 tokens;
- image: `image/pretrained` over `keras_hub.models.ResNetBackbone` with the
  resnet_50 config (bottleneck blocks 3-4-6-3) and a `ResNetImageConverter` (224x224,
  ImageNet mean / std), 224x224x3 images;
- audio: `audio/waveform_conv` (mmzoo's own, default options), 16 kHz, 1 s clips
  (16,000 samples).

There is no network here, so both backbones get random weights: they are built from
their configs and written with `save_to_preset` to a temporary folder (deleted at the
end), which the towers load as any local preset. Random weights cost exactly what
the downloaded ones do.

Two settings: `frozen` (`trainable: False` on the text and image towers: their
backbones are frozen, ResNet's BatchNorm runs in inference mode) and `unfrozen`
(`trainable: True`: everything trains). The audio tower, the fusion and the head
always train. Each setting is measured in its own subprocess, so the peak resident
memory of one is not the other's (and the presets are written by a third); with
`--repeats R` the settings alternate (frozen, unfrozen, unfrozen, frozen, ...) so
drift and other jobs' load hit both alike.

Per setting, at `--batch-size` (default 8):

- parameters: total, trainable, frozen (non-trainable), and `model.parameter_table()`;
- seconds per training step: Keras' compiled train step (`model.train_on_batch`, the
  `train_function` `model.fit` calls each step; mmzoo's `fit` callbacks, such as the
  BatchNorm calibration at the end of a fit, are once-per-fit costs and left out) on
  one fixed in-memory batch of preprocessed tensors (the text tokenized by the model's
  own `Preprocessor`, i.e. the preset's tokenizer; random [0, 1] images; random
  waveforms). The first step (tracing and compiling) is reported apart; after
  `--warmup` steps in all, the median of `--steps` steps is the figure (also min and
  max). Adam; Keras' default `jit_compile="auto"` (XLA on a GPU, off on a CPU-only
  machine; recorded). The process's CPU time per step says how many cores it kept
  busy, and /proc/stat how many other processes kept busy meanwhile (noise);
- inference seconds per batch: `model.predict_on_batch`, the same way;
- memory: the process's peak resident set (`resource.getrusage`) after the imports,
  after building, after training and at the end, and the growth over the imports;
  on a GPU also TensorFlow's peak device memory.

The frozen setting also checks that a text and an image backbone weight are
unchanged by its steps, and the unfrozen one that they changed.

Results go to `benchmarks/results/pretrained_step.json` (`--tiny`: a temporary file
unless `--output` is given) with the machine (CPU model and count, GPU name if any,
Python / TensorFlow / Keras / keras-hub versions) and the load averages before and
after.

Usage: `.venv/bin/python benchmarks/pretrained_step.py [--batch-size 8] [--steps 5]
[--warmup 2] [--repeats 1] [--tiny] [--output FILE]`. On 2 CPU cores the full run
takes about 5-10 minutes (BERT-base + ResNet50 unfrozen is several seconds a step);
`--tiny` (2-layer BERT, small ResNet, 64x64 images, 32 tokens, 0.25 s clips, 2 steps)
is a smoke test of a minute or two. Runs on a GPU when TensorFlow sees one.
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "pretrained_step.json"
SETTINGS = ("frozen", "unfrozen")
CLASS_NAMES = ["negative", "neutral", "positive"]
SAMPLE_RATE = 16000
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The measured sizes; `tiny` is the smoke test's.
SIZES = {
    "full": {
        "bert": {"vocabulary_size": 30522, "num_layers": 12, "num_heads": 12,
                 "hidden_dim": 768, "intermediate_dim": 3072, "max_sequence_length": 512},
        "resnet": {"input_conv_filters": [64], "input_conv_kernel_sizes": [7],
                   "stackwise_num_filters": [64, 128, 256, 512],
                   "stackwise_num_blocks": [3, 4, 6, 3],
                   "stackwise_num_strides": [1, 2, 2, 2],
                   "block_type": "bottleneck_block", "use_pre_activation": False},
        "sequence_length": 128,
        "image_size": (224, 224),
        "num_samples": 16000,
    },
    "tiny": {
        "bert": {"vocabulary_size": 1000, "num_layers": 2, "num_heads": 2,
                 "hidden_dim": 64, "intermediate_dim": 128, "max_sequence_length": 64},
        "resnet": {"input_conv_filters": [64], "input_conv_kernel_sizes": [7],
                   "stackwise_num_filters": [64, 32], "stackwise_num_blocks": [1, 1],
                   "stackwise_num_strides": [1, 2], "block_type": "bottleneck_block",
                   "use_pre_activation": False},
        "sequence_length": 32,
        "image_size": (64, 64),
        "num_samples": 4000,
    },
}


def peak_rss_mb():
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb():
    """The process's resident memory now, in MiB (Linux /proc), or None."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def load_average():
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def busy_cpu_seconds():
    """CPU seconds all processes have spent busy so far (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def mmzoo_revision():
    """The repository's commit and whether `mmzoo/` differs from it (others edit it)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "mmzoo"], cwd=REPO,
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit or None, "mmzoo_modified": bool(dirty)}


def atomic_write_json(path, obj):
    """`mmzoo.io.atomic_write_json`'s contract, without importing mmzoo (and TensorFlow)
    into the parent process, which only orchestrates the measuring subprocesses."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(json.dumps(obj, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        pathlib.Path(handle.name).unlink(missing_ok=True)
        raise


def vocabulary(size):
    """`[PAD] [UNK] [CLS] [SEP] [MASK]` then made-up lower-case words, `size` in all."""
    return SPECIALS + [f"w{i}" for i in range(size - len(SPECIALS))]


# --------------------------------------------------------------------------- children


def make_presets(folder, size):
    """Writes `folder/bert` and `folder/resnet50` with random weights; returns timings."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    config = SIZES[size]
    start = time.perf_counter()
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=vocabulary(config["bert"]["vocabulary_size"]), lowercase=True)
    bert = keras_hub.models.BertBackbone(**config["bert"])
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=config["sequence_length"])
    bert.save_to_preset(str(folder / "bert"))
    preprocessor.save_to_preset(str(folder / "bert"))
    bert_params = bert.count_params()
    del bert
    text_seconds = time.perf_counter() - start
    start = time.perf_counter()
    resnet = keras_hub.models.ResNetBackbone(**config["resnet"], image_shape=(None, None, 3))
    converter = keras_hub.layers.ResNetImageConverter(
        image_size=config["image_size"], scale=[1 / (255 * s) for s in IMAGENET_STD],
        offset=[-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    resnet.save_to_preset(str(folder / "resnet50"))
    converter.save_to_preset(str(folder / "resnet50"))
    resnet_params = resnet.count_params()
    image_seconds = time.perf_counter() - start
    sizes = {name: sum(f.stat().st_size for f in (folder / name).rglob("*") if f.is_file())
             for name in ("bert", "resnet50")}
    return {"bert_backbone_params": bert_params, "resnet_backbone_params": resnet_params,
            "seconds": {"bert": round(text_seconds, 1), "resnet": round(image_seconds, 1)},
            "preset_mb": {name: round(b / 2**20, 1) for name, b in sizes.items()}}


def environment():
    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        gpus.append(details.get("device_name", device.name))
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "gpus": gpus,
        "tf_threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
    }


def measure(setting, folder, size, batch_size, steps, warmup, seed):
    """Builds the model for `setting`, times train and predict steps; returns a dict."""
    rss_start = current_rss_mb()
    revision = mmzoo_revision()  # the code this process imports
    import keras
    import numpy as np
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    sys.path.insert(0, str(REPO))
    import mmzoo

    config = SIZES[size]
    keras.utils.set_random_seed(seed)
    memory = {"rss_mb_after_imports": current_rss_mb(), "peak_rss_mb_after_imports": peak_rss_mb()}
    trainable = setting == "unfrozen"
    length, (height, width), samples = (config["sequence_length"], config["image_size"],
                                        config["num_samples"])
    start = time.perf_counter()
    model = mmzoo.build_model(
        {
            "text": {"tower": "pretrained", "preset": str(folder / "bert"),
                     "input_shape": (length,), "trainable": trainable},
            "image": {"tower": "pretrained", "preset": str(folder / "resnet50"),
                      "input_shape": (height, width, 3), "trainable": trainable},
            "audio": {"tower": "waveform_conv", "input_shape": (samples,),
                      "sample_rate": SAMPLE_RATE},
        },
        fusion="attention",
        num_outputs=len(CLASS_NAMES),
        head_options={"class_names": CLASS_NAMES},
        name=f"sentiment_{setting}",
    )
    build_seconds = time.perf_counter() - start
    memory["peak_rss_mb_after_build"] = peak_rss_mb()
    table = model.parameter_table()
    print(f"[{setting}] model built in {build_seconds:.1f} s\n{table}", flush=True)
    counts = {
        "total": int(model.count_params()),
        "trainable": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "frozen": int(sum(np.prod(w.shape) for w in model.non_trainable_weights)),
    }

    # One fixed batch of preprocessed tensors: the text through the model's own
    # Preprocessor entry (the preset's tokenizer), long enough to fill every position.
    rng = np.random.default_rng(seed)
    words = vocabulary(config["bert"]["vocabulary_size"])[len(SPECIALS):]
    sentences = [" ".join(rng.choice(words, size=length + 16)) for _ in range(batch_size)]
    token_ids = model.preprocessor.layers["text"](np.array(sentences, dtype=object))
    padded = int(np.sum(np.asarray(token_ids) == 0))
    batch = {
        "text": tf.constant(np.asarray(token_ids), tf.int32),
        "image": tf.constant(rng.random((batch_size, height, width, 3), dtype=np.float32)),
        "audio": tf.constant(0.1 * rng.standard_normal((batch_size, samples), dtype=np.float32)),
        mmzoo.MODALITY_MASK: tf.ones((batch_size, len(model.modalities))),
    }
    labels = tf.constant(np.arange(batch_size) % len(CLASS_NAMES), tf.int32)

    model.compile(optimizer=keras.optimizers.Adam(1e-5))
    watched = {
        "text": model.get_layer("text_tower").weights[0],
        "image": model.get_layer("image_tower").weights[0],
    }
    # The first weight of each tower (the embeddings / the first convolution), before.
    before = {name: np.array(weight.numpy()) for name, weight in watched.items()}

    def timed(call, count):
        walls, cpus = [], []
        for _ in range(count):
            wall, cpu = time.perf_counter(), time.process_time()
            call()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return walls, cpus

    def train():
        logs = model.train_on_batch(batch, labels, return_dict=True)
        float(logs["loss"])  # the step's result on the host: a GPU has finished it

    def infer():
        np.asarray(model.predict_on_batch(batch))

    load_train = load_average()
    first_train, _ = timed(train, 1)
    warm_train, _ = timed(train, max(0, warmup - 1))
    print(f"[{setting}] first train step {first_train[0]:.2f} s (tracing), warm-up "
          + ", ".join(f"{s:.2f}" for s in warm_train) + " s", flush=True)
    busy_start, own_start = busy_cpu_seconds(), time.process_time()
    train_walls, train_cpus = timed(train, steps)
    # Cores other processes kept busy, on average, during the timed steps (noise).
    other_cores = None
    if busy_start is not None:
        other_cores = round(max(0.0, (busy_cpu_seconds() - busy_start
                                      - (time.process_time() - own_start)) / sum(train_walls)), 2)
    memory["peak_rss_mb_after_train"] = peak_rss_mb()
    print(f"[{setting}] train steps " + ", ".join(f"{s:.2f}" for s in train_walls) + " s",
          flush=True)
    changed = {name: bool(not np.array_equal(before[name], weight.numpy()))
               for name, weight in watched.items()}

    first_infer, _ = timed(infer, 1)
    timed(infer, max(0, warmup - 1))
    infer_walls, infer_cpus = timed(infer, steps)
    print(f"[{setting}] predict batches " + ", ".join(f"{s:.2f}" for s in infer_walls)
          + " s", flush=True)

    memory["peak_rss_mb"] = peak_rss_mb()
    memory["peak_rss_growth_mb"] = memory["peak_rss_mb"] - memory["rss_mb_after_imports"]
    memory["rss_mb_at_start"] = rss_start
    memory = {k: None if v is None else round(v, 1) for k, v in memory.items()}
    gpu_memory = None
    if tf.config.list_physical_devices("GPU"):
        info = tf.config.experimental.get_memory_info("GPU:0")
        gpu_memory = {"peak_mb": round(info["peak"] / 2**20, 1),
                      "current_mb": round(info["current"] / 2**20, 1)}

    def summary(walls, cpus):
        median = statistics.median(walls)
        return {"median": round(median, 4), "min": round(min(walls), 4),
                "max": round(max(walls), 4), "all": [round(s, 4) for s in walls],
                "cpu_seconds_median": round(statistics.median(cpus), 4),
                "cores_busy": round(sum(cpus) / sum(walls), 2)}

    return {
        "setting": setting,
        "parameters": counts,
        "parameter_table": table,
        "build_seconds": round(build_seconds, 2),
        "text_tokens": {"length": length, "padding_tokens_in_batch": padded},
        "train_step_seconds": {**summary(train_walls, train_cpus),
                               "first_step_with_tracing": round(first_train[0], 3),
                               "warmup": [round(s, 4) for s in warm_train]},
        "train_examples_per_second": round(batch_size / statistics.median(train_walls), 3),
        "predict_batch_seconds": {**summary(infer_walls, infer_cpus),
                                  "first_with_tracing": round(first_infer[0], 3)},
        "backbone_weight_changed": changed,
        "memory": memory,
        "gpu_memory": gpu_memory,
        "load_average_at_training": load_train,
        "other_processes_cores_busy_in_timed_steps": other_cores,
        "jit_compile": bool(model.jit_compile),
        "mmzoo_revision": revision,
        "environment": environment(),
    }


def child(args):
    folder = pathlib.Path(args.presets)
    if args.child == "presets":
        result = make_presets(folder, args.size)
    else:
        result = measure(args.child, folder, args.size, args.batch_size, args.steps,
                         args.warmup, args.seed)
    pathlib.Path(args.child_output).write_text(json.dumps(result, indent=2))
    return 0


# --------------------------------------------------------------------------- parent


def run_child(kind, folder, args, size):
    """Runs this script as a subprocess for `kind`; returns the JSON it wrote."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        output = pathlib.Path(handle.name)
    command = [sys.executable, __file__, "--child", kind, "--presets", str(folder),
               "--child-output", str(output), "--size", size,
               "--batch-size", str(args.batch_size), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--seed", str(args.seed)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    try:
        start = time.perf_counter()
        process = subprocess.run(command, env=env, cwd=REPO)
        seconds = time.perf_counter() - start
        if process.returncode != 0:
            raise SystemExit(f"the {kind!r} subprocess failed (exit status "
                             f"{process.returncode}); see its output above")
        result = json.loads(output.read_text())
    finally:
        output.unlink(missing_ok=True)
    result["process_seconds"] = round(seconds, 1)
    return result


def print_table(per_setting, batch_size):
    rows = [
        ("parameters, total", lambda r: f"{r['parameters']['total']:,}"),
        ("parameters, trainable", lambda r: f"{r['parameters']['trainable']:,}"),
        ("parameters, frozen", lambda r: f"{r['parameters']['frozen']:,}"),
        (f"train step, s (batch {batch_size}, median)",
         lambda r: f"{r['train_step_seconds']['median']:.2f}"),
        ("train step, s (min-max)", lambda r: f"{r['train_step_seconds']['min']:.2f}-"
                                              f"{r['train_step_seconds']['max']:.2f}"),
        ("first train step (tracing), s",
         lambda r: f"{r['train_step_seconds']['first_step_with_tracing']:.1f}"),
        ("train examples/s", lambda r: f"{r['train_examples_per_second']:.2f}"),
        ("cores busy in training", lambda r: f"{r['train_step_seconds']['cores_busy']:.2f}"),
        ("other processes' cores busy", lambda r: str(
            r["other_processes_cores_busy_in_timed_steps"])),
        ("predict batch, s (median)", lambda r: f"{r['predict_batch_seconds']['median']:.2f}"),
        ("peak RSS, MiB", lambda r: f"{r['memory']['peak_rss_mb']:,.0f}"),
        ("peak RSS after build, MiB", lambda r: f"{r['memory']['peak_rss_mb_after_build']:,.0f}"),
        ("peak RSS growth over imports, MiB",
         lambda r: f"{r['memory']['peak_rss_growth_mb']:,.0f}"),
    ]
    if any(r["gpu_memory"] for r in per_setting.values()):
        rows.append(("GPU peak memory, MiB", lambda r: f"{r['gpu_memory']['peak_mb']:,.0f}"))
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"{'':<{width}}" + "".join(f"{s:>16}" for s in per_setting)]
    for label, cell in rows:
        lines.append(f"{label:<{width}}" + "".join(f"{cell(r):>16}"
                                                   for r in per_setting.values()))
    print("\n".join(lines), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per setting (default 5; --tiny 2)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed steps first, the tracing one included (at least 1)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="subprocesses per setting, alternating frozen/unfrozen")
    parser.add_argument("--tiny", action="store_true",
                        help="small backbones and inputs: a quick smoke test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None,
                        help=f"result file (default {RESULTS.relative_to(REPO)}; --tiny: a "
                             "temporary file)")
    parser.add_argument("--child", choices=("presets", *SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--presets", help=argparse.SUPPRESS)
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=tuple(SIZES), default="full", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 2 if args.tiny or args.size == "tiny" else 5
    if args.steps < 1 or args.warmup < 1 or args.repeats < 1 or args.batch_size < 1:
        parser.error("--steps, --warmup, --repeats and --batch-size must be at least 1")
    if args.child:
        return child(args)

    size = "tiny" if args.tiny else "full"
    if args.output:
        output = pathlib.Path(args.output)
    elif args.tiny:
        output = pathlib.Path(tempfile.gettempdir()) / "pretrained_step_tiny.json"
    else:
        output = RESULTS
    load_before, uptime_before = load_average(), uptime()
    print(f"{size} sizes, batch {args.batch_size}, {args.warmup} warm-up + {args.steps} "
          f"timed steps, {args.repeats} repeat(s); {uptime_before}", flush=True)
    started = time.perf_counter()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mmzoo_pretrained_step_"))
    try:
        presets = run_child("presets", folder, args, size)
        print(f"presets written to {folder} in {presets['process_seconds']:.0f} s "
              f"({presets['preset_mb']} MiB)", flush=True)
        runs = {setting: [] for setting in SETTINGS}
        for repeat in range(args.repeats):
            order = SETTINGS if repeat % 2 == 0 else SETTINGS[::-1]
            for setting in order:
                runs[setting].append(run_child(setting, folder, args, size))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_after, uptime_after = load_average(), uptime()

    per_setting = {}
    for setting, results in runs.items():
        # With repeats: the run whose median step is the median of the runs' medians.
        results = sorted(results, key=lambda r: r["train_step_seconds"]["median"])
        per_setting[setting] = results[(len(results) - 1) // 2]
    print(f"\n{'=' * 72}\nbatch {args.batch_size}; BERT-base (128 tokens) + ResNet50 "
          f"(224x224) + waveform_conv (16,000 samples), attention fusion, 3 classes"
          if size == "full" else f"\n{'=' * 72}\ntiny sizes (smoke test)")
    print_table(per_setting, args.batch_size)
    for setting, result in per_setting.items():
        print(f"\n{setting}:\n{result['parameter_table']}")
    frozen_ok = (not any(per_setting["frozen"]["backbone_weight_changed"].values())
                 and all(per_setting["unfrozen"]["backbone_weight_changed"].values()))
    print(f"\nbackbone weights: frozen unchanged and unfrozen changed: {frozen_ok}")
    speedup = (per_setting["unfrozen"]["train_step_seconds"]["median"]
               / per_setting["frozen"]["train_step_seconds"]["median"])
    print(f"unfrozen / frozen train step time: {speedup:.2f}x; load average before "
          f"{load_before}, after {load_after}")

    config = SIZES[size]
    report = {
        "benchmark": "pretrained_step",
        "sizes": size,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "seed": args.seed,
        "model": {
            "build": "mmzoo.build_model, fusion='attention', 3-class head "
                     f"{CLASS_NAMES}; Adam 1e-5",
            "text": {"tower": "text/pretrained", "backbone": "BertBackbone",
                     "config": config["bert"], "sequence_length": config["sequence_length"],
                     "preprocessor": "BertTokenizer (synthetic vocabulary) + "
                                     "BertTextClassifierPreprocessor"},
            "image": {"tower": "image/pretrained", "backbone": "ResNetBackbone",
                      "config": config["resnet"], "image_size": config["image_size"],
                      "converter": "ResNetImageConverter, ImageNet mean/std"},
            "audio": {"tower": "audio/waveform_conv", "sample_rate": SAMPLE_RATE,
                      "num_samples": config["num_samples"]},
            "weights": "random (built from the configs, saved with save_to_preset to a "
                       "temporary folder)",
            "backbone_params": {"bert": presets["bert_backbone_params"],
                                "resnet": presets["resnet_backbone_params"]},
            "preset_mb": presets["preset_mb"],
        },
        "method": "one subprocess per setting and repeat; train step = "
                  "model.train_on_batch on one fixed in-memory batch of preprocessed "
                  "tensors (first step with tracing apart, median of the timed steps "
                  "after the warm-up); predict = model.predict_on_batch likewise; memory = "
                  "getrusage peak RSS of the subprocess",
        "results": {
            setting: {k: v for k, v in result.items() if k not in ("environment",
                                                                   "parameter_table")}
            for setting, result in per_setting.items()
        },
        "all_runs": {setting: [{"train_step_median": r["train_step_seconds"]["median"],
                                "predict_median": r["predict_batch_seconds"]["median"],
                                "peak_rss_mb": r["memory"]["peak_rss_mb"]} for r in results]
                     for setting, results in runs.items()},
        "parameter_tables": {s: r["parameter_table"].splitlines()
                             for s, r in per_setting.items()},
        "unfrozen_over_frozen_step_time": round(speedup, 3),
        "frozen_unchanged_unfrozen_changed": frozen_ok,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "environment": {
            **per_setting["frozen"]["environment"],
            "load_average_before": load_before,
            "load_average_after": load_after,
            "uptime_before": uptime_before,
            "uptime_after": uptime_after,
        },
    }
    atomic_write_json(output, report)
    print(f"wrote {output}")
    return 0 if frozen_ok else 1


if __name__ == "__main__":
    sys.exit(main())
