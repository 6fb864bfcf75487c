"""Strategy selection, and training under MirroredStrategy and MultiWorkerMirroredStrategy.

The distributed runs are subprocesses: splitting the CPU into logical devices and
starting a multi-worker cluster must happen before TensorFlow initialises.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest
import tensorflow as tf
import yaml

from mmzoo.training import strategy as strategies

REPO = pathlib.Path(__file__).resolve().parents[1]

# Easy embedded data (no weak or corrupted modality) and a small model: a few epochs
# reach a high accuracy, so the single-device and distributed runs can be compared.
CONFIG = {
    "dataset": {"options": {"num_train": 1024, "num_validation": 256, "num_test": 256,
                            "weak_prob": 0.0, "corrupt_prob": 0.0}},
    "model": {
        "preset": None,
        "inputs": {
            "image": {"tower": "conv", "filters": [8, 16], "embedding_dim": 16},
            "text": {"tower": "cnn", "filters": 16, "embedding_size": 16, "embedding_dim": 16,
                     "vocab_size": 200},
            "audio": {"tower": "log_mel_conv", "filters": [8, 16], "n_mels": 32,
                      "embedding_dim": 16},
        },
        "fusion": "concat",
    },
    "training": {"epochs": 6, "batch_size": 32, "optimizer": {"learning_rate": 0.005}},
    "evaluation": {"per_modality": False},
    "output": {"tensorboard": False, "export": False, "verbose": 0},
}
MIN_ACCURACY = 0.85  # the single-device run reaches about 0.98
MAX_GAP = 0.1


def test_default_strategy_and_speed_settings(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("TPU_NAME", raising=False)
    strategy, kind = strategies.select_strategy("auto")
    if not tf.config.list_physical_devices("GPU") and not strategies._tpu_hint(None):
        assert kind == "default"
        assert strategies.worker_info(strategy, kind) == (0, 1, True)
        speed = strategies.resolve_speed(
            {"mixed_precision": "auto", "jit_compile": "auto", "steps_per_execution": "auto"},
            kind)
        assert (speed["mixed_precision"], speed["jit_compile"], speed["steps_per_execution"]) \
            == ("float32", False, 1)
    speed = strategies.resolve_speed(
        {"mixed_precision": "mixed_bfloat16", "jit_compile": True, "steps_per_execution": 4},
        "default")
    assert (speed["mixed_precision"], speed["jit_compile"], speed["steps_per_execution"]) == (
        "mixed_bfloat16", True, 4)
    assert speed["reasons"] == {}
    with pytest.raises(ValueError, match="Received: strategy='gpu'"):
        strategies.select_strategy("gpu")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        strategies.cluster_spec()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train(tmp_path, name, *flags, env=None, wait=True):
    config = tmp_path / "config.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump(CONFIG))
    command = [sys.executable, "-m", "mmzoo.cli", "train", "--config", str(config), "--name",
               name, "--runs-dir", str(tmp_path / "runs"), *flags]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3",
                   **(env or {})}
    if "TF_CONFIG" not in (env or {}):
        environment.pop("TF_CONFIG", None)
    process = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    if not wait:
        return process
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return _metrics(tmp_path, name)


def _metrics(tmp_path, name):
    return json.loads((tmp_path / "runs" / name / "metrics.json").read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("single")
    return _train(tmp_path, "single", "--strategy", "default")


@pytest.mark.slow
def test_mirrored_over_two_cpu_devices(single, tmp_path):
    # 16 per replica x 2 replicas: the global batch of the single-device run.
    metrics = _train(tmp_path, "mirrored", "--strategy", "mirrored", "--cpu-devices", "2",
                     "--batch-size", "16")
    settings = metrics["settings"]
    assert (settings["strategy"], settings["replicas"], settings["global_batch_size"]) == (
        "mirrored", 2, 32)
    accuracy, reference = metrics["test"]["accuracy"], single["test"]["accuracy"]
    assert reference >= MIN_ACCURACY and accuracy >= MIN_ACCURACY, (accuracy, reference)
    assert abs(accuracy - reference) <= MAX_GAP, (accuracy, reference)


@pytest.mark.slow
def test_multi_worker_over_two_processes(single, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = [
        _train(tmp_path, "workers", "--strategy", "multi_worker", "--batch-size", "16",
               env={"TF_CONFIG": json.dumps({"cluster": cluster,
                                             "task": {"type": "worker", "index": index}})},
               wait=False)
        for index in range(2)
    ]
    try:
        outputs = [process.communicate(timeout=600)[0] for process in workers]
    finally:
        for process in workers:  # a failed worker leaves the other waiting: end it
            if process.poll() is None:
                process.kill()
    for process, output in zip(workers, outputs):
        assert process.returncode == 0, output[-3000:]
    metrics = _metrics(tmp_path, "workers")  # written by the chief (worker 0) only
    settings = metrics["settings"]
    assert (settings["strategy"], settings["workers"], settings["replicas"],
            settings["global_batch_size"]) == ("multi_worker", 2, 2, 32)
    assert not list((tmp_path / "runs" / "workers").glob(".worker-*"))
    accuracy, reference = metrics["test"]["accuracy"], single["test"]["accuracy"]
    assert reference >= MIN_ACCURACY and accuracy >= MIN_ACCURACY, (accuracy, reference)
    assert abs(accuracy - reference) <= MAX_GAP, (accuracy, reference)
