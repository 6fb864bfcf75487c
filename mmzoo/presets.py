"""Named model configurations for `mmzoo.create_model(name)`.

Each preset is a `build_model` config plus a one-line description. The three-modality
presets take the embedded default dataset's inputs: 32x32 RGB images, 32-token texts
and one-second 8 kHz waveforms. The AV-MNIST presets follow MultiBench's LeNet
baselines (Liang et al., 2021): 28x28 digits and spoken digits.

The seeds' systems (`sentiment_trimodal`, `image_text_concat`) also name the keras-hub
presets of their pretrained towers (`"pretrained"`): `create_model(name,
pretrained={"text": "bert_base_en_uncased"})` swaps those towers in (a handle, or a
local preset folder), see `with_pretrained`. Without them the towers start from random
weights and `pretrained_note` says so.

>>> from mmzoo.presets import PRESETS
>>> PRESETS.get("trimodal_concat")["description"]
'image conv + text LSTM + audio log-mel conv, late fusion by concatenation'
"""

from mmzoo.registry import Registry

PRESETS = Registry("preset")

IMAGE_SHAPE = (32, 32, 3)
TEXT_LENGTH = 32
VOCAB_SIZE = 1000
SAMPLE_RATE = 8000
AUDIO_SAMPLES = 8000
NUM_CLASSES = 10

_TEXT_TOWERS = {
    "lstm": {"tower": "lstm", "units": 32, "embedding_size": 32},
    "cnn": {"tower": "cnn", "filters": 32, "embedding_size": 32},
    "transformer": {
        "tower": "transformer",
        "num_layers": 1,
        "hidden_dim": 64,
        "intermediate_dim": 128,
        "num_heads": 2,
    },
}
_TEXT_LABELS = {"lstm": "text LSTM", "cnn": "text CNN", "transformer": "text transformer"}
_FUSION_LABELS = {
    "concat": "late fusion by concatenation",
    "sum": "sum of projections",
    "mean": "mean of projections",
    "gated": "gated multimodal unit",
    "attention": "attention over modalities",
    "tensor": "tensor fusion",
    "low_rank": "low-rank multimodal fusion",
    "cross_attention": "cross-modal attention",
}
_TRIMODAL_TEXT = {
    "concat": "lstm",
    "sum": "cnn",
    "mean": "cnn",
    "gated": "lstm",
    "attention": "transformer",
    "tensor": "cnn",
    "low_rank": "lstm",
    "cross_attention": "transformer",
}


def _trimodal(fusion, text):
    # Cross-modal attention reads the towers' sequences, never their pooled embeddings.
    width = {} if fusion == "cross_attention" else {"embedding_dim": 64}
    return {
        "inputs": {
            "image": {
                "tower": "conv",
                "input_shape": IMAGE_SHAPE,
                "filters": (16, 32, 64),
                **width,
            },
            "text": {
                "input_shape": (TEXT_LENGTH,),
                "vocab_size": VOCAB_SIZE,
                **width,
                **_TEXT_TOWERS[text],
            },
            "audio": {
                "tower": "log_mel_conv",
                "input_shape": (AUDIO_SAMPLES,),
                "sample_rate": SAMPLE_RATE,
                "filters": (16, 32, 64),
                **width,
            },
        },
        "fusion": fusion,
        "num_outputs": NUM_CLASSES,
        "modality_dropout": 0.1,
        "head_options": {"hidden_units": (64,), "dropout": 0.1},
    }


for _fusion, _text in _TRIMODAL_TEXT.items():
    PRESETS.register(
        f"trimodal_{_fusion}",
        {
            "description": f"image conv + {_TEXT_LABELS[_text]} + audio log-mel conv, "
            f"{_FUSION_LABELS[_fusion]}",
            "config": _trimodal(_fusion, _text),
        },
    )

_AVMNIST_IMAGE = {"tower": "lenet", "input_shape": (28, 28, 1), "additional_layers": 3}
_AVMNIST_AUDIO = {
    "tower": "lenet",
    "input_shape": (AUDIO_SAMPLES,),
    "sample_rate": SAMPLE_RATE,
    "additional_layers": 5,
}
_MULTIBENCH_HEAD = {"hidden_units": (100,)}

