"""Export: raw-input SavedModel parity with the training pipeline, signatures, other
formats (.keras, LiteRT), plain TensorFlow and saved_model_cli, model card and verify."""

import json
import pathlib
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from export_helpers import adapted_tokenizer, png_bytes, raw_inputs, tiny_trimodal

import mmzoo
from mmzoo.datasets import embedded
from mmzoo.export import VerificationError, export_model, parity, verify
from mmzoo.export import card as model_card
from mmzoo.model import MODALITY_MASK

NUM_TEST = 200
ATOL = 1e-5
VENV_BIN = pathlib.Path(sys.executable).parent


@pytest.fixture(scope="module")
def tokenizer():
    return adapted_tokenizer("vectorization")


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_trimodal(tokenizer.vocabulary_size, text_tower="cnn")


@pytest.fixture(scope="module")
def test_split():
    return embedded.load_numpy("test", num_examples=NUM_TEST)


@pytest.fixture(scope="module")
def exported(model, tokenizer, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "tiny"
    card = export_model(
        model, path, preprocessor={"text": tokenizer},
        formats=("saved_model", "keras", "litert"),
        metadata={"dataset": "embedded", "splits": {"train": 300}},
        metrics={"test": {"accuracy": 0.1}},
    )
    return path, card


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(str(exported[0]))


@pytest.fixture(scope="module")
def pipeline_predictions(model, tokenizer):
    """The training pipeline (mmzoo.training.inputs.eval_dataset) + model.predict."""
    from mmzoo.preprocessing.preprocessor import Preprocessor
    from mmzoo.training.inputs import eval_dataset

    examples = embedded.load("test", num_examples=NUM_TEST)
    preprocessor = Preprocessor({**model.preprocessor.layers, "text": tokenizer})
    dataset = eval_dataset(examples, preprocessor, batch_size=64)
    return model.predict(dataset, verbose=0)


# Parity ---------------------------------------------------------------------------------


def test_raw_signature_matches_training_pipeline(loaded, test_split, pipeline_predictions):
    features, _ = test_split
    serve = loaded.signatures["serving_default"]
    outputs = [serve(**raw_inputs(features, i, i + 50)) for i in range(0, NUM_TEST, 50)]
    probabilities = np.concatenate([o["probabilities"].numpy() for o in outputs])
    error = np.max(np.abs(probabilities - pipeline_predictions))
    print(f"parity max abs error over {NUM_TEST} examples: {error:.3g}")
    np.testing.assert_allclose(probabilities, pipeline_predictions, atol=ATOL, rtol=0)
    index = np.concatenate([o["class_index"].numpy() for o in outputs])
    names = np.concatenate([o["class_name"].numpy() for o in outputs])
    np.testing.assert_array_equal(index, np.argmax(pipeline_predictions, axis=1))
    assert [n.decode() for n in names] == [embedded.CLASS_NAMES[i] for i in index]
    assert index.dtype == np.int64


def test_masked_signature_serves_examples_that_lack_a_modality(loaded, model, tokenizer,
                                                               test_split):
    features, _ = test_split
    raw = raw_inputs(features, 0, 6)
    mask = np.array(
        [[1, 1, 1], [0, 1, 1], [1, 0, 1], [1, 1, 0], [1, 0, 0], [0, 0, 1]], "float32"
    )
    # What a client sends for a missing modality: empty bytes / text, zeros.
    image = raw["image"].numpy().copy()
    image[[1, 5]] = b""
    text = raw["text"].numpy().copy()
    text[[2, 4]] = b""
    audio = raw["audio"].numpy().copy()
    audio[[3, 4]] = 0.0
    out = loaded.signatures["serving_masked"](
        image=tf.constant(image), text=tf.constant(text), audio=tf.constant(audio),
        modality_mask=tf.constant(mask),
    )
    # Reference: the model on preprocessed tensors, zeros where a modality is missing.
    x = {
        "image": features["image"][:6].copy(),
        "text": tokenizer(list(features["text"][:6])).numpy(),
        "audio": features["audio"][:6].copy(),
    }
    for column, name in enumerate(model.modalities):
        x[name][mask[:, column] == 0] = 0
    expected = model.predict({**x, MODALITY_MASK: mask}, verbose=0)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=ATOL, rtol=0)
    assert model.modalities == ["image", "text", "audio"]


