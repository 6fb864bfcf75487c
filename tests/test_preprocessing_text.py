"""Text tokenizers: vectorization, WordPiece and SentencePiece behind one layer."""

import base64
import io

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmzoo.preprocessing.text import (
    TextTokenizer,
    learn_wordpiece_vocabulary,
    standardize_text,
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs!",
    "How vexingly quick daft zebras jump;",
    "Sphinx of black quartz, judge my vow.",
    "A red square sits next to a blue circle.",
    "Seven, eight, nine: the digits are spoken aloud.",
] * 4
PROBE = [
    "The QUICK brown foxes jumped!!",
    "zebras & quartz: 42",
    "",
    "dog " * 30,
    "I love 北京 🍜!",
]


@pytest.fixture(scope="module")
def sentencepiece_model():
    spm = pytest.importorskip(
        "sentencepiece",
        reason="the `sentencepiece` package (test-only dependency) trains the tiny test model",
    )
    model = io.BytesIO()
    sentences = [text.decode() for text in standardize_text(tf.constant(CORPUS)).numpy()]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=60,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def word_tokenizers():
    vectorization = TextTokenizer(kind="vectorization", sequence_length=8, name="vec")
    vectorization.adapt(CORPUS)
    wordpiece = TextTokenizer(kind="wordpiece", sequence_length=8, max_tokens=80, name="wp")
    wordpiece.adapt(tf.data.Dataset.from_tensor_slices(CORPUS))
    return {"vectorization": vectorization, "wordpiece": wordpiece}


@pytest.fixture(params=["vectorization", "wordpiece", "sentencepiece"])
def tokenizer(request, word_tokenizers):
    """Each kind, with sequence_length 8 (sentencepiece skips without its package)."""
    if request.param == "sentencepiece":
        model = request.getfixturevalue("sentencepiece_model")
        return TextTokenizer(
            kind="sentencepiece", sequence_length=8, sentencepiece_model=model, name="sp"
        )
    return word_tokenizers[request.param]


def test_standardize_text():
    out = standardize_text(
        tf.constant(["  Hello,   WORLD!! ", "Ça—va? «Oui»", "a+b=c $5", "I love 北京 🍜!", "+++"])
    )
    assert [t.decode() for t in out.numpy()] == [
        "hello world",
        "çava oui",
        "abc 5",
        "i love 北 京 🍜",  # unspaced scripts and emoji: a token per character
        "",
    ]


def test_vectorization_with_vocabulary_list():
    tokenizer = TextTokenizer(sequence_length=5, vocabulary=["the", "cat", "sat"])
    assert tokenizer.get_vocabulary() == ["[PAD]", "[UNK]", "the", "cat", "sat"]
    assert tokenizer.vocabulary_size == 5
    ids = tokenizer(["The cat, sat!", "A dog", "the the the the the the cat"])
    assert ids.dtype == tf.int32
    assert ids.numpy().tolist() == [[2, 3, 4, 0, 0], [1, 1, 0, 0, 0], [2, 2, 2, 2, 2]]
    assert tokenizer("cat").numpy().tolist() == [3, 0, 0, 0, 0]  # scalar -> (sequence_length,)
    assert tokenizer(np.array([[b"sat"], [b"cat"]])).numpy().tolist() == [
        [4, 0, 0, 0, 0],
        [3, 0, 0, 0, 0],
    ]
    # Specials already in the list keep ids 0 and 1.
    same = TextTokenizer(sequence_length=5, vocabulary=["", "[UNK]", "the", "cat", "sat"])
    assert same.get_vocabulary() == tokenizer.get_vocabulary()


def test_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\nthe\ncat\n\nsat\n", encoding="utf-8")
    for kind in ("vectorization", "wordpiece"):
        tokenizer = TextTokenizer(kind=kind, sequence_length=4, vocabulary=str(path))
        assert tokenizer.get_vocabulary() == ["[PAD]", "[UNK]", "the", "cat", "sat"]
        assert tokenizer(["the cat sat", "dog"]).numpy().tolist() == [[2, 3, 4, 0], [1, 0, 0, 0]]
    missing = tmp_path / "nope.txt"
    with pytest.raises(ValueError, match="nope.txt"):
        TextTokenizer(kind="wordpiece", vocabulary=str(missing))