PRESETS.register(
    "avmnist_image_lenet",
    {
        "description": "AV-MNIST image-only baseline: LeNet (6 channels, 3 extra layers) + MLP",
        "config": {
            "inputs": {"image": _AVMNIST_IMAGE},
            "num_outputs": NUM_CLASSES,
            "head_options": _MULTIBENCH_HEAD,
        },
    },
)
PRESETS.register(
    "avmnist_audio_lenet",
    {
        "description": "AV-MNIST audio-only baseline: 112x112 log-mel LeNet (5 extra layers) + MLP",
        "config": {
            "inputs": {"audio": _AVMNIST_AUDIO},
            "num_outputs": NUM_CLASSES,
            "head_options": _MULTIBENCH_HEAD,
        },
    },
)
PRESETS.register(
    "avmnist_late_fusion",
    {
        "description": "AV-MNIST LeNet late fusion (MultiBench): concat of both LeNets + MLP",
        "config": {
            "inputs": {"image": _AVMNIST_IMAGE, "audio": _AVMNIST_AUDIO},
            "fusion": "concat",
            "num_outputs": NUM_CLASSES,
            "head_options": _MULTIBENCH_HEAD,
        },
    },
)

_SENTIMENT_CLASSES = ["negative", "neutral", "positive"]
_SENTIMENT_SAMPLE_RATE = 16000
PRESETS.register(
    "sentiment_trimodal",
    {
        "description": "the founding sentiment model: BERT-class text + ResNet50 image + "
        "ConvTasNet-style waveform audio, attention fusion, negative / neutral / positive",
        "pretrained": {"text": "bert_base_en_uncased", "image": "resnet_50_imagenet"},
        "config": {
            "inputs": {
                "text": {"tower": "transformer", "input_shape": (128,), "vocab_size": 30522,
                         "num_layers": 2, "hidden_dim": 256, "intermediate_dim": 1024,
                         "num_heads": 4},
                "image": {"tower": "resnet", "input_shape": (224, 224, 3),
                          "variant": "resnet50"},
                "audio": {"tower": "waveform_conv", "input_shape": (_SENTIMENT_SAMPLE_RATE,),
                          "sample_rate": _SENTIMENT_SAMPLE_RATE},
            },
            "fusion": "attention",
            "fusion_options": {"dim": 256},
            "num_outputs": len(_SENTIMENT_CLASSES),
            "modality_dropout": 0.1,
            "head_options": {"hidden_units": (128,), "dropout": 0.1,
                             "class_names": _SENTIMENT_CLASSES},
        },
    },
)
PRESETS.register(
    "image_text_concat",
    {
        "description": "image CNN + text embedding CNN, late fusion by concatenation "
        "(the seeds' two-modality classifier)",
        "pretrained": {"text": "bert_tiny_en_uncased", "image": "resnet_18_imagenet"},
        "config": {
            "inputs": {
                "image": {"tower": "conv", "input_shape": IMAGE_SHAPE, "filters": (32, 64),
                          "embedding_dim": 128},
                "text": {"tower": "cnn", "input_shape": (TEXT_LENGTH,),
                         "vocab_size": VOCAB_SIZE, "embedding_size": 64,
                         "embedding_dim": 128},
            },
            "fusion": "concat",
            "num_outputs": NUM_CLASSES,
            "head_options": {"hidden_units": (128,), "dropout": 0.2},
        },
    },
)


