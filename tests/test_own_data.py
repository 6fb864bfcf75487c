"""Training on your own data: manifests as people write them, tasks, splits, imbalance.

Real files in `tmp_path`, real TensorFlow; the MNIST and FSDD files come from the
shared data folder (`own_data.py`).
"""

import csv
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from own_data import mnist_images, shared_data, write_digit_manifest

import mmzoo
from mmzoo import datasets
from mmzoo.config import ConfigError, load_config
from mmzoo.data import ManifestError, read_manifest
from mmzoo.data.manifest import read_rows
from mmzoo.data.splits import split_rows
from mmzoo.data.tasks import LabelEncoder, infer_task

needs_shared = pytest.mark.skipif(shared_data() is None, reason="../shared/data is missing")


def _tiny_training(tmp_path, **training):
    return {"training": {"epochs": 1, "batch_size": 8, **training},
            "output": {"runs_dir": str(tmp_path / "runs"), "export": False,
                       "tensorboard": False, "verbose": 0},
            "evaluation": {"per_modality": False}}


# Tasks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("labels, task", [
    (["cat", "dog", "bird"], "multiclass"),
    (["3", "7", "1", "3"], "multiclass"),
    ([1, 0, 1], "binary"),
    (["yes", "no"], "binary"),
    (["a|b", "b", ""], "multilabel"),
    (["0.5", "1.25", "3"], "regression"),
    ([str(i) for i in range(60)], "regression"),
])
def test_the_task_is_inferred_from_the_label_column(labels, task):
    assert infer_task(labels) == task


def test_label_encoder_targets_per_task():
    multiclass = LabelEncoder.fit(["10", "9", "2"])
    assert multiclass.class_names == ["2", "9", "10"]  # numbers sort by value
    assert int(multiclass.encode("10")) == 2 and int(multiclass.encode(9)) == 1
    binary = LabelEncoder.fit(["no", "yes"])
    assert binary.encode("yes").tolist() == [1.0] and binary.num_outputs == 1
    multilabel = LabelEncoder.fit(["red|blue", "green", ""], task="multilabel")
    assert multilabel.class_names == ["blue", "green", "red"]
    assert multilabel.encode("red|blue").tolist() == [1.0, 0.0, 1.0]
    assert multilabel.encode("").tolist() == [0.0, 0.0, 0.0]
    regression = LabelEncoder.fit(["1.5", "-2"], task="regression")
    assert regression.encode("-2").tolist() == [-2.0]
    with pytest.raises(ValueError, match="not a finite number"):
        regression.encode("nan")
    with pytest.raises(ValueError, match="exactly 2"):
        LabelEncoder.fit(["a", "b", "c"], task="binary")


# Splits --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(st.integers(0, 12), min_size=6, max_size=120),
       validation=st.floats(0.05, 0.4), test=st.floats(0.05, 0.4), seed=st.integers(0, 99))
def test_group_by_never_splits_a_group(groups, validation, test, seed):
    if len(set(groups)) < 3:
        with pytest.raises(ValueError, match="group"):
            split_rows(len(groups), {"validation": validation, "test": test}, seed, groups)
        return
    parts = split_rows(len(groups), {"validation": validation, "test": test}, seed, groups)
    assert sorted(sum(parts.values(), [])) == list(range(len(groups)))  # each row once
    owners = {}
    for name, rows in parts.items():
        assert rows, f"split {name} is empty"
        for row in rows:
            assert owners.setdefault(groups[row], name) == name, "a group is in two splits"
    assert parts == split_rows(len(groups), {"validation": validation, "test": test}, seed,
                               groups)  # seeded


# Manifests as files come ------------------------------------------------------------------


def _write(path, text, encoding="utf-8", bom=b""):
    path.write_bytes(bom + text.encode(encoding))
    return path


@pytest.mark.parametrize("bom, newline", [(b"", "\n"), (b"\xef\xbb\xbf", "\n"),
                                          (b"\xef\xbb\xbf", "\r\n"), (b"", "\r\n")])
