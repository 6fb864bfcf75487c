"""Small keras-hub presets with random weights, saved to local folders for the tests.

Each maker builds a tiny backbone of a real keras-hub architecture (and its tokenizer
or converter), saves it with `save_to_preset` into `folder` and returns the folder:
what `keras_hub.models.Backbone.from_preset("bert_base_en_uncased")` gives on a
machine with network, at a size that builds in a second. No test reaches the network.
"""

import json
import pathlib

#: A corpus with accents, punctuation, Chinese, emoji and mixed case.
CORPUS = [
    "The café served crème brûlée, naïvely!",
    "Don't stop -- it's 3:45pm (GMT+1)?",
    "我爱北京天安门，天安门上太阳升。",
    "Great movie 😀👍🏽 would watch again!!!",
    "ÀÉÎÕÜ ß æ ø å Ελληνικά Русский",
    "  spaces\tand\nnewlines  ",
    "",
]

_WORDS = ["the", "cafe", "café", "served", "creme", "brulee", "movie", "great", "would",
          "watch", "again", "don", "t", "stop", "it", "s", "pm", "gmt", "spaces", "and",
          "newlines", "##s", "##e", "##ed", "我", "爱", "北", "京", "天", "安", "门", "上",
          "太", "阳", "升", "😀", "!", ",", "'", "?", "(", ")", "-", "+", ":", "。", "，",
          "a", "good", "bad", "red", "blue", "cat", "dog", "happy", "sad", "ok", "fine"]


def bert(folder, sequence_length=16, hidden_dim=16):
    """A 1-layer BERT with a WordPiece vocabulary, lower-casing, accents stripped."""
    import keras_hub

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + _WORDS
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim, max_sequence_length=64)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length)
    return _save(folder, backbone, preprocessor)


def roberta(folder, sequence_length=16):
    """A 1-layer RoBERTa with a byte-pair vocabulary (padding id 1)."""
    vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for token in ["Ġ", "t", "h", "e", "a", "c", "Ġt", "th", "Ġth", "Ġthe", "Ġc", "Ġca",
                  "Ġcat", "!", "é", "Ã", "©", "ðŁ", "ĺ", "Ģ", "s", "Ġs", "at"]:
        vocabulary.setdefault(token, len(vocabulary))
    merges = ["Ġ t", "t h", "Ġt h", "Ġth e", "Ġ c", "Ġc a", "Ġca t", "Ġ s", "a t"]
    return _roberta(folder, vocabulary, merges, sequence_length)


def _roberta(folder, vocabulary, merges, sequence_length):
    import keras_hub

    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=len(vocabulary), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=64)
    preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length)
    return _save(folder, backbone, preprocessor)


def xlm_roberta(folder, sequence_length=16):
    """A 1-layer XLM-RoBERTa with a SentencePiece model learned on `CORPUS`."""
    import io

    import keras_hub
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS[:-1] * 20), model_writer=model, vocab_size=120,
        model_type="unigram", character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2,
        eos_id=3, pad_piece="<pad>", unk_piece="<unk>", bos_piece="[CLS]",
        eos_piece="[SEP]", user_defined_symbols="[MASK]", hard_vocab_limit=False,
        minloglevel=3)
    tokenizer = keras_hub.models.XLMRobertaTokenizer(proto=model.getvalue())
    backbone = keras_hub.models.XLMRobertaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
        hidden_dim=16, intermediate_dim=32, max_sequence_length=64)
    preprocessor = keras_hub.models.XLMRobertaTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length)
    return _save(folder, backbone, preprocessor)


def resnet(folder, image_size=(32, 32)):
    """A tiny ResNet (basic blocks; keras-hub wants 64 filters first) with the ImageNet mean / std converter."""
    import keras_hub

    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
        image_shape=(None, None, 3))
    converter = keras_hub.layers.ResNetImageConverter(
        image_size=image_size, scale=[1 / (255 * s) for s in (0.229, 0.224, 0.225)],
        offset=[-m / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    return _save(folder, backbone, converter)


def vit(folder, image_size=(16, 16)):
    """A 1-layer ViT on 4x4 patches with a [-1, 1] converter."""
    import keras_hub

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(*image_size, 3), patch_size=4, num_layers=1, num_heads=2,
        hidden_dim=16, mlp_dim=32)
    converter = keras_hub.layers.ViTImageConverter(
        image_size=image_size, scale=1 / 127.5, offset=-1.0)
    return _save(folder, backbone, converter)


def moonshine(folder):
    """A 1-layer Moonshine (encoder and decoder) and its 16 kHz audio converter."""
    import keras_hub

    backbone = keras_hub.models.MoonshineBackbone(
        vocabulary_size=32, filter_dim=16, encoder_num_layers=1, decoder_num_layers=1,
        hidden_dim=16, intermediate_dim=32, encoder_num_heads=2, decoder_num_heads=2)
    converter = keras_hub.layers.MoonshineAudioConverter(sampling_rate=16000)
    return _save(folder, backbone, converter)


def _save(folder, backbone, *parts):
    folder = pathlib.Path(folder)
    backbone.save_to_preset(str(folder))
    for part in parts:
        part.save_to_preset(str(folder))
    json.loads((folder / "config.json").read_text())  # a readable preset
    return str(folder)


def roberta_bytes(folder, sequence_length=16):
    """A 1-layer RoBERTa whose byte-pair vocabulary holds the symbol of every byte.

    Real byte-level BPE vocabularies do, so no text has an out-of-vocabulary piece. With
    the small vocabulary of `roberta`, keras-hub's tokenizer drops such pieces when run
    eagerly but gives them id -1 inside a graph (`tf.function`, `tf.data`): compare
    ids across eager and graph runs on this preset.
    """
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    merges = ["Ġ t", "t h", "Ġt h", "Ġth e", "Ġ c", "Ġc a", "Ġca t", "Ġ s", "a t", "e r",
              "Ã ©", "Ġ w", "o u", "Ġw ou", "Ġwou l", "Ġwoul d"]
    for symbol in bytes_to_unicode()[1]:
        vocabulary.setdefault(symbol, len(vocabulary))
    for merge in merges:
        vocabulary.setdefault(merge.replace(" ", ""), len(vocabulary))
    return _roberta(folder, vocabulary, merges, sequence_length)