def test_adapted_vectorization(word_tokenizers):
    tokenizer = word_tokenizers["vectorization"]
    vocabulary = tokenizer.get_vocabulary()
    assert (
        vocabulary[:2] == ["[PAD]", "[UNK]"]
        and "quick" in vocabulary
        and "quick," not in vocabulary
    )
    assert tokenizer.vocabulary_size == len(vocabulary)
    ids = tokenizer(["Quick, quick!", "unseen words here"]).numpy()
    quick = vocabulary.index("quick")
    assert ids[0].tolist() == [quick, quick, 0, 0, 0, 0, 0, 0]
    assert ids[1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    limited = TextTokenizer(sequence_length=4, max_tokens=10)
    limited.adapt(tf.data.Dataset.from_tensor_slices(CORPUS).batch(5))
    assert limited.vocabulary_size == 10


def test_wordpiece_vocabulary_and_ids(word_tokenizers):
    vocabulary = learn_wordpiece_vocabulary(CORPUS, vocab_size=80)
    # vocab_size is a target: every character and its "##" form are always kept.
    assert vocabulary[:2] == ["[PAD]", "[UNK]"] and len(set(vocabulary)) == len(vocabulary)
    assert any(token.startswith("##") for token in vocabulary)
    assert word_tokenizers["wordpiece"].get_vocabulary() == vocabulary  # adapt == learn
    tokenizer = TextTokenizer(kind="wordpiece", sequence_length=10, vocabulary=vocabulary)
    ids = tokenizer(["the quick dog", "€"]).numpy()
    the, quick, dog = (vocabulary.index(w) for w in ("the", "quick", "dog"))
    assert ids[0].tolist()[:3] == [the, quick, dog] and ids[0].tolist()[3:] == [0] * 7
    assert ids[1].tolist() == [0] * 10  # a symbol only: standardized away
    unknown = tokenizer(["ü"]).numpy()[0]
    assert unknown[0] == 1 and unknown[1:].tolist() == [0] * 9
    assert tokenizer(["zebras"]).numpy()[0][0] > 1  # pieces of a word, not [UNK]


def test_sentencepiece_ids_follow_the_model(sentencepiece_model):
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_proto=sentencepiece_model)
    tokenizer = TextTokenizer(
        kind="sentencepiece", sequence_length=8, sentencepiece_model=sentencepiece_model
    )
    assert tokenizer.vocabulary_size == processor.get_piece_size() + 1
    vocabulary = tokenizer.get_vocabulary()
    assert vocabulary[:2] == ["[PAD]", "[UNK]"]
    long = TextTokenizer(
        kind="sentencepiece", sequence_length=64, sentencepiece_model=sentencepiece_model
    )
    for text in PROBE:
        standard = standardize_text(tf.constant(text)).numpy().decode()
        expected = [1 if i == processor.unk_id() else i + 1 for i in processor.encode(standard)]
        assert processor.unk_id() == 0  # the default layout: unknown first
        got = long(text).numpy().tolist()
        assert got[: len(expected)] == expected[:64] and set(got[len(expected) :]) <= {0}
        assert [vocabulary[i] for i in expected] == [
            "[UNK]" if i == processor.unk_id() else processor.id_to_piece(i)
            for i in processor.encode(standard)
        ]


def test_sentencepiece_from_file_and_bad_model(tmp_path, sentencepiece_model):
    path = tmp_path / "tiny.model"
    path.write_bytes(sentencepiece_model)
    from_file = TextTokenizer(
        kind="sentencepiece", sequence_length=8, sentencepiece_model=str(path)
    )
    from_bytes = TextTokenizer(
        kind="sentencepiece", sequence_length=8, sentencepiece_model=sentencepiece_model
    )
    np.testing.assert_array_equal(from_file(PROBE), from_bytes(PROBE))
    with pytest.raises(ValueError, match="missing.model"):
        TextTokenizer(kind="sentencepiece", sentencepiece_model=str(tmp_path / "missing.model"))
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        TextTokenizer(kind="sentencepiece", sentencepiece_model=b"\x0a\xff\xff")


def test_shapes_padding_truncation_and_standardization(tokenizer):
    ids = tokenizer(PROBE).numpy()
    assert ids.shape == (5, 8) and ids.dtype == np.int32
    assert ids[2].tolist() == [0] * 8  # empty text: all padding
    assert np.all(ids[3] > 0)  # long text: truncated, no padding
    assert np.count_nonzero(ids[4]) >= 5  # "i love 北 京 🍜" (unknown here, but 5 tokens)
    for row in ids:  # right-padded: no token after the first 0
        zeros = np.flatnonzero(row == 0)
        assert zeros.size == 0 or np.all(row[zeros[0] :] == 0)
    np.testing.assert_array_equal(tokenizer(["Hello, WORLD!"]), tokenizer(["hello world"]))
    np.testing.assert_array_equal(tokenizer(PROBE[0]), ids[0])  # scalar
    np.testing.assert_array_equal(tokenizer(tf.reshape(tf.constant(PROBE), (-1, 1))), ids)