def with_pretrained(name, config, pretrained):
    """`config` of preset `name` with the towers of `pretrained` made keras-hub towers.

    Args:
        name: the preset's name (for error messages).
        config: its `build_model` config (not modified).
        pretrained: dict from input name to a keras-hub preset (name, handle or local
            folder), or to a dict of the preset and tower options (`{"preset": ...,
            "trainable": False}`); each of those inputs becomes `{"tower":
            "pretrained", "preset": ...}`, keeping its `input_shape`, `modality` and
            `embedding_dim`.

    Returns:
        A new config dict.

    Raises:
        ValueError: `pretrained` is not a dict, or names an input the preset lacks.

    >>> config = PRESETS.get("image_text_concat")["config"]
    >>> with_pretrained("image_text_concat", config, {"text": "bert_tiny_en_uncased"}
    ...                 )["inputs"]["text"]["tower"]
    'pretrained'
    """
    if not isinstance(pretrained, dict):
        raise ValueError("`pretrained` must be a dict from input name to a keras-hub preset. "
                         f"Received: pretrained={pretrained!r}")
    inputs = dict(config["inputs"])
    unknown = sorted(set(pretrained) - set(inputs))
    if unknown:
        raise ValueError(f"Preset {name!r} has no input(s) {unknown}; its inputs are "
                         f"{sorted(inputs)}. Received: pretrained={pretrained!r}")
    for input_name, preset in pretrained.items():
        inputs[input_name] = pretrained_spec(inputs[input_name], preset, input_name,
                                             f"pretrained[{input_name!r}]")
    return {**config, "inputs": inputs}


def pretrained_spec(spec, preset, name=None, argument="pretrained"):
    """Input spec `spec` made a keras-hub tower: `preset` is the preset, or a dict with
    `"preset"` and the tower's options (e.g. `{"preset": ..., "trainable": False}`).

    Raises:
        ValueError: a dict without `"preset"`.

    >>> pretrained_spec({"tower": "cnn", "input_shape": (8,)},
    ...                 {"preset": "bert_tiny_en_uncased", "trainable": False}, "text")
    {'input_shape': (8,), 'tower': 'pretrained', 'preset': 'bert_tiny_en_uncased', 'trainable': False}
    """
    options = dict(preset) if isinstance(preset, dict) else {"preset": preset}
    if "preset" not in options:
        raise ValueError(
            f"`{argument}` must be a keras-hub preset or a mapping with a 'preset' key and "
            f"tower options, e.g. {{preset: bert_base_en_uncased, trainable: false}}. "
            f"Received: {argument}={preset!r}")
    return {**switched_tower(spec, "pretrained", name), **options}


def switched_tower(spec, tower, name=None):
    """Input spec `spec` for another `tower` family: the options the new tower does not
    take (the old family's) are dropped; `input_shape` and `modality` stay.

    Args:
        spec: the input's spec.
        tower: the new family, e.g. `"pretrained"`.
        name: the input's name (its modality, when the spec has no `"modality"`).

    >>> switched_tower({"tower": "lstm", "units": 8, "vocab_size": 50, "input_shape": (4,)},
    ...                "cnn", "text")
    {'vocab_size': 50, 'input_shape': (4,), 'tower': 'cnn'}
    """
    import inspect

    from mmzoo.modalities import modality_of
    from mmzoo.towers import get_tower

    kept = {"input_shape", "modality"}
    try:
        builder = get_tower(modality_of(name or "", spec), tower)
        kept |= set(inspect.signature(builder).parameters) - {"name"}
    except ValueError:  # an unknown modality or tower: its own check reports it later
        pass
    return {**{key: value for key, value in spec.items() if key in kept}, "tower": tower}


def pretrained_note(name, inputs):
    """The note printed when preset `name`'s pretrained towers get random weights, or None.

    Args:
        name: the preset.
        inputs: the model's final input specs (inputs whose tower is `"pretrained"`
            have their weights).

    >>> pretrained_note("trimodal_gated", {}) is None
    True
    >>> pretrained_note("image_text_concat", {"text": {"tower": "pretrained"},
    ...                                       "image": {"tower": "conv"}})[:56]
    "Note: preset 'image_text_concat' builds its image tower("
    """
    suggested = PRESETS.get(name).get("pretrained") or {}
    missing = {key: value for key, value in suggested.items()
               if (inputs.get(key) or {}).get("tower", "pretrained") != "pretrained"}
    if not missing:
        return None
    given = ", ".join(f"{key!r}: {value!r}" for key, value in missing.items())
    return (f"Note: preset {name!r} builds its {' and '.join(missing)} tower(s) with random "
            f"weights. For pretrained ones pass pretrained={{{given}}} (keras-hub presets, or "
            "local preset folders).")