def test_mask_of_ones_equals_default_and_restored_function_takes_optional_mask(
        loaded, test_split):
    features, _ = test_split
    raw = raw_inputs(features, 0, 4)
    default = loaded.signatures["serving_default"](**raw)["probabilities"].numpy()
    ones = tf.ones((4, 3))
    masked = loaded.signatures["serving_masked"](**raw, modality_mask=ones)
    np.testing.assert_allclose(masked["probabilities"].numpy(), default, atol=1e-7)
    # The restored tf.function dispatches on the dict: with or without the mask.
    np.testing.assert_allclose(loaded.serve(raw)["probabilities"].numpy(), default, atol=1e-7)
    with_mask = loaded.serve({**raw, MODALITY_MASK: ones})
    np.testing.assert_allclose(with_mask["probabilities"].numpy(), default, atol=1e-7)


def test_preprocessed_signature_matches_model(loaded, model, tokenizer, test_split):
    features, _ = test_split
    x = {
        "image": features["image"][:8],
        "text": tokenizer(list(features["text"][:8])).numpy(),
        "audio": features["audio"][:8],
        MODALITY_MASK: np.ones((8, 3), "float32"),
    }
    out = loaded.signatures["serving_preprocessed"](**{k: tf.constant(v) for k, v in x.items()})
    np.testing.assert_allclose(
        out["probabilities"].numpy(), model.predict(x, verbose=0), atol=ATOL, rtol=0
    )
    no_mask = {k: tf.constant(v) for k, v in x.items() if k != MODALITY_MASK}
    np.testing.assert_allclose(
        loaded.serve_preprocessed(no_mask)["probabilities"].numpy(),
        out["probabilities"].numpy(), atol=1e-7,
    )


def test_signatures_and_metadata(loaded):
    signatures = loaded.signatures
    assert set(signatures) == {
        "serving_default", "serving_masked", "serving_preprocessed", "metadata"
    }
    specs = signatures["serving_default"].structured_input_signature[1]
    assert {k: (v.dtype, v.shape.as_list()) for k, v in specs.items()} == {
        "image": (tf.string, [None]),
        "text": (tf.string, [None]),
        "audio": (tf.float32, [None, None]),
    }
    masked = signatures["serving_masked"].structured_input_signature[1]
    assert masked[MODALITY_MASK].shape.as_list() == [None, 3]
    outputs = signatures["serving_default"].structured_outputs
    assert {k: v.dtype for k, v in outputs.items()} == {
        "probabilities": tf.float32, "class_index": tf.int64, "class_name": tf.string
    }
    meta = json.loads(signatures["metadata"]()["json"].numpy())
    assert meta["modality_mask_columns"] == ["image", "text", "audio"]
    assert meta["class_names"] == list(embedded.CLASS_NAMES)
    audio = next(i for i in meta["inputs"] if i["name"] == "audio")
    assert audio["sample_rate"] == 8000 and audio["kind"] == "audio"


# Other formats ---------------------------------------------------------------------------


def test_keras_file_loads_with_safe_mode(exported, model, tokenizer, test_split):
    path, card = exported
    assert card["formats"]["keras"] == {"path": "model.keras", "safe_mode": True}
    restored = keras.saving.load_model(path / "model.keras", safe_mode=True)
    features, _ = test_split
    x = {"image": features["image"][:8], "text": tokenizer(list(features["text"][:8])).numpy(),
         "audio": features["audio"][:8]}
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6, rtol=0
    )