def test_csv_with_or_without_bom_and_crlf_reads_the_same(tmp_path, bom, newline):
    text = newline.join(["caption,label", '"a cat, sitting",cat', '"a ""dog""",dog', ""])
    manifest = read_manifest(_write(tmp_path / "m.csv", text, bom=bom), {"caption": "text"})
    assert manifest.columns["caption"] == ["a cat, sitting", 'a "dog"']
    assert manifest.class_names == ["cat", "dog"] and manifest.labels == [0, 1]


def test_jsonl_with_bom_and_utf16_csv_are_read(tmp_path):
    jsonl = _write(tmp_path / "m.jsonl", '{"text": "ça va", "label": "oui"}\n',
                   bom=b"\xef\xbb\xbf")
    assert read_manifest(jsonl, {"text": "text"}).columns["text"] == ["ça va"]
    utf16 = tmp_path / "u.csv"
    utf16.write_text("text,label\nnaïve,x\n", encoding="utf-16")  # Excel's "Unicode text"
    assert read_rows(utf16) == [{"text": "naïve", "label": "x"}]


def test_cp1252_csv_is_refused_naming_file_line_and_encoding_or_read_when_named(tmp_path):
    path = _write(tmp_path / "excel.csv", "text,label\nfine,a\ncaf\u00e9 cr\u00e8me,b\n",
                  encoding="cp1252")
    with pytest.raises(ValueError) as raised:
        read_manifest(path, {"text": "text"})
    message = str(raised.value)
    assert "excel.csv" in message and "line 3" in message and "'utf-8'" in message
    assert "encoding" in message and "cp1252" in message
    manifest = read_manifest(path, {"text": "text"}, encoding="cp1252")
    assert manifest.columns["text"][1] == "café crème"


def test_a_row_with_more_fields_than_the_header_names_its_line(tmp_path):
    path = _write(tmp_path / "m.csv", "text,label\na, b,c\n")
    with pytest.raises(ValueError, match=r"m\.csv line 2 has more fields.*quote"):
        read_rows(path)


def test_symbol_only_and_empty_texts_are_errors_naming_the_row_emoji_are_not(tmp_path):
    path = _write(tmp_path / "m.csv",
                  "caption,label\n👍👍,up\n👎,down\n+++,up\n,down\nnice 🍜,up\n")
    with pytest.raises(ManifestError) as raised:
        read_manifest(path, {"caption": "text"})
    rows = {(b.row, b.column) for b in raised.value.bad_rows}
    assert rows == {(3, "caption"), (4, "caption")}
    assert "'+++' is empty after standardization" in str(raised.value)


def _wav(path, samples, rate=8000):
    path.write_bytes(tf.audio.encode_wav(np.asarray(samples, "float32")[:, None], rate).numpy())
    return path


def _float_wav(path, samples, rate=8000):
    """A 32-bit IEEE float WAV (format 3): the kind that can hold NaN."""
    data = np.asarray(samples, "<f4").tobytes()
    fmt = (b"fmt " + (16).to_bytes(4, "little") + (3).to_bytes(2, "little")
           + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
           + (rate * 4).to_bytes(4, "little") + (4).to_bytes(2, "little")
           + (32).to_bytes(2, "little"))
    body = b"WAVE" + fmt + b"data" + len(data).to_bytes(4, "little") + data
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    return path


def test_a_nan_wav_is_a_manifest_error_naming_row_and_file(tmp_path):
    good = _wav(tmp_path / "good.wav", np.zeros(800))
    samples = np.zeros(800)
    samples[123] = np.nan
    bad = _float_wav(tmp_path / "bad.wav", samples)
    path = _write(tmp_path / "m.csv", f"audio,label\n{good.name},a\n{bad.name},b\n")
    with pytest.raises(ManifestError) as raised:
        read_manifest(path, {"audio": "audio"})
    (problem,) = raised.value.bad_rows
    assert (problem.row, problem.column) == (2, "audio")
    assert "NaN or infinite" in problem.reason and "sample 123" in problem.reason
    assert "bad.wav" in problem.reason


