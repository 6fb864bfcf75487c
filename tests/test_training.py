"""Training runs: run directory, export, epoch-seeded input order, backups, resume."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from testing import make_tiny_config as tiny_config

import mmzoo
from mmzoo import artifacts
from mmzoo.io import atomic_directory, atomic_path, atomic_write_json
from mmzoo.preprocessing.preprocessor import Preprocessor, read_example
from mmzoo.training import inputs as pipeline
from mmzoo.training.callbacks import (
    AtomicBackupAndRestore,
    EpochSeeds,
    HistoryCSV,
    ResumableEarlyStopping,
)
from mmzoo.training.evaluate import evaluate, predict

EMBEDDED_SPECS = {"image": {"input_shape": (32, 32, 3)}, "text": {"input_shape": (4,)},
                  "audio": {"input_shape": (8000,)}}

REPO = pathlib.Path(__file__).resolve().parents[1]

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("run")
    lines = []
    result = mmzoo.train(tiny_config(tmp_path), log=lines.append)
    return tmp_path, result, lines


def test_run_directory_and_export(tiny_run):
    tmp_path, result, lines = tiny_run
    run = tmp_path / "runs" / "tiny"
    for name in ("config.yaml", "preprocessor.json", "history.csv", "metrics.json",
                 "checkpoints/best.keras", "checkpoints/best.json",
                 "checkpoints/last.weights.h5"):
        assert (run / name).is_file(), name
    assert not (run / "backup").exists()  # removed once training completed
    assert list((run / "logs").glob("*/events.out.tfevents.*"))
    assert not list(run.rglob(".tmp-*"))
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,accuracy,loss,val_accuracy,val_loss")
    assert len(history) == 3
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_modality"]) == {"image", "text", "audio"}
    assert metrics["test"] == result["test"]
    assert metrics["settings"]["global_batch_size"] == 32
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["training"]["epochs"] == 2 and config["model"]["fusion"] == "concat"
    assert any(line.startswith("  speed: mixed precision float32") for line in lines)

    export = tmp_path / "saved_models" / "tiny"
    assert {p.name for p in export.iterdir()} >= {
        "config.yaml", "metrics.json", "model.keras", "preprocessor.json",
        "saved_model.pb", "model_card.json"}
    assert not (export / "preprocessing.json").exists()
    mmzoo.verify(export)  # hashes and parity of the SavedModel taking raw inputs
    model = keras.saving.load_model(export / "model.keras", safe_mode=True)
    assert model.modalities == ["image", "text", "audio"]
    # One preprocessor: in the run, in the export, inside model.keras, the same.
    preprocessor = artifacts.load_preprocessor(export)
    assert preprocessor.tokenizers["text"].get_vocabulary()[:2] == ["[PAD]", "[UNK]"]
    assert model.preprocessor.get_config() == preprocessor.get_config()
    assert artifacts.load_preprocessor(run).get_config() == preprocessor.get_config()
    assert model.head.class_names[0] == "circle_bass_forest"


def test_run_records_the_inference_mode_check(tiny_run):
    tmp_path, result, lines = tiny_run
    check = json.loads((tmp_path / "runs" / "tiny" / "metrics.json").read_text())["inference_check"]
    assert check == result["inference_check"]
    assert 0.0 <= check["training"] <= 1.0 and 0.0 <= check["inference"] <= 1.0
    assert check["warning"] is None
    assert not any("inference mode" in line for line in lines)


def test_run_prints_the_inference_mode_warning(tmp_path, monkeypatch):
    """The check's warning reaches the run's log and metrics.json (the threshold is
    forced, so any run trips it; tests/test_batch_norm.py trips it for real)."""
    monkeypatch.setattr("mmzoo.batch_norm.GAP_WARNING", -1.0)
    lines = []
    config = tiny_config(tmp_path, training={"epochs": 1, "batch_size": 32,
                                             "batch_norm_calibration": False},
                         output={"verbose": 0, "export": False})
    result = mmzoo.train(config, log=lines.append)
    warning = [line for line in lines if line.startswith("Warning: The model predicts")]
    assert len(warning) == 1 and "after 4 steps" in warning[0]
    assert result["inference_check"]["warning"] in warning[0]


def test_evaluate_reproduces_the_run_metrics(tiny_run):
    tmp_path, result, _ = tiny_run
    report = evaluate(tmp_path / "saved_models" / "tiny")
    assert report["examples"] == 32 and report["dataset"] == "embedded"
    np.testing.assert_allclose(report["metrics"]["all"]["accuracy"], result["test"]["accuracy"])
    np.testing.assert_allclose(report["metrics"]["all"]["loss"], result["test"]["loss"],
                               rtol=1e-5)
    np.testing.assert_allclose(report["metrics"]["only_text"]["loss"],
                               result["per_modality"]["text"]["loss"], rtol=1e-5)


def test_predict_from_files_matches_the_pipeline(tiny_run, tmp_path):
    run_path, _, _ = tiny_run
    export = run_path / "saved_models" / "tiny"
    features, _ = mmzoo.datasets.embedded.load_numpy("test", num_examples=1)
    png = tmp_path / "x.png"
    wav = tmp_path / "y.wav"
    tf.io.write_file(str(png), tf.io.encode_png(np.round(features["image"][0] * 255).astype("uint8")))
    tf.io.write_file(str(wav), tf.audio.encode_wav(features["audio"][0][:, None], 8000))
    text = str(features["text"][0])

    preprocessor = artifacts.load_preprocessor(export)
    example = read_example(preprocessor, {"image": png, "audio": wav}, {"text": text})
    np.testing.assert_allclose(example["image"][0], features["image"][0], atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(example["audio"][0], features["audio"][0], atol=1 / 32768 + 1e-6)
    model = keras.saving.load_model(export / "model.keras", safe_mode=True)
    ids = preprocessor.tokenizers["text"](tf.constant([text])).numpy()
    np.testing.assert_array_equal(example["text"], ids)
    np.testing.assert_array_equal(example["modality_mask"], [[1, 1, 1]])

    result = predict(export, {"image": str(png), "text": text, "audio": str(wav)})
    expected = model.predict({k: v for k, v in example.items()}, verbose=0)[0]
    np.testing.assert_allclose(result["outputs"], expected, rtol=1e-5, atol=1e-6)
    only_text = predict(export, {"text": text}, top=2)
    assert only_text["masked_out"] == ["audio", "image"] and len(only_text["top"]) == 2
    with pytest.raises(ValueError, match="no input"):
        predict(export, {"depth": "x"})


def test_training_order_is_a_function_of_seed_and_epoch():
    splits = pipeline.load_splits("embedded", {"num_train": 40}, splits=("train",))
    image_only = Preprocessor.from_specs({"image": EMBEDDED_SPECS["image"]})

    def labels(dataset):
        return [y.numpy().tolist() for _, y in dataset]

    def train(**kwargs):
        return pipeline.train_dataset(splits["train"], image_only, batch_size=8,
                                      **{"seed": 3, "epochs": 3, **kwargs})

    full, steps = train()
    resumed, _ = train(initial_epoch=2)
    again, _ = train()
    other, _ = train(seed=4)
    assert steps == 5
    batches = labels(full)
    assert len(batches) == 15
    assert batches[2 * steps:] == labels(resumed)  # epoch 2 without epochs 0 and 1
    assert batches == labels(again)
    assert batches != labels(other)
    assert batches[:steps] != batches[steps: 2 * steps]  # a new order every epoch
    def examples(epoch_batches):
        return sorted(label for batch in epoch_batches for label in batch)

    assert examples(batches[:steps]) == examples(batches[steps:2 * steps])


def test_training_pipelines_turn_tf_data_autotuning_off():
    """With autotuning on, `model.fit` waits at its end for tf.data's autotuning
    thread (see `mmzoo.data.pipeline.prefetched`); every mmzoo pipeline turns it off."""
    splits = pipeline.load_splits("embedded", {"num_train": 16, "num_test": 8},
                                  splits=("train", "test"))
    preprocessor = Preprocessor.from_specs(EMBEDDED_SPECS)
    preprocessor.adapt(splits["train"])
    train, _ = pipeline.train_dataset(splits["train"], preprocessor, batch_size=8, seed=0,
                                      epochs=1)
    evaluation = pipeline.eval_dataset(splits["test"], preprocessor, batch_size=8)
    numpy = mmzoo.data.from_numpy({"x": np.zeros((4, 2), "float32")}, np.zeros(4), batch_size=2)
    for dataset in (train, evaluation, numpy):
        assert dataset.options().autotune.enabled is False
    # Evaluation keeps its other option (every worker evaluates the whole split).
    assert (evaluation.options().experimental_distribute.auto_shard_policy
            == tf.data.experimental.AutoShardPolicy.OFF)


def test_tokenizer_is_adapted_on_the_train_split_only():
    train = tf.data.Dataset.from_tensor_slices({"text": ["red square", "blue square"],
                                                "label": [0, 1]})
    preprocessor = Preprocessor.from_specs({"text": EMBEDDED_SPECS["text"]})
    preprocessor.adapt(train)
    vocabulary = preprocessor.tokenizers["text"].get_vocabulary()
    assert set(vocabulary[2:]) == {"red", "blue", "square"}
    batch = preprocessor({"text": tf.constant(["green square"]), "label": tf.constant([0])})
    assert batch["text"].numpy().tolist() == [[1, 2, 0, 0]]
    assert batch["label"].numpy().tolist() == [0]  # other keys pass through


def _tiny_keras_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dropout(0.5),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt("interrupted")


def test_backup_resumes_at_the_last_completed_epoch(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1)
    keras.utils.set_random_seed(0)
    model = _tiny_keras_model()
    backup = AtomicBackupAndRestore(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=5, verbose=0, callbacks=[backup, _Interrupt(3)])
    assert backup.restored_epoch() == 3
    files = sorted(p.name for p in (tmp_path / "backup").iterdir())
    assert files == ["epoch-00003.weights.h5", "training_metadata.json"]
    saved_iterations = int(model.optimizer.iterations.numpy())

    keras.utils.set_random_seed(1)  # other initial weights: the backup must win
    restarted = _tiny_keras_model()
    backup = AtomicBackupAndRestore(tmp_path / "backup")
    seen = []
    history = restarted.fit(
        x, y, epochs=5, verbose=0,
        callbacks=[backup, keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: seen.append(
                (epoch, int(restarted.optimizer.iterations.numpy()))))],
    )
    assert seen[0] == (3, saved_iterations)  # weights and optimizer state restored
    assert len(history.history["loss"]) == 2
    assert not (tmp_path / "backup").exists()


def test_early_stopping_patience_continues_across_a_resume(tmp_path):
    """With a learning rate of 0 the loss never improves after epoch 0: patience 2
    stops after epoch 2. A run interrupted after 2 epochs and resumed must stop there
    too (a plain EarlyStopping would wait 2 more epochs after the resume)."""
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1)

    def fit(folder, initial_epoch, epochs):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.0), "mse")
        history = folder / "history.csv"
        stopper = ResumableEarlyStopping(history, initial_epoch=initial_epoch,
                                         monitor="loss", patience=2)
        model.fit(x, y, initial_epoch=initial_epoch, epochs=epochs, verbose=0,
                  callbacks=[HistoryCSV(history, initial_epoch=initial_epoch), stopper])
        return [int(row.split(",")[0]) for row in history.read_text().splitlines()[1:]]

    assert fit(tmp_path / "whole", 0, 10) == [0, 1, 2]
    assert fit(tmp_path / "resumed", 0, 2) == [0, 1]
    assert fit(tmp_path / "resumed", 2, 10) == [0, 1, 2]
    with pytest.raises(ValueError, match="restore_best_weights"):
        ResumableEarlyStopping(tmp_path / "h.csv", restore_best_weights=True)


def test_backup_ignores_metadata_without_its_weights(tmp_path):
    atomic_write_json(tmp_path / "backup" / "training_metadata.json",
                      {"epoch": 4, "weights": "epoch-00004.weights.h5"})
    assert AtomicBackupAndRestore(tmp_path / "backup").restored_epoch() == 0


def test_epoch_seeds_make_dropout_a_function_of_the_epoch():
    model = _tiny_keras_model()
    callback = EpochSeeds(seed=5)
    callback.set_model(model)
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    assert states
    callback.on_epoch_begin(2)
    first = [v.numpy().copy() for v in states]
    model(np.ones((2, 3), "float32"), training=True)  # advances the generators
    callback.on_epoch_begin(2)
    np.testing.assert_array_equal([v.numpy() for v in states], first)
    callback.on_epoch_begin(3)
    assert not np.array_equal([v.numpy() for v in states], first)


def test_atomic_writes(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        pathlib.Path(tmp).write_text("half")
        raise RuntimeError("crash while writing")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]

    folder = tmp_path / "export"
    with atomic_directory(folder) as tmp:
        (tmp / "model.keras").write_text("v1")
    with pytest.raises(RuntimeError), atomic_directory(folder) as tmp:
        (tmp / "model.keras").write_text("half")
        raise RuntimeError("crash while exporting")
    assert (folder / "model.keras").read_text() == "v1"
    with atomic_directory(folder) as tmp:
        (tmp / "model.keras").write_text("v2")
    assert (folder / "model.keras").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "metrics.json"]


def test_resume_refuses_a_changed_config(tmp_path):
    config = tiny_config(tmp_path)
    backup = tmp_path / "runs" / "tiny" / "backup"
    backup.mkdir(parents=True)
    (backup / "epoch-00001.weights.h5").write_bytes(b"")
    atomic_write_json(backup / "training_metadata.json",
                      {"epoch": 1, "weights": "epoch-00001.weights.h5"})
    (tmp_path / "runs" / "tiny" / "config.yaml").write_text(
        mmzoo.config.to_yaml(mmzoo.config.load_config(config)))
    with pytest.raises(mmzoo.config.ConfigError, match="another config"):
        mmzoo.train(config, overrides={"training.seed": 1}, log=None)


def test_mixed_precision_keeps_float32_outputs(tmp_path):
    config = tiny_config(tmp_path, training={"epochs": 1},
                         speed={"mixed_precision": "mixed_bfloat16"},
                         evaluation={"per_modality": False},
                         output={"tensorboard": False})
    result = mmzoo.train(config, log=None)
    assert result["settings"]["mixed_precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # restored after the run
    model = keras.saving.load_model(tmp_path / "saved_models" / "tiny" / "model.keras")
    assert model.get_layer("image_tower").get_layer("image_block0_conv").dtype_policy.name \
        == "mixed_bfloat16"
    assert model.head.output_layer.dtype_policy.name == "float32"
    batch = {"image": np.zeros((2, 32, 32, 3), "float32"), "text": np.ones((2, 32), "int32"),
             "audio": np.zeros((2, 8000), "float32")}
    assert model(batch).dtype == tf.float32


def test_a_run_killed_after_its_last_epoch_resumes_at_testing(tmp_path, monkeypatch):
    from mmzoo.training import run as run_module

    config = tiny_config(tmp_path, training={"epochs": 1}, evaluation={"per_modality": False})

    def crash(self):
        raise KeyboardInterrupt("killed while testing")

    with monkeypatch.context() as patch:
        patch.setattr(run_module._Run, "evaluate", crash)
        with pytest.raises(KeyboardInterrupt):
            mmzoo.train(config, log=None)
    run = tmp_path / "runs" / "tiny"
    assert json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    trained = _weights(run / "checkpoints" / "last.weights.h5")

    lines = []
    result = mmzoo.train(config, log=lines.append)
    assert result["initial_epoch"] == 1
    assert any("All epochs were done" in line for line in lines)
    assert not (run / "backup").exists()
    for key, value in _weights(run / "checkpoints" / "last.weights.h5").items():
        np.testing.assert_array_equal(value, trained[key], err_msg=key)


# Subprocess runs: determinism (op determinism is process-wide) and SIGKILL + resume.


def _write_config(tmp_path, epochs):
    config = tiny_config(tmp_path, training={"epochs": epochs, "batch_size": 16})
    config["dataset"]["options"] = {"num_train": 256, "num_validation": 32, "num_test": 64}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _command(config, name):
    return [sys.executable, "-m", "mmzoo.cli", "train", "--config", str(config), "--name", name,
            "--deterministic", "--quiet"]


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _weights(path):
    values = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, obj: values.__setitem__(name, obj[()])
                        if isinstance(obj, h5py.Dataset) else None)
    return values


def _assert_same_weights(a, b):
    first, second = _weights(a), _weights(b)
    assert sorted(first) == sorted(second)
    assert any("optimizer" in key for key in first)  # the optimizer state is compared too
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


@pytest.mark.slow
def test_sigkill_and_resume_matches_an_uninterrupted_run(tmp_path):
    epochs = 8
    config = _write_config(tmp_path, epochs)
    runs = tmp_path / "runs"
    subprocess.run(_command(config, "straight"), cwd=tmp_path, env=_env(), check=True,
                   timeout=600)
    subprocess.run(_command(config, "again"), cwd=tmp_path, env=_env(), check=True, timeout=600)

    metadata = runs / "killed" / "backup" / "training_metadata.json"
    process = subprocess.Popen(_command(config, "killed"), cwd=tmp_path, env=_env())
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if metadata.is_file() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait(timeout=60) == -signal.SIGKILL, "the run ended before it was killed"
    killed_at = json.loads(metadata.read_text())["epoch"]
    assert 2 <= killed_at < epochs
    assert not (runs / "killed" / "metrics.json").exists()

    subprocess.run(_command(config, "killed"), cwd=tmp_path, env=_env(), check=True, timeout=600)
    resumed = json.loads((runs / "killed" / "metrics.json").read_text())
    straight = json.loads((runs / "straight" / "metrics.json").read_text())
    again = json.loads((runs / "again" / "metrics.json").read_text())
    assert resumed["initial_epoch"] == killed_at
    history = (runs / "killed" / "history.csv").read_text().splitlines()
    assert len(history) == epochs + 1
    assert history == (runs / "straight" / "history.csv").read_text().splitlines()

    # --deterministic: two uninterrupted runs with one seed give identical results.
    assert again["test"] == straight["test"]
    assert again["per_modality"] == straight["per_modality"]
    _assert_same_weights(runs / "straight" / "checkpoints" / "last.weights.h5",
                         runs / "again" / "checkpoints" / "last.weights.h5")
    # The killed and resumed run ends with the weights of the uninterrupted one.
    _assert_same_weights(runs / "straight" / "checkpoints" / "last.weights.h5",
                         runs / "killed" / "checkpoints" / "last.weights.h5")
    assert resumed["test"] == straight["test"]


@pytest.mark.slow
def test_demo_beats_every_single_modality_baseline(tmp_path):
    """The README's main job (`make demo`): configs/demo.yaml, a few minutes on 2 cores."""
    result = subprocess.run(
        [sys.executable, "-m", "mmzoo.cli", "train", "--config", str(REPO / "configs" / "demo.yaml"),
         "--runs-dir", str(tmp_path / "runs"), "--saved-models-dir", str(tmp_path / "saved")],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=1200, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = json.loads((tmp_path / "runs" / "demo" / "metrics.json").read_text())
    baselines = json.loads((REPO / "benchmarks" / "results" / "embedded_baselines.json")
                           .read_text())["test_accuracy"]
    fused = metrics["test"]["accuracy"]
    assert fused >= max(baselines[m] for m in ("image", "text", "audio")) + 0.3
    for modality, values in metrics["per_modality"].items():
        assert fused > values["accuracy"] + 0.3, modality
    assert "The fused model beats the best single-modality baseline" in result.stdout
    assert (tmp_path / "saved" / "demo" / "model.keras").is_file()
    # Issue 10's guard stays quiet on the demo.
    check = metrics["inference_check"]
    assert check["warning"] is None and check["inference"] >= check["training"] - 0.05
    assert "predicts much worse in inference mode" not in result.stdout
