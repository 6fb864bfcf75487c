"""The `mmzoo` command line: list, datasets, train, evaluate, predict, errors."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import yaml
from testing import make_tiny_config

from mmzoo.cli import main
from mmzoo.datasets import embedded
from mmzoo.presets import PRESETS

REPO = pathlib.Path(__file__).resolve().parents[1]

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained by `mmzoo train`, and files to predict from."""
    tmp_path = tmp_path_factory.mktemp("cli")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(make_tiny_config(
        tmp_path, name="cli", model={"fusion": "mean"}, training={"epochs": 1})))
    status = main(["train", "--config", str(config), "--runs-dir", str(tmp_path / "runs"),
                   "--saved-models-dir", str(tmp_path / "saved_models"), "--quiet"])
    assert status == 0
    features, _ = embedded.load_numpy("test", num_examples=1)
    png, wav = tmp_path / "x.png", tmp_path / "y.wav"
    tf.io.write_file(str(png), tf.io.encode_png(np.round(features["image"][0] * 255).astype("uint8")))
    tf.io.write_file(str(wav), tf.audio.encode_wav(features["audio"][0][:, None], 8000))
    return {"dir": tmp_path, "config": config, "png": png, "wav": wav,
            "text": str(features["text"][0])}


def test_list_prints_one_line_each(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for title in ("Presets:", "Towers:", "Fusions:", "Datasets:"):
        assert title in out
    for name in PRESETS.names():
        assert sum(line.split()[0] == name for line in out.splitlines() if line.strip()) == 1
    assert main(["list", "--what", "towers", "text/*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Towers:" and [line.split()[0] for line in lines[1:]] == [
        "text/cnn", "text/lstm", "text/pretrained", "text/transformer"]


def test_datasets_reports_local_data(capsys, data_dir, tmp_path):
    assert main(["datasets", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert rows["av_mnist"].split()[1] == "yes"
    for kind in ("manifest", "npz", "tfds"):  # the kinds of your own data
        assert kind in rows, out
    assert "mnist, spoken_digit" in out  # the TFDS datasets prepared there
    assert rows["embedded"].split()[1] == "yes"
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()
            if line.strip()}
    assert rows["av_mnist"].split()[1] == "no"


@pytest.mark.parametrize("command", ["list", "datasets", "train", "evaluate", "predict"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: mmzoo {command}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--epochs", "ten"], ("training.epochs must be a positive integer. "
                               "Received: training.epochs='ten'")),
        (["--set", "trainig.epochs=3"], "Did you mean 'training'?"),
        (["--set", "model.inputs.text.unitz=3"], "Did you mean 'model.inputs.text.units'?"),
        (["--strategy", "mirorred"], "Did you mean 'mirrored'?"),
        (["--set", "training.epochs"], "section.key=value"),
        (["--config", "missing.yaml"], "Config file not found"),
    ],
)
def test_train_errors_are_one_line_with_status_2(argv, fragment, capsys):
    assert main(["train", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("mmzoo train: error: ")
    assert fragment in captured.err
    assert "Traceback" not in captured.err


def test_show_config_applies_flags_and_overrides(capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("training:\n  epochs: 5\n")
    assert main(["train", "-c", str(config), "--epochs", "3", "--set", "model.fusion=concat",
                 "--jit-compile", "off", "--deterministic", "--show-config"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["training"]["epochs"] == 3
    assert resolved["training"]["deterministic"] is True
    assert resolved["model"]["fusion"] == "concat"
    assert resolved["speed"]["jit_compile"] is False
    assert main(["train", "--show-defaults"]) == 0
    assert "training.batch_size = 64" in capsys.readouterr().out


def test_train_evaluate_predict(trained, capsys):
    export = trained["dir"] / "saved_models" / "cli"
    assert (export / "model.keras").is_file()
    assert main(["evaluate", str(export), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    metrics = json.loads((trained["dir"] / "runs" / "cli" / "metrics.json").read_text())
    np.testing.assert_allclose(report["metrics"]["all"]["accuracy"], metrics["test"]["accuracy"])
    assert set(report["metrics"]) == {"all", "only_image", "only_text", "only_audio"}

    assert main(["evaluate", str(trained["dir"] / "runs" / "cli"), "--split", "validation",
                 "--no-per-modality"]) == 0
    out = capsys.readouterr().out
    assert "on embedded validation (32 examples)" in out and "image only" not in out

    assert main(["predict", str(export), "--image", str(trained["png"]), "--text",
                 trained["text"], "--audio", str(trained["wav"]), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "inputs: audio, image, text" and len(lines) == 3
    assert main(["predict", str(export), "--input", f"text={trained['text']}", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["masked_out"] == ["audio", "image"]
    assert abs(sum(result["outputs"]) - 1) < 1e-4


def test_predict_and_evaluate_errors(trained, capsys, tmp_path):
    export = str(trained["dir"] / "saved_models" / "cli")
    assert main(["predict", export, "--image", str(tmp_path / "none.png")]) == 2
    assert "No such file for input 'image'" in capsys.readouterr().err
    assert main(["predict", export]) == 2
    assert "at least one input" in capsys.readouterr().err
    assert main(["predict", export, "--input", "depth=1"]) == 2
    assert "no input(s) ['depth']" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "No model at" in capsys.readouterr().err
    # Files that do not decode: one line naming the input, the file and why.
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert main(["predict", export, "--image", str(tmp_path / "junk.png")]) == 2
    err = capsys.readouterr().err
    assert "Input 'image': cannot decode image file" in err and "junk.png" in err
    assert len(err.strip().splitlines()) == 1
    samples = np.zeros(800, "<f4")
    samples[7] = np.inf
    data = samples.tobytes()
    fmt = b"fmt " + bytes.fromhex("10000000" "0300" "0100" "401f0000" "007d0000" "0400" "2000")
    body = b"WAVE" + fmt + b"data" + len(data).to_bytes(4, "little") + data
    (tmp_path / "inf.wav").write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    assert main(["predict", export, "--audio", str(tmp_path / "inf.wav")]) == 2
    assert "1 NaN or infinite sample(s), the first at sample 7" in capsys.readouterr().err
    assert main(["predict", export, "--data", str(tmp_path / "m.csv")]) == 2
    assert "--data FILE and --out FILE go together" in capsys.readouterr().err


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "mmzoo.cli", "train", "--set", "training.epochs=0"],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 2
    assert "mmzoo train: error: training.epochs must be a positive integer" in result.stderr
    assert "Traceback" not in result.stderr