def test_litert_parity_on_cpu_interpreter(exported, tokenizer, test_split, pipeline_predictions):
    from mmzoo.export import litert

    path, card = exported
    info = card["formats"]["litert"]
    size = (path / "model.tflite").stat().st_size
    assert info["bytes"] == size and info["ops"] == "builtins" and info["batch_size"] is None
    print(f"LiteRT file: {size:,} bytes")
    features, _ = test_split
    x = {
        "image": features["image"],
        "text": tokenizer(list(features["text"])).numpy(),
        "audio": features["audio"],
        MODALITY_MASK: np.ones((NUM_TEST, 3), "float32"),
    }
    out = litert.run(litert.interpreter(path=path / "model.tflite"), x)
    np.testing.assert_allclose(out["probabilities"], pipeline_predictions, atol=ATOL, rtol=0)
    assert sorted(info["inputs"]) == ["audio", "image", MODALITY_MASK, "text"]


PLAIN_TF_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf

    path, inputs_file = sys.argv[1], sys.argv[2]
    data = np.load(inputs_file)
    model = tf.saved_model.load(path)
    out = model.signatures["serving_default"](
        image=tf.constant(list(data["image"])), text=tf.constant(list(data["text"])),
        audio=tf.constant(data["audio"]))
    assert "mmzoo" not in sys.modules, sorted(m for m in sys.modules if "mmzoo" in m)
    print(json.dumps({
        "probabilities": out["probabilities"].numpy().tolist(),
        "class_name": [n.decode() for n in out["class_name"].numpy()],
    }))
