"""Export API: argument errors, atomic replacement, export from a run / saved model folder
(the training glue) and the `export` command."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from export_helpers import (
    adapted_tokenizer,
    raw_inputs,
    tiny_image_model,
    tiny_trimodal,
)
from testing import make_tiny_config

import mmzoo
from mmzoo.datasets import embedded
from mmzoo.export import card as model_card
from mmzoo.export import export_model, litert, verify
from mmzoo.export.inputs import resolve_inputs
from mmzoo.preprocessing.audio import AudioPreprocessing
from mmzoo.preprocessing.image import ImagePreprocessing
from mmzoo.preprocessing.text import TextTokenizer

REPO = pathlib.Path(__file__).resolve().parents[1]


def folder_hashes(folder):
    return {
        p.relative_to(folder).as_posix(): model_card.sha256(p)
        for p in sorted(pathlib.Path(folder).rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def image_export(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "model"
    export_model(tiny_image_model(), path)
    return path


# Arguments --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    return adapted_tokenizer("vectorization", num_examples=100)


@pytest.fixture(scope="module")
def trimodal(tokenizer):
    return tiny_trimodal(tokenizer.vocabulary_size, train_steps=0)


def test_text_input_needs_its_tokenizer(trimodal, tokenizer):
    with pytest.raises(ValueError, match=r"Text input 'text' needs its tokenizer.*unadapted"):
        resolve_inputs(trimodal)
    short = TextTokenizer(sequence_length=8, vocabulary=tokenizer.get_vocabulary())
    with pytest.raises(ValueError, match=r"sequences of 8 ids .* shape \(32,\)"):
        resolve_inputs(trimodal, {"text": short})
    huge = TextTokenizer(sequence_length=32, vocabulary=[f"w{i}" for i in range(5000)])
    with pytest.raises(ValueError, match=r"has 5002 ids but the text tower embeds only"):
        resolve_inputs(trimodal, {"text": huge})
    with pytest.raises(ValueError, match=r"must be an ImagePreprocessing, TextTokenizer"):
        resolve_inputs(trimodal, {"text": keras.layers.Identity()})
    with pytest.raises(ValueError, match=r"must be an mmzoo.Preprocessor or a dict"):
        resolve_inputs(trimodal, [tokenizer])


def test_default_preprocessing_and_sample_rates(trimodal, tokenizer):
    inputs = {i.name: i for i in resolve_inputs(trimodal, {"text": tokenizer})}
    assert [i.kind for i in inputs.values()] == ["image", "text", "audio"]
    image = inputs["image"].layer
    assert isinstance(image, ImagePreprocessing) and image.size == (32, 32) and image.channels == 3
    audio = inputs["audio"]
    assert isinstance(audio.layer, AudioPreprocessing) and audio.sample_rate == 8000
    assert audio.layer.num_samples == 8000
    assert inputs["text"].vocab_size == tokenizer.vocabulary_size
    wrong = {"text": tokenizer, "image": ImagePreprocessing(size=(28, 28), channels=3)}
    with pytest.raises(ValueError, match=r"makes images of shape \(28, 28, 3\)"):
        resolve_inputs(trimodal, wrong)
    with pytest.raises(ValueError, match=r"names input\(s\) \['depth'\]"):
        resolve_inputs(trimodal, {"text": tokenizer, "depth": tokenizer})


def test_sample_rate_comes_from_the_preprocessor_not_the_towers():
    """The rate is the tower spec's (its builder's default when left out), carried by
    the model's preprocessor; a model without one must be given it."""
    model = mmzoo.build_model(
        {"audio": {"tower": "waveform_conv", "input_shape": (4000,), "num_filters": 4,
                   "sample_rate": 16000}},
        num_outputs=2,
    )
    assert resolve_inputs(model)[0].sample_rate == 16000
    layer = AudioPreprocessing(sample_rate=22050, num_samples=4000)
    assert resolve_inputs(model, {"audio": layer})[0].sample_rate == 22050
    with pytest.raises(ValueError, match=r"makes 8000 samples but the model takes 4000"):
        resolve_inputs(model, {"audio": AudioPreprocessing(8000, 8000)})
    model.preprocessor = None
    with pytest.raises(ValueError, match=r"sample rate of audio input 'audio' is unknown"):
        resolve_inputs(model)


