"""`PresetTokenizer`: strings -> a keras-hub preset's token ids, as keras-hub packs them.

The text entry of a `Preprocessor` for `text/pretrained` towers. It wraps the preset's
own `keras_hub.models.TextClassifierPreprocessor` (its WordPiece, SentencePiece or
byte-pair tokenizer and its start/end packer), so the ids are keras-hub's token for
token: `[CLS] tokens [SEP]` (or `<s> ... </s>`), truncated and right-padded with the
tokenizer's padding id to `sequence_length`. keras-hub's tokenizers run on
tensorflow-text, so the layer runs in `tf.data` pipelines and inside exported
SavedModels (`import tensorflow_text` before loading one).

The vocabulary files travel in the layer's config (base64), so a `.keras` file, a
run's `preprocessor.json` and an export reproduce the ids without the preset.

>>> import keras_hub
>>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "cat"]
>>> packer = keras_hub.models.BertTextClassifierPreprocessor(
...     keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True), sequence_length=6)
>>> tokenizer = PresetTokenizer(packer)
>>> tokenizer(["A red cat!", "red"]).numpy().tolist()
[[2, 5, 6, 7, 1, 3], [2, 6, 3, 0, 0, 0]]
>>> PresetTokenizer.from_config(tokenizer.get_config())(["cat"]).numpy().tolist()
[[2, 7, 3, 0, 0, 0]]
"""

import base64
import pathlib
import tempfile

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="mmzoo")
class PresetTokenizer(keras.layers.Layer):
    """UTF-8 strings -> int32 token ids `(batch, sequence_length)` of a keras-hub preset.

    Args:
        preprocessor: a `keras_hub.models.TextClassifierPreprocessor` (tokenizer and
            packer), or its serialized dict.
        assets: the tokenizer's vocabulary files, `{file name: base64 text}`, for a
            serialized `preprocessor` (`get_config` writes them).
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `(batch,)` strings.

    Output shape:
        `(batch, sequence_length)` int32 ids, padded with `padding_id`.

    Raises:
        ValueError: `preprocessor` is not a keras-hub text classifier preprocessor.

    Source: keras-hub (`TextClassifierPreprocessor`, `StartEndPacker`).
    See the module's example.
    """

    #: Like `TextTokenizer.kind`: not a learned vocabulary (tensorflow-text ops in graphs).
    kind = "preset"

    def __init__(self, preprocessor, assets=None, **kwargs):
        kwargs.setdefault("name", "text_tokenizer")
        super().__init__(**kwargs)
        import keras_hub

        if isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
            if assets:
                _load_assets(preprocessor.tokenizer, assets)
        if not isinstance(preprocessor, keras_hub.models.TextClassifierPreprocessor):
            raise ValueError(
                "`preprocessor` must be a keras_hub.models.TextClassifierPreprocessor. "
                f"Received: preprocessor of type {type(preprocessor).__name__}"
            )
        self.preprocessor = preprocessor
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.supports_jit = False

    @classmethod
    def from_preset(cls, preset, sequence_length, name=None):
        """The tokenizer of keras-hub `preset` (name, handle or local folder).

        Raises:
            mmzoo.hub.PresetUnavailableError: the preset cannot be loaded now.
        """
        from mmzoo import hub

        preprocessor = hub.load("text_preprocessor", preset, sequence_length=int(sequence_length))
        return cls(preprocessor, name=name)

    @property
    def tokenizer(self):
        """The keras-hub tokenizer."""
        return self.preprocessor.tokenizer

    @property
    def sequence_length(self):
        return int(self.preprocessor.sequence_length)

    @property
    def vocabulary_size(self):
        return int(self.tokenizer.vocabulary_size())

    @property
    def padding_id(self):
        """The id of padding positions (0 for BERT, 1 for RoBERTa and XLM-RoBERTa)."""
        return int(self.tokenizer.pad_token_id)

    def get_vocabulary(self):
        """The tokens, by id (keras-hub's `tokenizer.get_vocabulary()`)."""
        return list(self.tokenizer.get_vocabulary())

    def _check_ready(self):
        """Always ready: the preset's vocabulary is fixed (nothing to adapt)."""

    def adapt(self, data):
        """Nothing to learn: the preset's vocabulary is used as it is."""

    def build(self, input_shape=None):
        self.built = True  # nothing to build: do not trace the tokenizer to build it

    def call(self, inputs):
        ids = self.preprocessor(tf.convert_to_tensor(inputs))["token_ids"]
        return tf.cast(ids, tf.int32)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((*inputs.shape, self.sequence_length), "int32")

    def get_config(self):
        config = super().get_config()
        config.update({
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "assets": _save_assets(self.tokenizer),
        })
        return config


def _save_assets(tokenizer):
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_assets(folder)
        return {name: base64.b64encode((pathlib.Path(folder) / name).read_bytes()).decode("ascii")
                for name in tokenizer.file_assets}


def _load_assets(tokenizer, assets):
    # keras-hub reads vocabularies only from files, which `safe_mode` forbids outside
    # a `.keras` archive. These files are the layer's own config, written here to a
    # fresh folder: nothing else is read, so safe mode is lifted for this read only.
    from keras.src.saving.serialization_lib import SafeModeScope

    with tempfile.TemporaryDirectory() as folder:
        for name, data in assets.items():
            if name not in tokenizer.file_assets:
                raise ValueError(
                    f"`assets` must hold the files of a {type(tokenizer).__name__} "
                    f"({tokenizer.file_assets}). Received: assets with {sorted(assets)}")
            (pathlib.Path(folder) / name).write_bytes(base64.b64decode(data))
        with SafeModeScope(False):
            tokenizer.load_assets(folder)
