"""Text preprocessing: strings -> int32 token ids `(batch, sequence_length)`.

`TextTokenizer` is one Keras layer over three tokenizers: a word vocabulary
(`keras.layers.TextVectorization`), WordPiece (`tensorflow_text.FastWordpieceTokenizer`)
and SentencePiece (`tensorflow_text.SentencepieceTokenizer`). Whatever the kind, id 0
is padding and id 1 the unknown token, and the output is right-padded with 0 or
truncated to `sequence_length`. The vocabulary (or the SentencePiece model) is part of
the layer's config, so `.keras` files and `from_config` reproduce the ids.

Every kind first applies the same `standardize_text`
(`mmzoo.preprocessing.vocabulary`, where the full rule and its sources are): lower-case;
delete punctuation and symbols (`+ $ © ™`...) but keep emoji; make each character of
Chinese, Japanese, Thai, Lao, Khmer and Myanmar, and each emoji, a token of its own
(the scripts written without spaces between words would otherwise give one token per
sentence, as BERT's BasicTokenizer does for CJK); collapse whitespace. A text left empty
(`"+++"`) gives padding only: `empty_after_standardization(texts)` finds such texts.

Serving: a SavedModel whose graph holds the `wordpiece` or `sentencepiece` tokenizer
uses `tensorflow_text` ops, so run `import tensorflow_text` before
`tf.saved_model.load(...)`, or loading fails with an unknown-op error.

>>> from mmzoo.preprocessing.text import TextTokenizer
>>> tokenizer = TextTokenizer(sequence_length=5, vocabulary=["the", "cat", "sat"])
>>> tokenizer(["The cat sat!", "A dog"]).numpy().tolist()
[[2, 3, 4, 0, 0], [1, 1, 0, 0, 0]]
>>> chinese = TextTokenizer(sequence_length=6)
>>> chinese.adapt(["我爱北京", "北京很大", "👍 好"])
>>> [chinese.get_vocabulary()[i] for i in chinese("我很好!👍").numpy()]
['我', '很', '好', '👍', '[PAD]', '[PAD]']
>>> empty_after_standardization(["+++", "👎"])
[True, False]
"""

import base64
import os

import keras
import tensorflow as tf

from mmzoo.preprocessing.sentencepiece_model import sentencepiece_pieces
from mmzoo.preprocessing.vocabulary import (
    PAD_TOKEN,
    UNK_TOKEN,
    empty_after_standardization,
    learn_wordpiece_vocabulary,
    read_vocabulary,
    standardize_text,
    string_dataset,
    with_special_tokens,
)

TOKENIZER_KINDS = ("vectorization", "wordpiece", "sentencepiece")

# Re-exported: `standardize_text`, `empty_after_standardization` and
# `learn_wordpiece_vocabulary` are imported from here.
__all__ = [
    "PAD_TOKEN",
    "TOKENIZER_KINDS",
    "UNK_TOKEN",
    "TextTokenizer",
    "empty_after_standardization",
    "learn_wordpiece_vocabulary",
    "standardize_text",
]


