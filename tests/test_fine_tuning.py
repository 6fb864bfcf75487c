"""Pretrained towers in configs and presets: `model.pretrained`, the two-phase schedule,
the seeds' presets and the offline errors of `image/resnet` weights.

The keras-hub presets are tiny random-weight ones saved to local folders
(`tests/hub_presets.py`); no test reaches the network.
"""

import os

import hub_presets
import keras
import numpy as np
import pytest

import mmzoo
from mmzoo.config import ConfigError, load_config, resolve_model
from mmzoo.training.callbacks import FineTuningPhases
from mmzoo.training.optimizers import PhasedLearningRate, make_optimizer
from mmzoo.towers.pretrained import backbone_of

CLOSED = "http://127.0.0.1:9"  # a closed local port: every request fails at once, locally


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("presets")
    return {"bert": hub_presets.bert(folder / "bert"),
            "resnet": hub_presets.resnet(folder / "resnet")}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, CLOSED)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))


def _text_model(preset, trainable=True):
    return mmzoo.build_model(
        {"text": {"tower": "pretrained", "preset": preset, "input_shape": (8,),
                  "trainable": trainable, "embedding_dim": 8}},
        num_outputs=2, head_options={"hidden_units": ()})


def _weights(layer):
    return [w.numpy().copy() for w in layer.weights]


def _changed(before, layer):
    return [not np.array_equal(a, b.numpy()) for a, b in zip(before, layer.weights)]


def test_two_phases_freeze_then_train_the_backbone(presets):
    model = _text_model(presets["bert"], trainable={"last_n": 1})
    texts = np.array(hub_presets.CORPUS[:4] * 2, dtype=object)
    x = {"text": model.preprocessor({"text": texts})["text"].numpy()}
    y = np.array([0, 1] * 4)
    phases = FineTuningPhases(1)  # the second phase: the towers as built (last_n=1)
    model.compile(keras.optimizers.Adam(PhasedLearningRate(0.05, boundary=4, factor=0.5)))
    phases.prepare(model)
    backbone = backbone_of(model, "text")
    head = model.get_layer("head")
    start, head_start = _weights(backbone), _weights(head)

    model.fit(x, y, batch_size=2, epochs=1, callbacks=[phases], verbose=0)
    assert not any(_changed(start, backbone)), "a frozen backbone must not change"
    assert any(_changed(head_start, head))

    after_first = _weights(backbone)
    model.fit(x, y, batch_size=2, epochs=2, initial_epoch=1, callbacks=[phases], verbose=0)
    changed = _changed(after_first, backbone)
    weighted = [layer for layer in backbone.layers if layer.weights]
    last = {id(w) for w in weighted[-1].weights}
    assert any(changed), "the second phase trains the last layer"
    for weight, moved in zip(backbone.weights, changed):
        if id(weight) not in last:
            assert not moved, f"{weight.path} is not among the last_n=1 layer's weights"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.025)
    assert phases.settings == {"text": {"last_n": 1}}


def test_phased_learning_rate_round_trips_through_its_config():
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10)
    phased = PhasedLearningRate(schedule, boundary=5, factor=0.1)
    restored = PhasedLearningRate.from_config(
        keras.saving.serialize_keras_object(phased)["config"])
    for step in (0, 4, 5, 9):
        assert float(restored(step)) == pytest.approx(float(phased(step)))
    assert float(phased(5)) == pytest.approx(0.1 * float(schedule(5)))


def test_make_optimizer_lowers_the_rate_after_the_frozen_epochs():
    training = {"epochs": 4, "optimizer": {"name": "adam", "learning_rate": 0.01,
                                           "weight_decay": None, "clipnorm": None},
                "schedule": {"name": "constant", "warmup_epochs": 0, "alpha": 0.0},
                "fine_tuning": {"frozen_epochs": 1, "learning_rate_factor": 0.1}}
    rate = make_optimizer(training, steps_per_epoch=3).learning_rate
    assert float(rate) == pytest.approx(0.01)
    schedule = make_optimizer(training, 3)._learning_rate
    assert [round(float(schedule(step)), 5) for step in (2, 3)] == [0.01, 0.001]


