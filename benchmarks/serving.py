"""Serving cost: the raw-input SavedModel against the Keras model on preprocessed tensors.

The default preset (`trimodal_gated`: conv image tower, LSTM text tower, log-mel conv
audio tower, gated fusion; untrained: weights do not change the cost) is exported with
a `TextTokenizer` (32 tokens, at most 1,000 ids) adapted on the embedded train texts.
Three ways to predict are timed on embedded test examples:

- `saved_model_raw`: `serving_default` of the reloaded SavedModel on raw inputs (PNG
  bytes, strings, waveforms): boundary checks, PNG decoding, tokenization, length
  fixing and the model, all in one call;
- `saved_model_preprocessed`: `serving_preprocessed` of the same SavedModel on the
  model's tensors (checks + model);
- `keras`: `model(x, training=False)` inside a `tf.function`, on the model's tensors
  (the model alone: the floor).

Latency: single-example calls (batch 1), p50 and p95 over all calls. Throughput:
batches of 64, examples per second (median over rounds). Each round runs every variant
once, in a rotating order, so drift and other processes' load hit all alike.

Results go to `benchmarks/results/serving.json` (written atomically).

Usage: `.venv/bin/python benchmarks/serving.py [--rounds 6] [--latency-calls 40]
[--throughput-batches 5]` (about 1-2 minutes on 2 CPU cores).
"""

import argparse
import os
import pathlib
import platform
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
from mmzoo.datasets import embedded  # noqa: E402
from mmzoo.io import atomic_write_json  # noqa: E402
from mmzoo.preprocessing.text import TextTokenizer  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "serving.json"
PRESET = "trimodal_gated"
THROUGHPUT_BATCH = 64


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--latency-calls", type=int, default=40,
                        help="batch-1 calls per variant and round")
    parser.add_argument("--throughput-batches", type=int, default=5,
                        help="batches of 64 per variant and round")
    parser.add_argument("--output", default=str(RESULTS))
    return parser.parse_args()


def png_bytes(images):
    return [tf.io.encode_png(np.round(x * 255).astype(np.uint8)).numpy() for x in images]