""")


def test_fresh_process_with_plain_tensorflow_loads_and_predicts(exported, test_split,
                                                                 pipeline_predictions, tmp_path):
    path, _ = exported
    features, _ = test_split
    inputs_file = tmp_path / "inputs.npz"
    np.savez(inputs_file, image=np.array(png_bytes(features["image"][:5]), dtype="S"),
             text=np.array([t.encode() for t in features["text"][:5]], dtype="S"),
             audio=features["audio"][:5])
    script = tmp_path / "plain_tf.py"
    script.write_text(PLAIN_TF_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(path), str(inputs_file)], cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out["probabilities"], pipeline_predictions[:5], atol=ATOL, rtol=0)
    assert out["class_name"] == [
        embedded.CLASS_NAMES[i] for i in np.argmax(pipeline_predictions[:5], axis=1)
    ]


def test_saved_model_cli_show_and_run(exported, test_split, pipeline_predictions, tmp_path):
    cli = VENV_BIN / "saved_model_cli"
    if not cli.exists():
        pytest.skip(f"saved_model_cli not found beside {sys.executable}")
    path, _ = exported
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": f"{VENV_BIN}:/usr/bin:/bin"}
    show = subprocess.run([str(cli), "show", "--dir", str(path), "--all"], capture_output=True,
                          text=True, timeout=300, env=env)
    assert show.returncode == 0, show.stderr[-3000:]
    for expected in ("signature_def['serving_default']", "signature_def['serving_masked']",
                     "signature_def['serving_preprocessed']", "inputs['image']",
                     "DT_STRING", "outputs['class_name']"):
        assert expected in show.stdout
    features, _ = test_split
    np.savez(tmp_path / "in.npz", image=np.array(png_bytes(features["image"][:2]), dtype="S"),
             audio=features["audio"][:2])
    texts = json.dumps([str(t) for t in features["text"][:2]])
    run = subprocess.run(
        [str(cli), "run", "--dir", str(path), "--tag_set", "serve",
         "--signature_def", "serving_default",
         "--inputs", f"image={tmp_path / 'in.npz'}[image];audio={tmp_path / 'in.npz'}[audio]",
         "--input_exprs", f"text={texts}", "--outdir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    probabilities = np.load(tmp_path / "out" / "probabilities.npy")
    np.testing.assert_allclose(probabilities, pipeline_predictions[:2], atol=ATOL, rtol=0)


# Model card and verify --------------------------------------------------------------------


def test_model_card(exported):
    path, card = exported
    on_disk = json.loads((path / "model_card.json").read_text())
    assert on_disk == json.loads(json.dumps(card))
    assert [i["name"] for i in card["inputs"]] == ["image", "text", "audio"]
    text = card["inputs"][1]
    assert text["dtype"] == "string" and text["model_shape"] == [None, 32]
    assert text["preprocessing"]["layer"] == "TextTokenizer"
    assert text["preprocessing"]["config"]["vocabulary_size"] > 10
    assert card["class_names"] == list(embedded.CLASS_NAMES)
    assert card["training_data"] == {"dataset": "embedded", "splits": {"train": 300}}
    assert card["metrics"] == {"test": {"accuracy": 0.1}}
    assert set(card["versions"]) >= {"mmzoo", "tensorflow", "keras", "python"}
    assert card["versions"]["tensorflow"] == tf.__version__
    assert card["requires"] == []
    # The vocabulary travels inside saved_model.pb (no asset file to carry along).
    assert not [p for p in (path / "assets").rglob("*") if p.is_file()]
    assert card["modality_mask"]["columns"] == ["image", "text", "audio"]
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    assert sorted(card["files"]) == [f for f in files if f != "model_card.json"]
    for name, digest in card["files"].items():
        assert model_card.sha256(path / name) == digest
    assert {"saved_model.pb", "model.keras", "model.tflite", "parity_examples.npz",
            "preprocessor.json"} <= set(card["files"])
    errors = card["parity"]["max_abs_error"]
    assert set(errors) == {"saved_model", "saved_model_preprocessed", "keras", "litert"}
    assert max(errors.values()) <= ATOL


def test_verify_passes_then_names_changed_missing_and_extra_files(exported, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(exported[0], path)
    result = verify(path)
    assert result["files"] == len(exported[1]["files"])
    assert set(result["parity"]) == {"saved_model", "saved_model_preprocessed", "keras", "litert"}
    assert max(result["parity"].values()) <= ATOL

    tflite = path / "model.tflite"
    data = bytearray(tflite.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tflite.write_bytes(bytes(data))
    (path / "variables" / "variables.index").unlink()
    (path / "notes.txt").write_text("hello")
    with pytest.raises(VerificationError) as info:
        verify(path)
    message = str(info.value)
    assert "changed: model.tflite" in message
    assert "missing: variables/variables.index" in message
    assert "extra: notes.txt" in message


def test_verify_runs_parity_examples(exported, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(exported[0], path)
    examples = parity.load_examples(path / parity.FILENAME)
    parity.save_examples(path / parity.FILENAME, examples["raw"], examples["preprocessed"],
                         examples["outputs"] + 1e-3)
    card = json.loads((path / "model_card.json").read_text())
    card["files"][parity.FILENAME] = model_card.sha256(path / parity.FILENAME)
    (path / "model_card.json").write_text(json.dumps(card))
    assert verify(path, parity_check=False)["parity"] is None  # hashes alone pass
    with pytest.raises(VerificationError, match="Parity check failed.*saved_model"):
        verify(path)


def test_verify_cli(exported, tmp_path, capsys):
    from mmzoo.export.cli import main

    path = tmp_path / "copy"
    shutil.copytree(exported[0], path)
    assert main(["verify", str(path), "--hashes-only"]) == 0
    assert "files match model_card.json" in capsys.readouterr().out
    (path / "preprocessor.json").write_text("{}")
    assert main(["verify", str(path), "--hashes-only"]) == 1
    assert "changed: preprocessor.json" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "nothing")]) == 2


def test_callable_module_and_top_level_names(tmp_path):
    assert callable(mmzoo.export)
    assert mmzoo.export.export_model is export_model
    assert mmzoo.verify is verify
    with pytest.raises(FileNotFoundError, match="model_card.json"):
        mmzoo.verify(tmp_path)
