"""Training throughput: does the zoo add overhead? And what do XLA and
`steps_per_execution` do on this machine?

Trains, on the same `mmzoo.training.inputs.train_dataset` pipeline (embedded train
split, text tokenized in the pipeline, batch 64):

- `zoo`: `mmzoo.create_model("trimodal_concat")` (conv image tower, bidirectional
  LSTM text tower, log-mel conv audio tower, concatenation, modality dropout 0.1,
  MLP head), as `mmzoo train` builds it;
- `hand`: the same architecture written with plain Keras layers (same layer sizes and
  parameter count, mmzoo's `LogMelSpectrogram` as the audio front end), without the
  zoo's modality mask, modality dropout and sequence outputs;
- `zoo` with `jit_compile=True` (XLA) and with `steps_per_execution=8`;
- `zoo` and `hand` again on one cached batch repeated ("model only"), so the input
  pipeline drops out and only the models' training steps are compared.

Each variant is built, compiled and trained one warm-up epoch (tracing, XLA
compilation); then `--rounds` rounds each time one epoch of every variant in turn,
so a change in the (shared) machine's load hits all variants alike. A ratio is
the median over rounds of the per-round ratio of examples per second, by wall time
and by the process's CPU time (the work done, less sensitive to other programs on
the machine). The target: the zoo's wall-clock ratio >= 0.98 (the exit status is 1
when it is missed). Results go to `benchmarks/results/train_throughput.json`.

Usage: `python benchmarks/train_throughput.py [--rounds 8] [--quick]` (about 8
minutes on 2 CPU cores; `--quick` uses 512 examples and 2 rounds, a smoke test).
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras
import tensorflow as tf

import mmzoo
from mmzoo.io import atomic_write_json
from mmzoo.preprocessing.log_mel import LogMelSpectrogram
from mmzoo.training import inputs as pipeline

RESULTS = REPO / "benchmarks" / "results" / "train_throughput.json"
PRESET = "trimodal_concat"
TARGET = 0.98


def hand_written_model(vocab_size=1000, sequence_length=32):
    """`trimodal_concat` written with plain Keras layers."""

    def conv_blocks(x, prefix):
        for i, filters in enumerate((16, 32, 64)):
            x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{prefix}{i}_conv")(x)
            x = keras.layers.BatchNormalization(name=f"{prefix}{i}_bn")(x)
            x = keras.layers.ReLU(name=f"{prefix}{i}_relu")(x)
            x = keras.layers.MaxPooling2D(2, name=f"{prefix}{i}_pool")(x)
        x = keras.layers.GlobalAveragePooling2D(name=f"{prefix}_gap")(x)
        return keras.layers.Dense(64, activation="relu", name=f"{prefix}_embedding")(x)

    image = keras.Input((32, 32, 3), name="image")
    text = keras.Input((sequence_length,), dtype="int32", name="text")
    audio = keras.Input((8000,), name="audio")

    tokens = keras.layers.Embedding(vocab_size, 32, mask_zero=True, name="tokens")(text)
    _, forward_h, _, backward_h, _ = keras.layers.Bidirectional(
        keras.layers.LSTM(32, return_sequences=True, return_state=True), name="bilstm"
    )(tokens)
    state = keras.layers.Concatenate(name="final_state")([forward_h, backward_h])
    text_embedding = keras.layers.Dense(64, activation="relu", name="text_embedding")(state)

    log_mel = LogMelSpectrogram(sample_rate=8000, name="log_mel")
    spectrogram = log_mel(audio)
    frames, bands = log_mel.num_frames(8000), log_mel.n_mels
    spectrogram = keras.layers.Reshape((frames, bands, 1), name="add_channel")(spectrogram)
    spectrogram = keras.layers.BatchNormalization(axis=2, name="band_norm")(spectrogram)

    fused = keras.layers.Concatenate(name="fusion")(
        [conv_blocks(image, "image"), text_embedding, conv_blocks(spectrogram, "audio")]
    )
    x = keras.layers.Dropout(0.1, name="dropout0")(fused)
    x = keras.layers.Dense(64, activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(0.1, name="dropout1")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model({"image": image, "text": text, "audio": audio}, outputs, name="hand")
    return model


class Variant:
    """A compiled model, warmed up (traced, compiled) by one epoch, timed per epoch."""

    def __init__(self, name, build, dataset, steps, seed=0, **compile_options):
        keras.utils.set_random_seed(seed)
        self.name, self.dataset, self.steps = name, dataset, steps
        self.model = build()
        self.model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            **compile_options,
        )
        self.first_epoch = self.epoch()[0]
        self.times, self.cpu_times = [], []

    def epoch(self, dataset=None):
        start, cpu = time.perf_counter(), time.process_time()
        self.model.fit(self.dataset if dataset is None else dataset, epochs=1,
                       steps_per_epoch=self.steps, verbose=0, shuffle=False)
        return time.perf_counter() - start, time.process_time() - cpu

    def timed_epoch(self, dataset=None, record=None):
        wall, cpu = self.epoch(dataset)
        times, cpu_times = record if record is not None else (self.times, self.cpu_times)
        times.append(wall)
        cpu_times.append(cpu)
        return wall

    def summary(self):
        examples = self.steps * 64
        return {
            "variant": self.name,
            "params": int(self.model.count_params()),
            "jit_compile": bool(self.model.jit_compile),
            "steps_per_execution": int(self.model.steps_per_execution),
            "first_epoch_seconds": round(self.first_epoch, 2),
            "epoch_seconds": [round(t, 2) for t in self.times],
            "epoch_cpu_seconds": [round(t, 2) for t in self.cpu_times],
            "examples_per_second": round(examples / statistics.median(self.times), 1),
            "examples_per_cpu_second": round(examples / statistics.median(self.cpu_times), 1),
        }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8,
                        help="timed epochs per variant, interleaved across variants")
    parser.add_argument("--quick", action="store_true", help="512 examples, 2 rounds")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    num_train = 512 if args.quick else 3000
    rounds = 2 if args.quick else args.rounds

    examples = pipeline.load_splits("embedded", {"num_train": num_train},
                                    splits=("train",))["train"]
    preprocessor = mmzoo.create_model(PRESET).preprocessor
    preprocessor.adapt(examples)
    dataset, steps = pipeline.train_dataset(examples, preprocessor, batch_size=64, seed=0,
                                            epochs=1)

    def zoo():
        return mmzoo.create_model(PRESET)

    variants = [
        Variant("zoo", zoo, dataset, steps, jit_compile=False),
        Variant("hand", hand_written_model, dataset, steps, jit_compile=False),
        Variant("zoo_xla", zoo, dataset, steps, jit_compile=True),
        Variant("hand_xla", hand_written_model, dataset, steps, jit_compile=True),
        Variant("zoo_steps_per_execution_8", zoo, dataset, steps, jit_compile=False,
                steps_per_execution=8),
    ]
    by_name = {variant.name: variant for variant in variants}
    for round_index in range(rounds):
        # Interleaved (and every other round reversed), so a change in the machine's
        # load hits every variant alike.
        order = variants if round_index % 2 == 0 else variants[::-1]
        seconds = {variant.name: round(variant.timed_epoch(), 2) for variant in order}
        print(json.dumps({"round": round_index, "epoch_seconds": seconds}), flush=True)

    # Model only: one cached batch repeated, so the input pipeline costs nothing and
    # only the models' own steps are compared.
    fixed = dataset.take(1).cache().repeat(steps)
    model_only = {name: ([], []) for name in ("zoo", "hand")}
    for round_index in range(rounds):
        names = ["zoo", "hand"] if round_index % 2 == 0 else ["hand", "zoo"]
        seconds = {name: round(by_name[name].timed_epoch(fixed, model_only[name]), 2)
                   for name in names}
        print(json.dumps({"model_only_round": round_index, "epoch_seconds": seconds}),
              flush=True)

    def model_only_ratio(index):
        pairs = zip(model_only["hand"][index], model_only["zoo"][index])
        return round(statistics.median(h / z for h, z in pairs), 3)

    def ratio(numerator, denominator, cpu=False):
        # Speed of `numerator` over `denominator`, per round (adjacent in time), then
        # the median: robust to a drifting load.
        field = "cpu_times" if cpu else "times"
        pairs = zip(getattr(by_name[denominator], field), getattr(by_name[numerator], field))
        return round(statistics.median(d / n for d, n in pairs), 3)

    report = {
        "model": PRESET,
        "examples_per_epoch": steps * 64,
        "batch_size": 64,
        "rounds": rounds,
        "zoo_vs_hand_ratio": ratio("zoo", "hand"),
        "zoo_vs_hand_ratio_cpu_time": ratio("zoo", "hand", cpu=True),
        "model_only_zoo_vs_hand_ratio": model_only_ratio(0),
        "model_only_zoo_vs_hand_ratio_cpu_time": model_only_ratio(1),
        "model_only_epoch_seconds": {name: [round(t, 2) for t in times[0]]
                                     for name, times in model_only.items()},
        "model_only_epoch_cpu_seconds": {name: [round(t, 2) for t in times[1]]
                                         for name, times in model_only.items()},
        "target_ratio": TARGET,
        "target_met": None,  # set below
        "zoo_vs_hand_ratio_with_xla": ratio("zoo_xla", "hand_xla"),
        "xla_speedup": ratio("zoo_xla", "zoo"),
        "xla_speedup_cpu_time": ratio("zoo_xla", "zoo", cpu=True),
        "steps_per_execution_8_speedup": ratio("zoo_steps_per_execution_8", "zoo"),
        "steps_per_execution_8_speedup_cpu_time": ratio("zoo_steps_per_execution_8", "zoo",
                                                        cpu=True),
        "variants": [variant.summary() for variant in variants],
        "environment": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "cpu_count": os.cpu_count(),
            "note": "shared 2-core machine: only ratios within one run are meaningful",
        },
    }
    report["target_met"] = bool(report["zoo_vs_hand_ratio"] >= TARGET)
    atomic_write_json(args.output, report)
    print(json.dumps({k: v for k, v in report.items() if k != "variants"}, indent=2))
    print(f"zoo / hand-written examples per second (median of {rounds} rounds): "
          f"{report['zoo_vs_hand_ratio']:.3f} wall clock, "
          f"{report['zoo_vs_hand_ratio_cpu_time']:.3f} CPU time; target >= {TARGET}: "
          f"{'met' if report['target_met'] else 'MISSED'}")
    return report


if __name__ == "__main__":
    sys.exit(0 if main()["target_met"] else 1)