def test_export_argument_errors(tmp_path):
    model = tiny_image_model()
    with pytest.raises(ValueError, match=r"`formats` must be .* Received: formats=\('onnx',\)"):
        export_model(model, tmp_path / "a", formats=("onnx",))
    with pytest.raises(ValueError, match=r"`class_names` must hold 2 distinct names"):
        export_model(model, tmp_path / "a", class_names=["cat"])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"holds no exported model .*; refusing to replace it"):
        export_model(model, tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"is a file"):
        export_model(model, tmp_path / "file")
    with pytest.raises(ValueError, match=r"`extra_files` keys must be plain file names"):
        export_model(model, tmp_path / "b", extra_files={"model_card.json": "{}"})
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"a TaskHead layer named 'head'"):
        export_model(plain, tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "notes"]


def test_class_names_argument_and_binary_head(tmp_path):
    binary = mmzoo.build_model(
        {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        head="binary", num_outputs=1,
    )
    card = export_model(binary, tmp_path / "binary", class_names=["no", "yes"],
                        formats=("saved_model",))
    assert card["class_names"] == ["no", "yes"] and card["task"] == "binary"
    loaded = tf.saved_model.load(str(tmp_path / "binary"))
    png = tf.io.encode_png(np.full((8, 8, 1), 200, np.uint8))
    out = loaded.signatures["serving_default"](image=tf.stack([png, png]))
    probability = out["probabilities"].numpy()[:, 0]
    assert out["probabilities"].shape == (2, 1)
    np.testing.assert_array_equal(out["class_index"].numpy(), (probability >= 0.5).astype(int))
    assert out["class_name"].numpy()[0].decode() in ("no", "yes")


def test_regression_head_outputs_values(tmp_path):
    model = mmzoo.build_model(
        {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        head="regression", num_outputs=2,
    )
    card = export_model(model, tmp_path / "reg", formats=("saved_model", "litert"))
    loaded = tf.saved_model.load(str(tmp_path / "reg"))
    png = tf.io.encode_png(np.zeros((8, 8, 1), np.uint8))
    out = loaded.signatures["serving_default"](image=tf.stack([png]))
    assert sorted(out) == ["values"] and out["values"].shape == (1, 2)
    assert card["class_names"] is None
    assert sorted(card["formats"]["litert"]["outputs"]) == ["values"]


# Atomic export ----------------------------------------------------------------------------


def _fail(*args, **kwargs):
    raise RuntimeError("disk full while writing the model card")


@pytest.mark.parametrize("existing", [True, False])
def test_failed_export_leaves_target_as_it_was(image_export, tmp_path, monkeypatch, existing):
    target = tmp_path / "model"
    if existing:
        shutil.copytree(image_export, target)
    before = folder_hashes(target) if existing else None
    monkeypatch.setattr(model_card, "write_card", _fail)
    with pytest.raises(RuntimeError, match="disk full"):
        export_model(tiny_image_model(name="other"), target, formats=("saved_model", "keras"))
    # Nothing half-written: the old export intact (or no folder at all), no temporary left.
    assert sorted(p.name for p in tmp_path.iterdir()) == (["model"] if existing else [])
    if existing:
        assert folder_hashes(target) == before
        monkeypatch.undo()
        assert verify(target)["files"] == len(before) - 1


def test_interrupted_export_keeps_existing_model(image_export, tmp_path, monkeypatch):
    target = tmp_path / "model"
    shutil.copytree(image_export, target)
    before = folder_hashes(target)

    def interrupt(module):
        raise KeyboardInterrupt

    monkeypatch.setattr(litert, "convert", interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_model(tiny_image_model(), target, formats=("saved_model", "litert"))
    assert folder_hashes(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_successful_export_replaces_the_old_one_whole(image_export, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(image_export, target)
    (target / "stale.txt").write_text("from an older export")
    card = export_model(tiny_image_model(name="newer"), target, formats=("keras",))
    assert card["name"] == "newer"
    names = sorted(p.name for p in target.iterdir())
    assert names == ["model.keras", "model_card.json", "parity_examples.npz", "preprocessor.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    parity = verify(target)["parity"]
    assert list(parity) == ["keras"] and parity["keras"] <= 1e-6


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import mmzoo
    from mmzoo.export import card, export_model
    from export_helpers import tiny_image_model

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    card.write_card = killed
    export_model(tiny_image_model(name="killed"), sys.argv[1], formats=("saved_model", "keras"))
""")


@pytest.mark.slow
def test_export_killed_midway_never_damages_the_target(image_export, tmp_path):
    from mmzoo.io import remove_stale_temporaries

    target = tmp_path / "model"
    shutil.copytree(image_export, target)
    before = folder_hashes(target)
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, str(script), str(target)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert folder_hashes(target) == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers, "the killed export wrote into a temporary folder beside the target"
    remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kill.py", "model"]
    assert verify(target)["files"] == len(before) - 1


# From a saved model folder or a run (the training glue) ----------------------------------


CONFIG_YAML = "name: glue\ndataset:\n  name: embedded\n  options: {num_train: 100}\n  seed: 0\n"


def _saved_model_folder(path, model, tokenizer, legacy=False):
    """What `mmzoo train` writes to saved_models/NAME: model.keras (carrying the
    preprocessor) and preprocessor.json; with `legacy`, what mmzoo 0.1 wrote: a
    model.keras without it and a preprocessing.json."""
    from mmzoo import artifacts
    from mmzoo.preprocessing.preprocessor import Preprocessor

    path.mkdir(parents=True)
    preprocessor = Preprocessor({**model.preprocessor.layers, "text": tokenizer})
    previous, model.preprocessor = model.preprocessor, None if legacy else preprocessor
    model.save(path / "model.keras")
    model.preprocessor = previous
    if legacy:
        (path / "preprocessing.json").write_text(json.dumps({
            "format": "mmzoo.preprocessing/1",
            "inputs": {
                "image": {"modality": "image", "shape": [32, 32, 3], "size": [32, 32],
                          "channels": 3, "resize": "pad"},
                "text": {"modality": "text", "shape": [32], "tokenizer": tokenizer.get_config()},
                "audio": {"modality": "audio", "shape": [8000], "num_samples": 8000,
                          "sample_rate": 8000},
            },
            "modalities": ["image", "text", "audio"], "head": "multiclass",
            "class_names": list(embedded.CLASS_NAMES), "dataset": {"name": "embedded"},
        }))
    else:
        artifacts.save_preprocessor(path, preprocessor)
    (path / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.42, "loss": 1.5}}))
    (path / "config.yaml").write_text(CONFIG_YAML)


@pytest.mark.parametrize("legacy", [False, True], ids=["preprocessor", "legacy_bundle"])
def test_export_command_from_saved_model_folder(trimodal, tokenizer, tmp_path, capsys, legacy):
    """`mmzoo export saved_models/NAME --out ...` reads the folder's model and
    preprocessor, metrics.json and config.yaml (what `mmzoo train` writes), then
    `mmzoo verify`. A folder of mmzoo 0.1 (preprocessing.json) exports the same."""
    from mmzoo import artifacts
    from mmzoo.export.cli import main

    source = tmp_path / "saved_models" / "glue"
    _saved_model_folder(source, trimodal, tokenizer, legacy=legacy)
    out = tmp_path / "exported"
    assert main(["export", str(source), "--out", str(out), "--formats", "saved_model,keras"]) == 0
    printed = capsys.readouterr().out
    assert f"Exported {source} to {out}/" in printed and "parity (max abs error)" in printed

    card = json.loads((out / "model_card.json").read_text())
    assert card["metrics"] == {"test": {"accuracy": 0.42, "loss": 1.5}}
    assert card["training_data"]["dataset"]["name"] == "embedded"
    assert "Synthetic image" in card["training_data"]["description"]
    assert card["class_names"] == list(embedded.CLASS_NAMES)
    exported = artifacts.load_preprocessor(out)
    assert exported.tokenizers["text"].get_vocabulary() == tokenizer.get_vocabulary()
    assert exported.modalities == ["image", "text", "audio"]
    assert not (out / "preprocessing.json").exists()
    reloaded = artifacts.load_model(out)
    assert reloaded.preprocessor.get_config() == exported.get_config()
    assert (out / "config.yaml").read_text() == CONFIG_YAML

    features, _ = embedded.load_numpy("test", num_examples=8)
    loaded = tf.saved_model.load(str(out))
    served = loaded.signatures["serving_default"](**raw_inputs(features))
    x = {"image": features["image"], "text": tokenizer(list(features["text"])).numpy(),
         "audio": features["audio"]}
    np.testing.assert_allclose(served["probabilities"].numpy(), trimodal.predict(x, verbose=0),
                               atol=1e-5, rtol=0)

    assert main(["verify", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["export", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "No model at" in capsys.readouterr().err


@pytest.mark.slow
def test_train_then_export_run_and_verify(tmp_path):
    """`mmzoo train` (tiny config), then `mmzoo export runs/NAME`, then `mmzoo verify`."""
    from mmzoo.export.cli import main

    config = make_tiny_config(tmp_path, name="tiny_export", training={"epochs": 1},
                              model={"fusion": "gated"})
    # An LSTM text tower: LiteRT lowers it with a static batch.
    config["model"]["inputs"]["text"] = {"tower": "lstm", "units": 4, "embedding_size": 8,
                                         "embedding_dim": 8, "vocab_size": 200}
    result = mmzoo.train(config, log=None)
    out = tmp_path / "exported"
    assert main(["export", result["run_dir"], "--out", str(out)]) == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["metrics"]["test"] == result["test"]
    assert card["formats"]["litert"]["batch_size"] == 1  # the LSTM lowers with a static batch
    assert main(["verify", str(out)]) == 0
    features, _ = embedded.load_numpy("test", seed=0, num_examples=32)
    loaded = tf.saved_model.load(str(out))
    served = loaded.signatures["serving_default"](**raw_inputs(features))["probabilities"]
    from mmzoo import artifacts
    from mmzoo.training.inputs import eval_dataset

    model = artifacts.load_model(result["run_dir"])
    dataset = eval_dataset(embedded.load("test", num_examples=32), model.preprocessor,
                           batch_size=32)
    np.testing.assert_allclose(served.numpy(), model.predict(dataset, verbose=0), atol=1e-5,
                               rtol=0)


@pytest.mark.parametrize("name", ["mmzoo.export", "mmzoo.export.inputs", "mmzoo.export.checks",
                                  "mmzoo.export.saved_model", "mmzoo.export.parity",
                                  "mmzoo.export.card", "mmzoo.export.cli"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name),
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_precomputed_feature_inputs_pass_through_and_refuse_raw_export(tmp_path):
    """An audio tower fed (112, 112) spectrograms (MultiBench's AV-MNIST) has no raw
    form: its preprocessor entry passes the tensor through, the model saves and
    reloads with it, and a raw-input export says what a raw audio input needs."""
    from mmzoo.preprocessing.tensor_input import TensorInput

    model = mmzoo.build_model({"audio": {"tower": "lenet", "input_shape": (112, 112)}},
                              num_outputs=2)
    layer = model.preprocessor.layers["audio"]
    assert isinstance(layer, TensorInput) and layer.shape == (112, 112)
    x = np.zeros((2, 112, 112), "float32")
    assert model.preprocessor({"audio": x})["audio"].shape == (2, 112, 112)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert restored.preprocessor.modality("audio") == "audio"
    with pytest.raises(ValueError, match=r"Audio input 'audio' must be float32 waveforms"):
        export_model(model, tmp_path / "export")