def main():
    args = parse_args()
    keras.utils.set_random_seed(0)
    model = mmzoo.create_model(PRESET)
    text_length = model.get_layer("text_tower").inputs[0].shape[1]
    train, _ = embedded.load_numpy("train", num_examples=1000)
    tokenizer = TextTokenizer(sequence_length=text_length, max_tokens=1000, name="text_tokenizer")
    tokenizer.adapt(list(train["text"]))

    test, _ = embedded.load_numpy("test", num_examples=256)
    count = len(test["text"])
    raw = {
        "image": tf.constant(png_bytes(test["image"])),
        "text": tf.constant([str(t) for t in test["text"]]),
        "audio": tf.constant(test["audio"]),
    }
    tensors = {
        "image": tf.constant(test["image"]),
        "text": tokenizer(raw["text"]),
        "audio": tf.constant(test["audio"]),
        "modality_mask": tf.ones((count, len(model.modalities))),
    }

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        card = mmzoo.export.export_model(model, pathlib.Path(folder) / "model",
                                         preprocessor={"text": tokenizer},
                                         formats=("saved_model",))
        export_seconds = time.perf_counter() - start
        loaded = tf.saved_model.load(str(pathlib.Path(folder) / "model"))
        serve_raw = loaded.signatures["serving_default"]
        serve_preprocessed = loaded.signatures["serving_preprocessed"]

        @tf.function
        def keras_call(x):
            return model(x, training=False)

        def take(values, index, size):
            indices = [(index + i) % count for i in range(size)]
            return {name: tf.gather(value, indices) for name, value in values.items()}

        variants = {
            "saved_model_raw": (lambda x: serve_raw(**x)["probabilities"], raw),
            "saved_model_preprocessed": (
                lambda x: serve_preprocessed(**x)["probabilities"], tensors),
            "keras": (keras_call, tensors),
        }
        # Same outputs (the timing compares like with like).
        check = {name: fn(take(data, 0, 8)).numpy() for name, (fn, data) in variants.items()}
        agreement = max(float(np.max(np.abs(check[name] - check["keras"]))) for name in check)

        batches = {name: {size: [take(data, i * size, size) for i in range(count // size)]
                          for size in (1, THROUGHPUT_BATCH)}
                   for name, (_, data) in variants.items()}
        for name, (fn, _) in variants.items():  # warm-up: traces, caches, thread pools
            for size in (1, THROUGHPUT_BATCH):
                for batch in batches[name][size][:3]:
                    fn(batch).numpy()

        latencies = {name: [] for name in variants}
        throughputs = {name: [] for name in variants}
        names = list(variants)
        for round_index in range(args.rounds):
            order = names[round_index % len(names):] + names[:round_index % len(names)]
            for name in order:
                fn = variants[name][0]
                singles = batches[name][1]
                for call in range(args.latency_calls):
                    batch = singles[(round_index * args.latency_calls + call) % len(singles)]
                    start = time.perf_counter()
                    fn(batch).numpy()
                    latencies[name].append(time.perf_counter() - start)
                full = batches[name][THROUGHPUT_BATCH]
                start = time.perf_counter()
                for i in range(args.throughput_batches):
                    fn(full[(round_index + i) % len(full)]).numpy()
                seconds = time.perf_counter() - start
                throughputs[name].append(THROUGHPUT_BATCH * args.throughput_batches / seconds)
            print(f"round {round_index + 1}/{args.rounds} done", flush=True)

    results = {}
    for name in names:
        ms = np.array(latencies[name]) * 1000
        results[name] = {
            "latency_ms_batch1": {
                "p50": round(float(np.percentile(ms, 50)), 2),
                "p95": round(float(np.percentile(ms, 95)), 2),
                "mean": round(float(ms.mean()), 2),
                "calls": int(ms.size),
            },
            "throughput_batch64": {
                "examples_per_second_median": round(float(np.median(throughputs[name])), 1),
                "per_round": [round(float(v), 1) for v in throughputs[name]],
            },
        }
        print(f"{name:26s} batch 1: p50 {results[name]['latency_ms_batch1']['p50']:7.2f} ms, "
              f"p95 {results[name]['latency_ms_batch1']['p95']:7.2f} ms   batch 64: "
              f"{results[name]['throughput_batch64']['examples_per_second_median']:8.1f} "
              "examples/s", flush=True)
    raw_p50 = results["saved_model_raw"]["latency_ms_batch1"]["p50"]
    keras_p50 = results["keras"]["latency_ms_batch1"]["p50"]
    raw_tp = results["saved_model_raw"]["throughput_batch64"]["examples_per_second_median"]
    keras_tp = results["keras"]["throughput_batch64"]["examples_per_second_median"]
    report = {
        "preset": PRESET,
        "model_parameters": int(model.count_params()),
        "inputs": {"image": "32x32 RGB PNG bytes", "text": f"strings -> {text_length} tokens",
                   "audio": "8,000-sample waveforms at 8 kHz"},
        "signatures": card["signatures"] and sorted(card["signatures"]),
        "export_seconds": round(export_seconds, 1),
        "max_abs_difference_between_variants": agreement,
        "results": results,
        "raw_over_keras": {
            "latency_p50_ratio": round(raw_p50 / keras_p50, 2),
            "throughput_ratio": round(raw_tp / keras_tp, 2),
        },
        "method": (f"{args.rounds} rounds, rotating variant order; per round and variant "
                   f"{args.latency_calls} batch-1 calls and {args.throughput_batches} "
                   f"batches of {THROUGHPUT_BATCH}; untrained weights; after 3 warm-up "
                   "calls of each size"),
        "environment": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "cpu_count": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
    }
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output, report)
    ratios = report["raw_over_keras"]
    print(f"raw-input SavedModel / Keras: latency p50 x{ratios['latency_p50_ratio']}, "
          f"throughput x{ratios['throughput_ratio']}")
    print(f"wrote {output}")
    return report


if __name__ == "__main__":
    main()