@keras.saving.register_keras_serializable(package="mmzoo")
class TextTokenizer(keras.layers.Layer):
    """Turns strings into int32 token ids, 0 for padding and 1 for unknown tokens.

    Keep this layer in the `tf.data` pipeline for training (string lookups turn XLA
    off for a whole model) and in the serving function for export.

    Args:
        kind: `"vectorization"` (whole words, `keras.layers.TextVectorization`),
            `"wordpiece"` (`tensorflow_text.FastWordpieceTokenizer`) or
            `"sentencepiece"` (`tensorflow_text.SentencepieceTokenizer`).
        sequence_length: length of the output; longer texts are truncated, shorter
            ones right-padded with 0.
        vocabulary: for `"vectorization"` and `"wordpiece"`: a list of tokens or the
            path of a vocabulary file (one token a line). "[PAD]" and "[UNK]" (and
            "") are placed at ids 0 and 1 whether the list holds them or not, the
            other tokens follow in order. `None` means: call `adapt(...)` first.
        max_tokens: the vocabulary size for `adapt` ("[PAD]" and "[UNK]" included):
            a hard limit for `"vectorization"` (`None`: no limit), the target of
            `learn_wordpiece_vocabulary` for `"wordpiece"` (`None`: 8000).
        sentencepiece_model: for `"sentencepiece"`: the serialized model (bytes) or
            the path of a `.model` file. Its unknown piece becomes id 1, the others
            follow in the model's order from id 2.
        standardize: apply `standardize_text` before tokenizing (the same for every
            kind): lower-case, delete punctuation and symbols, keep emoji, and make
            each Chinese, Japanese, Thai, Lao, Khmer or Myanmar character and each
            emoji a token. Train a SentencePiece model on standardized text.

    Input shape:
        `(batch,)` strings (`(batch, 1)` is accepted too), or one scalar string.

    Output shape:
        `(batch, sequence_length)` int32, or `(sequence_length,)` for a scalar.

    Example:

    >>> tokenizer = TextTokenizer(kind="vectorization", sequence_length=4)
    >>> tokenizer.adapt(["a red square", "a blue circle"])
    >>> tokenizer("A red circle!").numpy().tolist()
    [2, 4, 5, 0]
    """

    def __init__(
        self,
        kind="vectorization",
        sequence_length=64,
        vocabulary=None,
        max_tokens=None,
        sentencepiece_model=None,
        standardize=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in TOKENIZER_KINDS:
            raise ValueError(
                f"Unknown tokenizer `kind`; valid kinds: {', '.join(TOKENIZER_KINDS)}. "
                f"Received: kind={kind!r}"
            )
        if (
            isinstance(sequence_length, bool)
            or not isinstance(sequence_length, int)
            or sequence_length < 1
        ):
            raise ValueError(
                "`sequence_length` must be a positive int. "
                f"Received: sequence_length={sequence_length!r}"
            )
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 3
        ):
            raise ValueError(
                f"`max_tokens` must be None or an int >= 3. Received: max_tokens={max_tokens!r}"
            )
        if not isinstance(standardize, bool):
            raise ValueError(f"`standardize` must be a bool. Received: standardize={standardize!r}")
        if kind == "sentencepiece":
            if sentencepiece_model is None:
                raise ValueError(
                    "kind='sentencepiece' needs `sentencepiece_model` (bytes or a file path). "
                    "Received: sentencepiece_model=None"
                )
            if vocabulary is not None:
                raise ValueError(
                    "kind='sentencepiece' takes its vocabulary from the model; leave "
                    f"`vocabulary` unset. Received: vocabulary of type {type(vocabulary).__name__}"
                )
        elif sentencepiece_model is not None:
            raise ValueError(
                f"`sentencepiece_model` is only for kind='sentencepiece'. Received: kind={kind!r} "
                "and a sentencepiece_model"
            )
        self.kind = kind
        self.sequence_length = sequence_length
        self.max_tokens = max_tokens
        self.standardize = standardize
        self.supports_jit = False
        # String inputs (lists, numpy arrays of bytes) are converted in `call`.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self._vocabulary = None  # id-ordered tokens once known
        self._sentencepiece_model = None
        self._tokenizer = None  # the tensorflow_text tokenizer (wordpiece, sentencepiece)
        self._unknown_piece = None
        if kind == "vectorization":
            self._vectorizer = keras.layers.TextVectorization(
                max_tokens=max_tokens,
                standardize=None,
                split="whitespace",
                output_mode="int",
                output_sequence_length=sequence_length,
                name="vectorization",
            )
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        if kind == "sentencepiece":
            self._set_sentencepiece_model(sentencepiece_model)

    # Vocabulary ---------------------------------------------------------------

    def set_vocabulary(self, vocabulary):
        """Sets the vocabulary from a list of tokens or the path of a vocabulary file."""
        if self.kind == "sentencepiece":
            raise ValueError(
                "kind='sentencepiece' takes its vocabulary from its model. "
                f"Received: vocabulary of type {type(vocabulary).__name__}"
            )
        tokens = with_special_tokens(read_vocabulary(vocabulary))
        if self.kind == "vectorization":
            self._vectorizer.set_vocabulary(tokens[2:])
        else:
            import tensorflow_text as tf_text

            self._tokenizer = tf_text.FastWordpieceTokenizer(
                vocab=tokens,
                suffix_indicator="##",
                token_out_type=tf.int32,
                unknown_token=UNK_TOKEN,
                no_pretokenization=False,
            )
        self._vocabulary = tokens

    def adapt(self, data, batch_size=256, steps=None):
        """Learns the vocabulary from training texts (`"vectorization"`, `"wordpiece"`).

        Args:
            data: list/array of strings or a `tf.data.Dataset` of strings (batched
                or not), from the training split only.
            batch_size: batch size used for lists and unbatched datasets.
            steps: optional number of batches to read (`"vectorization"` only).

        Raises:
            ValueError: `kind` is `"sentencepiece"`, or `data` is one string or not
                strings.
        """
        if self.kind == "sentencepiece":
            raise ValueError(
                "kind='sentencepiece' cannot adapt: train a SentencePiece model on the "
                "standardized training texts and pass it as `sentencepiece_model`. "
                f"Received: kind={self.kind!r}"
            )
        dataset = string_dataset(data, "data", batch_size)
        if self.kind == "wordpiece":
            texts = dataset.take(steps) if steps is not None else dataset
            self.set_vocabulary(
                learn_wordpiece_vocabulary(
                    texts, self.max_tokens or 8000, standardize=self.standardize
                )
            )
            return
        if self.standardize:
            dataset = dataset.map(standardize_text)
        self._vectorizer.adapt(dataset, steps=steps)
        vocabulary = self._vectorizer.get_vocabulary()
        self._vocabulary = [PAD_TOKEN] + [str(token) for token in vocabulary[1:]]

    def get_vocabulary(self):
        """The tokens in id order: "[PAD]" at 0, "[UNK]" at 1 (a copy)."""
        self._check_ready()
        return list(self._vocabulary)

    @property
    def vocabulary_size(self):
        """Number of ids, "[PAD]" and "[UNK]" included (the `input_dim` of an Embedding)."""
        self._check_ready()
        return len(self._vocabulary)

    # Layer --------------------------------------------------------------------

    def build(self, input_shape=None):
        # No weights: the vocabulary lives in lookup tables / tokenizer models.
        if self.kind == "vectorization" and not self._vectorizer.built:
            self._vectorizer.build(input_shape)
        self.built = True

    def call(self, inputs):
        self._check_ready()
        texts = tf.convert_to_tensor(inputs, dtype=tf.string)
        scalar = texts.shape.rank == 0
        if scalar:
            texts = tf.reshape(texts, [1])
        elif texts.shape.rank == 2 and texts.shape[-1] == 1:
            texts = tf.squeeze(texts, axis=-1)
        elif texts.shape.rank != 1:
            raise ValueError(
                "TextTokenizer takes strings of shape (batch,), (batch, 1) or (). "
                f"Received: inputs with shape {texts.shape}"
            )
        if self.standardize:
            texts = standardize_text(texts)
        if self.kind == "vectorization":
            ids = tf.cast(self._vectorizer(texts), tf.int32)
        else:
            pieces = self._tokenizer.tokenize(texts)
            if self.kind == "sentencepiece":
                pieces = tf.ragged.map_flat_values(self._remap_sentencepiece, pieces)
            ids = pieces.to_tensor(default_value=0, shape=[None, self.sequence_length])
            ids = tf.cast(ids, tf.int32)
        return ids[0] if scalar else ids

    def compute_output_shape(self, input_shape):
        if len(input_shape) == 0:
            return (self.sequence_length,)
        return (input_shape[0], self.sequence_length)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kind": self.kind,
                "sequence_length": self.sequence_length,
                "max_tokens": self.max_tokens,
                "standardize": self.standardize,
                "vocabulary": None,
                "sentencepiece_model": None,
            }
        )
        if self.kind == "sentencepiece":
            config["sentencepiece_model"] = base64.b64encode(self._sentencepiece_model).decode(
                "ascii"
            )
        elif self._vocabulary is not None:
            config["vocabulary"] = list(self._vocabulary)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        model = config.get("sentencepiece_model")
        if isinstance(model, str):  # get_config stores the model as base64 text
            config["sentencepiece_model"] = base64.b64decode(model)
        return cls(**config)

    # Internals ----------------------------------------------------------------

    def _check_ready(self):
        if self._vocabulary is None:
            raise ValueError(
                f"This TextTokenizer(kind={self.kind!r}) has no vocabulary yet: call "
                "`adapt(training_texts)` first, or pass `vocabulary=` (a list or a file). "
                "Received: vocabulary=None"
            )

    def _set_sentencepiece_model(self, model):
        import tensorflow_text as tf_text

        if isinstance(model, (str, os.PathLike)):
            if not os.path.isfile(model):
                raise ValueError(
                    f"SentencePiece model file not found: {os.fspath(model)!r}. "
                    f"Received: sentencepiece_model={os.fspath(model)!r}"
                )
            with open(model, "rb") as f:
                model = f.read()
        if not isinstance(model, (bytes, bytearray)):
            raise ValueError(
                "`sentencepiece_model` must be the model's bytes or a file path. "
                f"Received: sentencepiece_model of type {type(model).__name__}"
            )
        model = bytes(model)
        pieces, unknown = sentencepiece_pieces(model)
        self._sentencepiece_model = model
        self._unknown_piece = unknown
        self._tokenizer = tf_text.SentencepieceTokenizer(model=model, out_type=tf.int32)
        others = pieces[:unknown] + pieces[unknown + 1 :]
        self._vocabulary = [PAD_TOKEN, UNK_TOKEN] + others

    def _remap_sentencepiece(self, ids):
        # SentencePiece id i -> 1 for its unknown piece, else i + 2 below it and i + 1
        # above it: 0 stays free for padding and no id is left unused.
        unknown = self._unknown_piece
        return tf.where(ids == unknown, 1, tf.where(ids < unknown, ids + 2, ids + 1))