# Datasets of your own files -------------------------------------------------------------------


def test_manifest_dataset_infers_kinds_task_and_sizes(tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    rows = ["photo,voice,caption,notes,label"]
    for i in range(12):
        png = tf.io.encode_png(np.full((30, 40, 3), i * 20, np.uint8)).numpy()
        (images / f"{i}.png").write_bytes(png)
        _wav(tmp_path / f"{i}.wav", np.zeros(4000 + 100 * i), rate=16000)
        rows.append(f"img/{i}.png,{i}.wav,word{i % 3} " + "x " * (i % 5) + f",n{i},{i % 2}")
    path = _write(tmp_path / "m.csv", "\n".join(rows) + "\n")
    info = datasets.info("manifest", train=str(path), inputs={"notes": None})
    assert info.task == "binary" and info.class_names == ("0", "1")
    assert info.modalities["photo"] == {"modality": "image", "shape": (32, 40, 3)}
    assert info.modalities["voice"]["sample_rate"] == 16000
    assert info.modalities["voice"]["num_samples"] >= 5000  # covers 95% of the takes
    assert info.modalities["caption"] == {"modality": "text", "sequence_length": 8}
    assert "notes" not in info.modalities
    example = next(iter(datasets.load("manifest", "train", train=str(path),
                                      inputs={"notes": None})))
    assert example["photo"].shape == (32, 40, 3) and example["label"].shape == (1,)


def test_config_errors_name_the_key(tmp_path):
    path = _write(tmp_path / "m.csv", "text,label\n" + "a b,x\nc d,y\n" * 10)
    base = {"dataset": {"name": "manifest", "options": {"train": str(path)}},
            "model": {"preset": None}}
    with pytest.raises(ConfigError, match=r"model\.head 'multiclass' does not fit .* binary"):
        load_config({**base, "model": {"preset": None, "head": "multiclass"}})
    with pytest.raises(ConfigError, match=r"training\.class_weight\.z.*Classes: x, y"):
        load_config({**base, "training": {"class_weight": {"z": 2}}})
    with pytest.raises(ConfigError, match=r"dataset\.options.*no label column 'target'"):
        load_config({**base, "dataset": {"name": "manifest",
                                         "options": {"train": str(path), "label": "target"}}})
    config = load_config({**base, "dataset": {"name": "manifest", "options": {
        "train": str(path), "task": "multiclass"}}})
    assert config["dataset"]["options"]["task"] == "multiclass"


def test_npz_dataset_trains_a_regression(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (96, 8, 8, 1)).astype("float32")
    targets = images.mean(axis=(1, 2, 3)) * 10
    np.savez(tmp_path / "train.npz", image=images, label=targets)
    info = datasets.info("npz", train=str(tmp_path / "train.npz"))
    assert info.task == "regression" and info.modalities["image"]["shape"] == (8, 8, 1)
    result = mmzoo.train({"name": "npz", "dataset": {"name": "npz", "options": {
        "train": str(tmp_path / "train.npz")}}, "model": {"preset": None},
        **_tiny_training(tmp_path, epochs=2)}, log=None)
    assert set(result["test"]) >= {"loss", "mae", "rmse"}


@needs_shared
def test_tfds_dataset_reads_a_prepared_folder():
    options = {"name": "spoken_digit"}
    info = datasets.info("tfds", data_dir=shared_data(), **options)
    assert list(info.modalities) == ["audio"]  # audio/filename describes the audio
    assert info.modalities["audio"]["sample_rate"] == 8000 and info.num_classes == 10
    example = next(iter(datasets.load("tfds", "test", data_dir=shared_data(), **options)))
    assert example["audio"].shape == (info.modalities["audio"]["num_samples"],)
    assert float(tf.reduce_max(tf.abs(example["audio"]))) <= 1.0
    mnist = datasets.info("tfds", data_dir=shared_data(), name="mnist")
    assert mnist.modalities == {"image": {"modality": "image", "shape": (28, 28, 1)}}


@pytest.mark.parametrize("task, labels, header", [
    ("binary", ["no", "yes"], ["probability"]),
    ("multilabel", ["red|blue", "blue", "green|red"],
     ["probability", "probability_blue", "probability_green", "probability_red"]),
    ("regression", ["1.5", "-0.25", "3"], []),
])
def test_each_task_trains_exports_and_predicts_a_file(tmp_path, task, labels, header):
    rows = [f"word{i % 7} other{i % 3},{labels[i % len(labels)]}" for i in range(48)]
    path = _write(tmp_path / "m.csv", "text,label\n" + "\n".join(rows) + "\n")
    config = {"name": task, "dataset": {"name": "manifest", "options": {"train": str(path)}},
              "model": {"preset": None, "inputs": {"text": {"kernel_sizes": [2]}}},
              **_tiny_training(tmp_path)}
    config["output"].update(export=True, saved_models_dir=str(tmp_path / "saved"))
    result = mmzoo.train(config, log=None)
    model = mmzoo.artifacts.load_model(result["export_dir"])
    assert model.head.kind == task
    if task != "regression":
        assert model.head.class_names == sorted({c for l in labels for c in l.split("|")})
    out = tmp_path / "predictions.csv"
    from mmzoo.training.evaluate import predict_file

    assert predict_file(result["export_dir"], path, out)["rows"] == 48
    with out.open(newline="") as f:
        predictions = list(csv.DictReader(f))
    assert list(predictions[0]) == ["row", "text", "prediction", *header]
    assert predictions[5]["text"] == "word5 other2"
    if task == "binary":
        assert {p["prediction"] for p in predictions} <= {"no", "yes"}
    if task == "regression":
        assert all(np.isfinite(float(p["prediction"])) for p in predictions)


# Imbalance -------------------------------------------------------------------------------


def _imbalanced_manifests(folder, common=400, rare=20, test=80, digits=(1, 0)):
    """Digits 1 (common) and 0 (rare) at 20:1 in train; balanced test."""
    images, labels = mnist_images(6000, seed=3)
    threes, fives = images[labels == digits[0]], images[labels == digits[1]]
    (folder / "img").mkdir(parents=True)

    def write(name, rows):
        lines = ["image,label"]
        for i, (image, label) in enumerate(rows):
            (folder / "img" / f"{name}{i}.png").write_bytes(
                tf.io.encode_png(image[..., None]).numpy())
            lines.append(f"img/{name}{i}.png,{label}")
        return _write(folder / f"{name}.csv", "\n".join(lines) + "\n")

    train = write("train", [(x, "three") for x in threes[:common]]
                  + [(x, "five") for x in fives[:rare]])
    test_rows = [(x, "three") for x in threes[common:common + test // 2]]
    test_rows += [(x, "five") for x in fives[rare:rare + test // 2]]
    return train, write("test", test_rows)


@pytest.mark.slow
@needs_shared
def test_balanced_class_weights_raise_balanced_accuracy_on_a_1_to_20_manifest(tmp_path):
    from sklearn.metrics import balanced_accuracy_score

    train, test = _imbalanced_manifests(tmp_path / "data")
    scores = {}
    for weighting in (None, "balanced"):
        config = {"name": f"imbalance_{weighting}",
                  "dataset": {"name": "manifest", "options": {
                      "train": str(train), "validation": str(test), "test": str(test)}},
                        "model": {"preset": None, "inputs": {"image": {"filters": [8, 16]}}},
                  **_tiny_training(tmp_path, epochs=3, batch_size=32, class_weight=weighting,
                                   restore_best=False)}
        mmzoo.train(config, log=None)
        model = mmzoo.artifacts.load_model(tmp_path / "runs" / config["name"])
        examples, manifest = mmzoo.training.evaluate.read_file(
            model, tmp_path / "runs" / config["name"], test)
        images = np.stack([e["image"].numpy() for e in examples])
        predicted = model.predict({"image": images}, verbose=0)[:, 0] > 0.5  # binary head
        truth = np.concatenate(manifest.labels) > 0.5
        scores[weighting] = balanced_accuracy_score(truth, predicted)
    # Measured: 0.50 unweighted (every test image called "one"), 0.99 balanced.
    assert scores["balanced"] > scores[None] + 0.2, scores


# End to end from the command line ---------------------------------------------------------------


def _mmzoo(*args, cwd):
    """Runs the `mmzoo` command; returns its status, stdout and stderr without
    TensorFlow's start-up log lines."""
    run = subprocess.run([sys.executable, "-m", "mmzoo.cli", *map(str, args)], cwd=cwd,
                         capture_output=True, text=True, timeout=900)
    noise = ("WARNING: All log messages", "I0000", "E0000", "W0000")
    err = "\n".join(line for line in run.stderr.splitlines() if not line.startswith(noise))
    return run.returncode, run.stdout, err


def test_train_on_a_bad_data_file_is_one_line_and_status_2(tmp_path, capsys, monkeypatch):
    from mmzoo.cli import main

    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "m.csv", "caption,label\nhello,a\n+++,b\n" * 3)
    assert main(["train", "--data", "m.csv", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "m.csv" in err and "row 2, column 'caption'" in err
    assert main(["train", "--label", "x"]) == 2
    assert "--data" in capsys.readouterr().err


@pytest.mark.slow
@needs_shared
def test_train_evaluate_predict_export_from_the_command_line(tmp_path):
    data = write_digit_manifest(tmp_path / "data", count=240, language="mixed")
    status, out, err = _mmzoo("train", "--data", data, "--group-by", "speaker", "--epochs",
                              "3", "--batch-size", "16", cwd=tmp_path)
    assert status == 0, err
    for line in ("input 'image': image, tower conv, 28x28x1",
                 "input 'audio': audio, tower log_mel_conv",
                 "input 'caption': text, tower cnn", "task: multiclass"):
        assert line in out, out
    metrics = json.loads((tmp_path / "runs" / "digits" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.6
    status, out, err = _mmzoo("evaluate", "saved_models/digits", "--data", data, "--json",
                              cwd=tmp_path)
    assert status == 0, err
    assert json.loads(out)["metrics"]["all"]["accuracy"] > 0.6
    status, out, err = _mmzoo("predict", "saved_models/digits", "--data", data, "--out",
                              "predictions.csv", cwd=tmp_path)
    assert status == 0, err
    with open(tmp_path / "predictions.csv", newline="") as f:
        predictions = list(csv.DictReader(f))
    assert len(predictions) == 240
    assert list(predictions[0]) == ["row", "image", "audio", "caption", "prediction",
                                    "probability", "probability_one", "probability_two",
                                    "probability_zero"]
    # `mmzoo export` of the run: its SavedModel, fed the raw files, predicts the same classes.
    status, _, err = _mmzoo("export", "runs/digits", "--out", "exported", cwd=tmp_path)
    assert status == 0, err
    from mmzoo.preprocessing.audio import decode_wav, resample

    signature = tf.saved_model.load(str(tmp_path / "exported")).signatures["serving_default"]
    folder = pathlib.Path(data).parent
    for row, prediction in zip(read_rows(data)[:24], predictions):
        waveform, rate = decode_wav(tf.io.read_file(row["audio"]))
        outputs = signature(  # one example a call: each recording keeps its own length
            image=tf.constant([tf.io.read_file(str(folder / row["image"])).numpy()]),
            caption=tf.constant([row["caption"]]),
            audio=resample(waveform, rate, 8000)[None])
        assert outputs["class_name"].numpy()[0].decode() == prediction["prediction"]
