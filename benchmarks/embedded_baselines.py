"""Baselines on the embedded default dataset: does fusion matter?

Trains small plain-Keras models on the `embedded` train split (early stopping on the
validation split) and reports test accuracy for every non-empty subset of the three
modalities: image-only, text-only, audio-only, the three pairs and all three, plus
the Bayes rate of an ideal attribute reader (`embedded.oracle_predict`) and the data
generation time. Results go to `benchmarks/results/embedded_baselines.json`.

Towers (the same in every model they appear in):

- image: three 3x3 conv blocks (16, 32, 64 filters) and global max pooling;
- text: `TextVectorization` (adapted on train, 32 tokens, run once, outside the
  model) -> `Embedding(32)` -> masked global average pooling;
- audio: log-mel spectrogram (40 bands, 32 ms frames, 16 ms hop, computed once with
  `tf.signal`) -> two `Conv1D` layers over time -> global max pooling.

A model concatenates its towers' 64-d embeddings, then Dense(64, relu), dropout and a
10-way softmax: late fusion by concatenation.

Usage: `python benchmarks/embedded_baselines.py [--epochs 40] [--seed 0] [--quick]`
(about 3-5 minutes on 2 CPU cores; `--quick` trains on small sizes for a smoke test).
"""

import argparse
import itertools
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
import tensorflow as tf  # noqa: E402

from mmzoo.datasets import embedded  # noqa: E402
from mmzoo.io import atomic_write_json  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "embedded_baselines.json"
TEXT_LENGTH = 32


def log_mel(audio, batch=500):
    """(n, 8000) waveforms -> (n, frames, 40) log-mel features, computed once."""
    weights = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=40, num_spectrogram_bins=129, sample_rate=embedded.SAMPLE_RATE,
        lower_edge_hertz=100.0, upper_edge_hertz=4000.0)
    out = []
    for start in range(0, len(audio), batch):
        stft = tf.signal.stft(audio[start:start + batch], frame_length=256, frame_step=128,
                              fft_length=256)
        mel = tf.matmul(tf.abs(stft) ** 2, weights)
        out.append(tf.math.log(mel + 1e-6).numpy())
    return np.concatenate(out).astype("float32")


def image_tower(x):
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                name=f"image_conv{filters}")(x)
        if filters != 64:
            x = keras.layers.MaxPooling2D(name=f"image_pool{filters}")(x)
    x = keras.layers.GlobalMaxPooling2D(name="image_gmp")(x)
    return keras.layers.Dense(64, activation="relu", name="image_embedding")(x)


def text_tower(x, vocab_size):
    x = keras.layers.Embedding(vocab_size, 32, mask_zero=True, name="text_embed")(x)
    x = keras.layers.GlobalAveragePooling1D(name="text_gap")(x)
    return keras.layers.Dense(64, activation="relu", name="text_embedding")(x)


def audio_tower(x):
    x = keras.layers.BatchNormalization(name="audio_norm")(x)
    x = keras.layers.Conv1D(64, 3, padding="same", activation="relu", name="audio_conv1")(x)
    x = keras.layers.Conv1D(64, 3, padding="same", activation="relu", name="audio_conv2")(x)
    x = keras.layers.GlobalMaxPooling1D(name="audio_gmp")(x)
    return keras.layers.Dense(64, activation="relu", name="audio_embedding")(x)


def build(modalities, shapes, vocab_size):
    inputs, embeddings = {}, []
    for name in modalities:
        dtype = "int32" if name == "text" else "float32"
        inputs[name] = keras.Input(shapes[name], dtype=dtype, name=name)
        if name == "image":
            embeddings.append(image_tower(inputs[name]))
        elif name == "text":
            embeddings.append(text_tower(inputs[name], vocab_size))
        else:
            embeddings.append(audio_tower(inputs[name]))
    x = embeddings[0] if len(embeddings) == 1 else keras.layers.Concatenate(
        name="fusion")(embeddings)
    x = keras.layers.Dense(64, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(0.2, name="head_dropout")(x)
    outputs = keras.layers.Dense(embedded.NUM_CLASSES, activation="softmax", name="label")(x)
    model = keras.Model(inputs, outputs, name="_".join(modalities))
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small sizes, few epochs")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    sizes = {"train": 3000, "validation": 500, "test": 1000}
    if args.quick:
        sizes = {"train": 400, "validation": 100, "test": 200}
        args.epochs = min(args.epochs, 3)

    data, generation_seconds = {}, {}
    for split, size in sizes.items():
        start = time.perf_counter()
        data[split] = embedded.load_numpy(split, seed=args.seed, num_examples=size,
                                          return_factors=True)
        generation_seconds[split] = round(time.perf_counter() - start, 3)
    print(f"generation seconds: {generation_seconds}", flush=True)

    vectorizer = keras.layers.TextVectorization(output_sequence_length=TEXT_LENGTH)
    vectorizer.adapt(list(data["train"][0]["text"]))
    inputs = {}
    for split, (features, _, _) in data.items():
        inputs[split] = {
            "image": features["image"],
            "text": vectorizer(list(features["text"])).numpy().astype("int32"),
            "audio": log_mel(features["audio"]),
        }
    shapes = {name: value.shape[1:] for name, value in inputs["train"].items()}
    vocab_size = vectorizer.vocabulary_size()

    results, oracle, train_seconds, epochs_run = {}, {}, {}, {}
    subsets = [c for r in (1, 2, 3) for c in itertools.combinations(("image", "text", "audio"), r)]
    for subset in subsets:
        key = "+".join(subset)
        keras.utils.set_random_seed(args.seed)
        model = build(subset, shapes, vocab_size)
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=6,
                                             restore_best_weights=True)
        start = time.perf_counter()
        history = model.fit(
            {m: inputs["train"][m] for m in subset}, data["train"][1],
            validation_data=({m: inputs["validation"][m] for m in subset},
                             data["validation"][1]),
            epochs=args.epochs, batch_size=64, callbacks=[stop], verbose=0)
        train_seconds[key] = round(time.perf_counter() - start, 1)
        epochs_run[key] = len(history.history["loss"])
        _, accuracy = model.evaluate({m: inputs["test"][m] for m in subset},
                                     data["test"][1], batch_size=256, verbose=0)
        results[key] = round(float(accuracy), 4)
        factors = data["test"][2]
        oracle[key] = round(float(np.mean(
            embedded.oracle_predict(factors, subset) == data["test"][1])), 4)
        print(f"{key:18s} test accuracy {results[key]:.3f}  (oracle {oracle[key]:.3f}, "
              f"{epochs_run[key]} epochs, {train_seconds[key]} s)", flush=True)

    report = {
        "dataset": "embedded",
        "seed": args.seed,
        "sizes": sizes,
        "generation_seconds": generation_seconds,
        "test_accuracy": results,
        "oracle_test_accuracy": oracle,
        "train_seconds": train_seconds,
        "epochs_run": epochs_run,
        "max_epochs": args.epochs,
        "models": "image conv / text embedding+pooling / audio log-mel conv1d towers, "
                  "late fusion by concatenation, Adam 2e-3, batch 64, early stopping on "
                  "validation loss (patience 6, best weights restored)",
        "environment": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "cpu_count": os.cpu_count(),
        },
    }
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output, report)
    print(f"wrote {output}")
    return report


if __name__ == "__main__":
    main()
