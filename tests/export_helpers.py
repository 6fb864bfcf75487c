"""Shared pieces of the export tests: tiny models, tokenizers, raw serving inputs."""

import numpy as np
import tensorflow as tf

import mmzoo
from mmzoo.datasets import embedded
from mmzoo.preprocessing.text import TextTokenizer

TEXT_LENGTH = 32

TEXT_TOWERS = {
    "cnn": {"embedding_size": 8, "filters": 4, "kernel_sizes": (3,), "embedding_dim": 8},
    "lstm": {"embedding_size": 8, "units": 4, "embedding_dim": 8},
    "transformer": {"num_layers": 1, "num_heads": 2, "hidden_dim": 8, "intermediate_dim": 16,
                    "dropout": 0.0},
}


def adapted_tokenizer(kind="vectorization", num_examples=300, max_tokens=None):
    """A `TextTokenizer` of `TEXT_LENGTH` ids adapted on embedded train texts."""
    features, _ = embedded.load_numpy("train", num_examples=num_examples)
    tokenizer = TextTokenizer(kind=kind, sequence_length=TEXT_LENGTH, max_tokens=max_tokens,
                              name="text_tokenizer")
    tokenizer.adapt(list(features["text"]))
    return tokenizer


def tiny_trimodal(vocab_size, text_tower="cnn", fusion="gated", train_steps=2, seed=0):
    """A quick trimodal model on the embedded shapes, trained a few steps (non-trivial
    BatchNorm statistics and weights), with modality dropout and class names."""
    import keras

    keras.utils.set_random_seed(seed)
    model = mmzoo.build_model(
        inputs={
            "image": {"tower": "conv", "input_shape": (32, 32, 3), "filters": (4, 8),
                      "embedding_dim": 8},
            "text": {"tower": text_tower, "input_shape": (TEXT_LENGTH,), "vocab_size": vocab_size,
                     **TEXT_TOWERS[text_tower]},
            "audio": {"tower": "log_mel_conv", "input_shape": (8000,), "filters": (4, 8),
                      "embedding_dim": 8, "n_mels": 16},
        },
        fusion=fusion,
        num_outputs=10,
        head_options={"hidden_units": (8,), "class_names": list(embedded.CLASS_NAMES)},
        modality_dropout=0.2,
        name="tiny_trimodal",
    )
    if train_steps:
        rng = np.random.default_rng(seed)
        batch = 16 * train_steps
        x = {
            "image": rng.uniform(0, 1, (batch, 32, 32, 3)).astype("float32"),
            "text": rng.integers(0, vocab_size, (batch, TEXT_LENGTH)).astype("int32"),
            "audio": rng.uniform(-0.5, 0.5, (batch, 8000)).astype("float32"),
        }
        model.compile("adam")
        model.fit(x, rng.integers(0, 10, batch), batch_size=16, epochs=1, verbose=0)
    return model


def tiny_image_model(name="tiny_image"):
    """The smallest exportable model: one 8x8 grayscale image input, 2 classes."""
    return mmzoo.build_model(
        {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,), "embedding_dim": 4}},
        num_outputs=2, head_options={"hidden_units": ()}, name=name,
    )


def png_bytes(images):
    """PNG bytes of float images in [0, 1] on the 8-bit grid (`round(x * 255)`)."""
    return [
        tf.io.encode_png(np.round(image * 255).astype(np.uint8)).numpy() for image in images
    ]


def raw_inputs(features, start=0, stop=None):
    """Serving inputs (tensors) for embedded examples: PNG bytes, strings, waveforms."""
    stop = len(features["text"]) if stop is None else stop
    return {
        "image": tf.constant(png_bytes(features["image"][start:stop])),
        "text": tf.constant([str(t) for t in features["text"][start:stop]]),
        "audio": tf.constant(features["audio"][start:stop], tf.float32),
    }
