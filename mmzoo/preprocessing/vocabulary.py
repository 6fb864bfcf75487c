"""Text standardization and vocabularies shared by every tokenizer kind.

`standardize_text` is the one standardization (lower-case, punctuation and symbols
removed, whitespace collapsed) that `mmzoo.preprocessing.text.TextTokenizer` applies
and that vocabularies are learned on. Id 0 is always "[PAD]" and id 1 "[UNK]".

>>> import tensorflow as tf
>>> from mmzoo.preprocessing.vocabulary import standardize_text, with_special_tokens
>>> standardize_text(tf.constant(["  Hello,   WORLD!! "])).numpy().tolist()
[b'hello world']
>>> with_special_tokens(["cat", "[UNK]", "dog"])
['[PAD]', '[UNK]', 'cat', 'dog']
"""

import os

import numpy as np
import tensorflow as tf

# Plain graph code (tf.cond / tf.while_loop, no Python control flow on tensors): keeps
# AutoGraph from rewriting it, which is slow and changes nothing, inside Dataset.map.
graph_code = tf.autograph.experimental.do_not_convert

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
_SPECIAL_TOKENS = ("", PAD_TOKEN, UNK_TOKEN)
_STRIP = r"[\p{P}\p{S}]"  # Unicode punctuation and symbols (all of ASCII's included)


@graph_code
def standardize_text(texts):
    """Lower-cases (Unicode-aware), removes punctuation and symbols, collapses spaces.

    The same standardization for every tokenizer kind and for vocabulary learning.

    Args:
        texts: `tf.string` tensor of any shape.

    Returns:
        `tf.string` tensor of the same shape.

    >>> import tensorflow as tf
    >>> standardize_text(tf.constant("Ça—va? «Oui»")).numpy().decode()
    'çava oui'
    """
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _STRIP, "")
    texts = tf.strings.regex_replace(texts, r"\s+", " ")
    return tf.strings.strip(texts)


def learn_wordpiece_vocabulary(texts, vocab_size, standardize=True, learn_params=None):
    """Learns a WordPiece vocabulary from training texts.

    Uses `tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset` on the
    standardized texts (so it splits words on whitespace and punctuation as
    `TextTokenizer(kind="wordpiece")` does).

    Args:
        texts: list/array of strings or a `tf.data.Dataset` of strings (batched or
            not): the training split only.
        vocab_size: target vocabulary size, "[PAD]" and "[UNK]" included. The
            learner always keeps every character of the corpus and its "##" suffix
            form, so a tiny corpus can give a few more tokens than this.
        standardize: apply `standardize_text` first (as the tokenizer does).
        learn_params: optional dict of extra arguments for the learner
            (`wordpiece_tokenizer_learner_lib.learn`); `lower_thresh` defaults to 1
            here so small corpora still fill the vocabulary.

    Returns:
        list of tokens with "[PAD]" at index 0 and "[UNK]" at index 1.

    Raises:
        ValueError: `vocab_size` is not an int >= 3, or `texts` is not a non-empty
            list of strings or a dataset of strings.

    >>> vocabulary = learn_wordpiece_vocabulary(["a cat", "a hat"], vocab_size=20)
    >>> vocabulary[:2], "cat" in vocabulary
    (['[PAD]', '[UNK]'], True)
    """
    from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 3:
        raise ValueError(f"`vocab_size` must be an int >= 3. Received: vocab_size={vocab_size!r}")
    dataset = string_dataset(texts, "texts")
    if standardize:
        dataset = dataset.map(standardize_text)
    params = {"lower_thresh": 1, **(learn_params or {})}
    vocabulary = bert_vocab_from_dataset.bert_vocab_from_dataset(
        dataset,
        vocab_size=vocab_size,
        reserved_tokens=[PAD_TOKEN, UNK_TOKEN],
        bert_tokenizer_params={"lower_case": False},
        learn_params=params,
    )
    return with_special_tokens(vocabulary)


def with_special_tokens(tokens):
    """`["[PAD]", "[UNK]", *tokens]` without the special tokens and "" among `tokens`.

    Raises:
        ValueError: a token occurs twice.
    """
    tokens = [t for t in tokens if t not in _SPECIAL_TOKENS]
    seen = set()
    duplicates = sorted({t for t in tokens if t in seen or seen.add(t)})
    if duplicates:
        raise ValueError(
            f"`vocabulary` holds duplicate tokens: {duplicates[:10]}. "
            f"Received: vocabulary with {len(tokens)} tokens"
        )
    return [PAD_TOKEN, UNK_TOKEN] + tokens


def read_vocabulary(vocabulary):
    """The tokens of a list/array of strings (or bytes) or of a file, one token a line.

    Raises:
        ValueError: the file does not exist, or `vocabulary` is neither.
    """
    if isinstance(vocabulary, (str, os.PathLike)):
        path = os.fspath(vocabulary)
        if not os.path.isfile(path):
            raise ValueError(f"Vocabulary file not found: {path!r}. Received: vocabulary={path!r}")
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f if line.rstrip("\r\n")]
    if isinstance(vocabulary, np.ndarray):
        vocabulary = vocabulary.tolist()
    if not isinstance(vocabulary, (list, tuple)) or not all(
        isinstance(t, (str, bytes)) for t in vocabulary
    ):
        raise ValueError(
            "`vocabulary` must be a list of strings or a vocabulary file path. "
            f"Received: vocabulary of type {type(vocabulary).__name__}"
        )
    return [t.decode("utf-8") if isinstance(t, bytes) else t for t in vocabulary]


def string_dataset(data, arg, batch_size=256):
    """A dataset of rank-1 string batches from a list/array or a dataset of strings."""
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string:
            raise ValueError(
                f"`{arg}` must be a dataset of strings. Received: {arg} with element_spec={spec}"
            )
        if spec.shape.rank == 0:
            return data.batch(batch_size)
        return data.map(lambda x: tf.reshape(x, [-1]))
    if isinstance(data, (str, bytes)):
        raise ValueError(
            f"`{arg}` must be a list of strings, not one string. Received: {arg}={data!r:.60}"
        )
    if isinstance(data, np.ndarray):
        data = data.reshape(-1).tolist()
    if (
        not isinstance(data, (list, tuple))
        or not data
        or not all(isinstance(t, (str, bytes)) for t in data)
    ):
        raise ValueError(
            f"`{arg}` must be a non-empty list of strings or a tf.data.Dataset of strings. "
            f"Received: {arg} of type {type(data).__name__}"
        )
    return tf.data.Dataset.from_tensor_slices(tf.constant(list(data), tf.string)).batch(batch_size)
