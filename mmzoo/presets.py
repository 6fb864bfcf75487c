"""Named model configurations for `mmzoo.create_model(name)`.

Each preset is a `build_model` config plus a one-line description. The three-modality
presets take the embedded default dataset's inputs: 32x32 RGB images, 32-token texts
and one-second 8 kHz waveforms. The AV-MNIST presets follow MultiBench's LeNet
baselines (Liang et al., 2021): 28x28 digits and spoken digits.

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