def test_config_round_trip(tokenizer):
    kind = tokenizer.kind
    config = tokenizer.get_config()
    assert config["kind"] == kind and config["sequence_length"] == 8
    if kind == "sentencepiece":
        assert isinstance(config["sentencepiece_model"], str) and config["vocabulary"] is None
        base64.b64decode(config["sentencepiece_model"])
    else:
        assert config["vocabulary"] == tokenizer.get_vocabulary()
    restored = TextTokenizer.from_config(config)
    assert restored.get_config() == config
    np.testing.assert_array_equal(restored(PROBE), tokenizer(PROBE))


def test_keras_file_and_saved_model(tmp_path, tokenizer):
    inputs = keras.Input(shape=(), dtype="string", name="text")
    ids = tokenizer(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(
        keras.layers.Embedding(tokenizer.vocabulary_size, 3)(ids)
    )
    model = keras.Model(inputs, {"ids": ids, "pooled": pooled})
    assert tuple(ids.shape) == (None, 8) and ids.dtype == "int32"
    texts = tf.constant(PROBE)
    expected = model(texts)
    model.save(tmp_path / "text.keras")
    loaded = keras.saving.load_model(tmp_path / "text.keras", safe_mode=True)
    got = loaded(texts)
    np.testing.assert_array_equal(got["ids"], expected["ids"])
    np.testing.assert_allclose(got["pooled"], expected["pooled"], rtol=1e-6)

    # SavedModel: tensorflow_text ops load once `import tensorflow_text` has run.
    import tensorflow_text  # noqa: F401

    module = tf.Module()
    module.tokenizer = tokenizer
    module.serve = tf.function(
        tokenizer.__call__, input_signature=[tf.TensorSpec([None], tf.string)]
    )
    tf.saved_model.save(module, str(tmp_path / "saved"))
    np.testing.assert_array_equal(
        tf.saved_model.load(str(tmp_path / "saved")).serve(texts), expected["ids"]
    )


def test_in_dataset_map(tokenizer):
    ds = tf.data.Dataset.from_tensor_slices(PROBE).map(tokenizer)
    assert ds.element_spec.shape == (8,) and ds.element_spec.dtype == tf.int32
    np.testing.assert_array_equal(np.stack(list(ds.as_numpy_iterator())), tokenizer(PROBE))
    batched = tf.data.Dataset.from_tensor_slices(PROBE).batch(2).map(tokenizer)
    np.testing.assert_array_equal(
        np.concatenate(list(batched.as_numpy_iterator())), tokenizer(PROBE)
    )


def test_errors():
    with pytest.raises(
        ValueError, match=r"vectorization, wordpiece, sentencepiece.*Received: kind='bpe'"
    ):
        TextTokenizer(kind="bpe")
    for kind in ("vectorization", "wordpiece"):
        unadapted = TextTokenizer(kind=kind)
        with pytest.raises(ValueError, match="adapt"):
            unadapted(["some text"])
        with pytest.raises(ValueError, match="adapt"):
            _ = unadapted.vocabulary_size
    for bad in (0, -1, 2.0, True, None):
        with pytest.raises(ValueError, match="sequence_length"):
            TextTokenizer(sequence_length=bad)
    for bad in (0, 2, 1.5, True):
        with pytest.raises(ValueError, match="max_tokens"):
            TextTokenizer(max_tokens=bad)
    with pytest.raises(ValueError, match="standardize"):
        TextTokenizer(standardize="yes")
    with pytest.raises(ValueError, match="sentencepiece_model"):
        TextTokenizer(kind="sentencepiece")
    with pytest.raises(ValueError, match="sentencepiece_model"):
        TextTokenizer(kind="wordpiece", sentencepiece_model=b"x")
    with pytest.raises(ValueError, match="sentencepiece_model"):
        TextTokenizer(kind="sentencepiece", sentencepiece_model=123)
    with pytest.raises(ValueError, match="vocabulary"):
        TextTokenizer(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match="vocabulary"):
        TextTokenizer(vocabulary=42)
    with pytest.raises(ValueError, match="inputs"):
        TextTokenizer(vocabulary=["a"])(tf.constant([["a", "b"]]))
    with pytest.raises(ValueError, match="data"):
        TextTokenizer().adapt("one string")
    with pytest.raises(ValueError, match="data"):
        TextTokenizer().adapt(tf.data.Dataset.range(3))
    with pytest.raises(ValueError, match="vocab_size"):
        learn_wordpiece_vocabulary(CORPUS, vocab_size=2)
    with pytest.raises(ValueError, match="texts"):
        learn_wordpiece_vocabulary([], vocab_size=50)