def _config(**model):
    return load_config({"model": {"preset": "trimodal_gated", **model},
                        "training": {"epochs": 3}})


def test_model_pretrained_swaps_the_tower_and_keeps_the_shape(presets):
    kwargs = resolve_model(_config(pretrained={"text": presets["bert"]}))
    text = kwargs["inputs"]["text"]
    assert text["tower"] == "pretrained" and text["preset"] == presets["bert"]
    assert "units" not in text and "vocab_size" not in text  # the LSTM's options are gone
    assert text["input_shape"] == (32,)


def test_model_pretrained_keeps_the_inputs_options_and_takes_the_datasets_image_size(presets):
    kwargs = resolve_model(_config(
        pretrained={"image": presets["resnet"]},
        inputs={"image": {"trainable": {"last_n": 2}, "input_shape": [64, 64, 3]}}))
    image = kwargs["inputs"]["image"]
    assert image["trainable"] == {"last_n": 2}  # model.inputs still applies
    assert image["input_shape"] == (32, 32, 3)  # the dataset's: the tower resizes
    assert "filters" not in image  # the conv tower's option is gone


@pytest.mark.parametrize("changes, key, match", [
    ({"model": {"pretrained": {"depth": "x"}}}, "model.pretrained.depth", "no input 'depth'"),
    ({"model": {"pretrained": {"text": "/no/such/preset"}}}, "model.inputs.text.preset",
     "No keras-hub preset folder"),
    ({"training": {"fine_tuning": {"frozen_epochs": 1}}}, "training.fine_tuning.frozen_epochs",
     "has none"),
    ({"model": {"pretrained": {"text": "BERT"}}, "training": {"fine_tuning": {
        "frozen_epochs": 3}}}, "training.fine_tuning.frozen_epochs", "below training.epochs"),
])
def test_config_errors_name_the_key(presets, changes, key, match):
    raw = {"model": {"preset": "trimodal_gated"}, "training": {"epochs": 3}}
    for section, values in changes.items():
        raw[section] = {**raw[section], **values}
    if raw["model"].get("pretrained", {}).get("text") == "BERT":
        raw["model"]["pretrained"] = {"text": presets["bert"]}
    with pytest.raises(ConfigError, match=match) as error:
        resolve_model(load_config(raw))
    assert error.value.key == key


def test_sentiment_preset_prints_a_note_and_takes_pretrained_towers(presets, capsys):
    random_weights = mmzoo.create_model("sentiment_trimodal")
    note = capsys.readouterr().out
    assert "random weights" in note and "bert_base_en_uncased" in note
    assert random_weights.head.get_config()["class_names"] == ["negative", "neutral", "positive"]
    assert random_weights.get_layer("fusion").__class__.__name__ == "AttentionFusion"

    model = mmzoo.create_model(
        "sentiment_trimodal",
        pretrained={"text": presets["bert"], "image": presets["resnet"]},
        inputs={"text": {"input_shape": (16,)}, "image": {"input_shape": (32, 32, 3)},
                "audio": {"input_shape": (1600,)}})
    assert capsys.readouterr().out == ""
    assert type(model.preprocessor.layers["text"]).__name__ == "PresetTokenizer"
    backbone_of(model, "image")  # a keras-hub ResNet
    raw = {"text": ["a good movie", "bad"], "image": np.random.rand(2, 32, 32, 3),
           "audio": np.zeros((2, 1600), "float32")}
    assert model.predict(model.preprocessor(raw), verbose=0).shape == (2, 3)


def test_switching_a_preset_input_to_another_tower_drops_the_old_options():
    model = mmzoo.create_model("trimodal_gated", inputs={"text": {"tower": "cnn"}})
    assert model.get_layer("text_tower").input.shape == (None, 32)


