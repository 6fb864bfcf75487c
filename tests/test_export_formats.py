"""Export with tensorflow-text tokenizers (WordPiece, SentencePiece) and LiteRT conversion
of each text tower."""

import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from export_helpers import (
    TEXT_LENGTH,
    adapted_tokenizer,
    raw_inputs,
    tiny_trimodal,
)

from mmzoo.datasets import embedded
from mmzoo.export import export_model, litert, verify
from mmzoo.model import MODALITY_MASK
from mmzoo.preprocessing.text import TextTokenizer, standardize_text

NUM_TEST = 200


def pipeline_predictions(model, tokenizer, num_examples=NUM_TEST):
    from mmzoo.preprocessing.preprocessor import Preprocessor
    from mmzoo.training.inputs import eval_dataset

    examples = embedded.load("test", num_examples=num_examples)
    preprocessor = Preprocessor({**model.preprocessor.layers, "text": tokenizer})
    dataset = eval_dataset(examples, preprocessor, batch_size=100)
    return model.predict(dataset, verbose=0)


def served_predictions(path, num_examples=NUM_TEST):
    features, _ = embedded.load_numpy("test", num_examples=num_examples)
    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures["serving_default"]
    return np.concatenate([
        serve(**raw_inputs(features, i, i + 100))["probabilities"].numpy()
        for i in range(0, num_examples, 100)
    ])


@pytest.fixture(scope="module")
def wordpiece_export(tmp_path_factory):
    tokenizer = adapted_tokenizer("wordpiece", max_tokens=200)
    model = tiny_trimodal(tokenizer.vocabulary_size, text_tower="cnn", train_steps=0, seed=1)
    path = tmp_path_factory.mktemp("wordpiece") / "model"
    card = export_model(model, path, preprocessor={"text": tokenizer}, formats=("saved_model",))
    return path, card, model, tokenizer


def test_wordpiece_parity_with_training_pipeline(wordpiece_export):
    path, card, model, tokenizer = wordpiece_export
    assert card["requires"] == ["tensorflow_text"]
    assert card["inputs"][1]["preprocessing"]["config"]["kind"] == "wordpiece"
    served = served_predictions(path)
    expected = pipeline_predictions(model, tokenizer)
    print(f"wordpiece parity max abs error: {np.max(np.abs(served - expected)):.3g}")
    np.testing.assert_allclose(served, expected, atol=1e-5, rtol=0)


LOAD_SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    if sys.argv[2] == "with":
        import tensorflow_text  # noqa: F401  (registers the WordPiece ops)
    model = tf.saved_model.load(sys.argv[1])
    out = model.signatures["serving_default"](
        image=tf.constant([tf.io.encode_png(tf.zeros((32, 32, 3), tf.uint8)).numpy()]),
        text=tf.constant(["spotted near the harbor"]), audio=tf.zeros((1, 8000)))
    assert "mmzoo" not in sys.modules
    print(out["class_name"].numpy()[0].decode())
""")


@pytest.mark.slow
def test_wordpiece_export_needs_tensorflow_text_import(wordpiece_export, tmp_path):
    path = wordpiece_export[0]
    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT)
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    without = subprocess.run([sys.executable, str(script), str(path), "without"],
                             capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert without.returncode != 0
    assert "FastWordpiece" in without.stderr or "Op type not registered" in without.stderr
    with_text = subprocess.run([sys.executable, str(script), str(path), "with"],
                               capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert with_text.returncode == 0, with_text.stderr[-3000:]
    assert with_text.stdout.strip().splitlines()[-1] in embedded.CLASS_NAMES


@pytest.mark.slow
def test_sentencepiece_export_and_verify(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    features, _ = embedded.load_numpy("train", num_examples=300)
    sentences = [t.decode() for t in standardize_text(tf.constant(list(features["text"]))).numpy()]
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=buffer,
                                   vocab_size=120, hard_vocab_limit=False, minloglevel=2)

    def make_tokenizer():
        return TextTokenizer(kind="sentencepiece", sequence_length=TEXT_LENGTH,
                             sentencepiece_model=buffer.getvalue(), name="text_tokenizer")

    model = tiny_trimodal(make_tokenizer().vocabulary_size, text_tower="cnn", train_steps=0)
    # Made after the model: tf.random.set_seed (in tiny_trimodal) clears the eager kernel
    # cache, which holds tensorflow-text's kernel-owned SentencePiece resource.
    tokenizer = make_tokenizer()
    card = export_model(model, tmp_path / "model", preprocessor={"text": tokenizer},
                        formats=("saved_model",))
    assert card["requires"] == ["tensorflow_text"]
    config = card["inputs"][1]["preprocessing"]["config"]
    assert "sentencepiece_model" not in config and len(config["sentencepiece_model_sha256"]) == 64
    served = served_predictions(tmp_path / "model", num_examples=100)
    np.testing.assert_allclose(served, pipeline_predictions(model, tokenizer, 100), atol=1e-5,
                               rtol=0)
    assert verify(tmp_path / "model")["parity"]["saved_model"] <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("text_tower,fusion,batch_size", [
    ("cnn", "attention", None),
    ("lstm", "gated", 1),
    ("transformer", "cross_attention", None),
])
def test_litert_converts_each_text_tower_with_builtins(tmp_path, text_tower, fusion, batch_size):
    tokenizer = adapted_tokenizer("vectorization", num_examples=100)
    model = tiny_trimodal(tokenizer.vocabulary_size, text_tower=text_tower, fusion=fusion,
                          train_steps=1)
    card = export_model(model, tmp_path / "model", preprocessor={"text": tokenizer},
                        formats=("litert",))
    info = card["formats"]["litert"]
    assert info["ops"] == "builtins" and info["batch_size"] == batch_size
    assert info["bytes"] == (tmp_path / "model" / "model.tflite").stat().st_size
    print(f"{text_tower}/{fusion}: {info['bytes']:,} bytes, batch {batch_size or 'any'}")
    features, _ = embedded.load_numpy("test", num_examples=50)
    x = {"image": features["image"], "text": tokenizer(list(features["text"])).numpy(),
         "audio": features["audio"], MODALITY_MASK: np.ones((50, 3), "float32")}
    x[MODALITY_MASK][::3, 1] = 0.0  # some examples without text
    out = litert.run(litert.interpreter(path=tmp_path / "model" / "model.tflite"), x, batch_size)
    np.testing.assert_allclose(out["probabilities"], model.predict(x, verbose=0), atol=1e-5,
                               rtol=0)