def test_missing_pretrained_input_is_an_error():
    with pytest.raises(ValueError, match="no input.*'depth'"):
        mmzoo.create_model("image_text_concat", pretrained={"depth": "x"})


def test_resnet_imagenet_weights_offline_is_one_clear_error(offline):
    from mmzoo.towers.image import build_resnet

    with pytest.raises(ValueError) as error:
        build_resnet((32, 32, 3), weights="imagenet")
    message = str(error.value)
    assert "ImageNet weights of resnet50" in message
    assert os.path.join(os.environ["KERAS_HOME"], "models") in message
    assert "keras.applications.ResNet50(include_top=False)" in message


@pytest.mark.slow
def test_command_line_fine_tunes_pretrained_towers_and_exports_raw_inputs(tmp_path):
    """`mmzoo train --data` with keras-hub text, image and audio towers, one frozen
    epoch then one unfrozen: the run, `mmzoo predict` and the exported SavedModel fed
    raw strings, PNG bytes and 16 kHz waveforms agree."""
    import csv
    import pathlib
    import subprocess
    import sys

    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the SavedModel's tokenizer ops)
    from own_data import write_digit_manifest

    from mmzoo.data.manifest import read_rows
    from mmzoo.preprocessing.audio import decode_wav, resample

    folder = tmp_path / "presets"
    text = hub_presets.bert(folder / "bert")
    image = hub_presets.resnet(folder / "resnet")
    audio = hub_presets.moonshine(folder / "moonshine")
    data = write_digit_manifest(tmp_path / "data", count=90, language="mixed")

    def mmzoo_cli(*args):
        run = subprocess.run([sys.executable, "-m", "mmzoo.cli", *map(str, args)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=1200)
        return run.returncode, run.stdout, run.stderr

    status, out, err = mmzoo_cli(
        "train", "--data", data, "--group-by", "speaker", "--epochs", "2", "--batch-size", "16",
        "--set", f"model.pretrained.caption={text}",
        "--set", f"model.pretrained.audio={audio}", "--set", "dataset.options.sample_rate=16000",
        "--set", f"model.pretrained.image={{preset: {image}, trainable: false}}",
        "--set", "training.fine_tuning.frozen_epochs=1")
    assert status == 0, err[-3000:]
    assert f"input 'caption': text, tower pretrained ({text}, trainable)" in out, out
    assert f"input 'image': image, tower pretrained ({image}, frozen)" in out, out
    assert "(the preset's)" in out
    with open(tmp_path / "runs" / "digits" / "history.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2

    status, out, err = mmzoo_cli("predict", "saved_models/digits", "--data", data, "--out",
                                 "predictions.csv")
    assert status == 0, err[-3000:]
    with open(tmp_path / "predictions.csv", newline="") as f:
        predictions = list(csv.DictReader(f))
    signature = tf.saved_model.load(
        str(tmp_path / "saved_models" / "digits")).signatures["serving_default"]
    base = pathlib.Path(data).parent
    for row, prediction in zip(read_rows(data)[:12], predictions):
        waveform, rate = decode_wav(tf.io.read_file(row["audio"]))
        outputs = signature(
            image=tf.constant([tf.io.read_file(str(base / row["image"])).numpy()]),
            caption=tf.constant([row["caption"]]),
            audio=resample(waveform, rate, 16000)[None])
        assert outputs["class_name"].numpy()[0].decode() == prediction["prediction"]
        index = int(outputs["class_index"].numpy()[0])
        assert float(outputs["probabilities"].numpy()[0, index]) == pytest.approx(
            float(prediction["probability"]), abs=1e-5)


def test_command_line_offline_preset_is_one_line_and_status_2(offline, tmp_path, capsys,
                                                               monkeypatch):
    from mmzoo.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--set", "model.pretrained.text=bert_tiny_en_uncased"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "model.inputs.text.preset" in err and "'bert_tiny_en_uncased'" in err
    assert os.environ["KAGGLEHUB_CACHE"] in err and "Once online" in err
    assert not (tmp_path / "runs").exists(), "nothing starts before the preset is found"
