"""Every object registered under "mmzoo>" gets the standard checks.

The registered names come from `keras.saving.get_custom_objects()` after `import
mmzoo`, so a new layer is tested as soon as it is registered: a registered class
missing from `LAYER_EXAMPLES` (or `OTHER_CHECKS`) fails its test until example
arguments are added there.
"""

import copy

import keras
import numpy as np
import pytest
import tensorflow as tf
from testing import assert_all_close, fusion_inputs, fusion_modality_mask, run_layer_test

import mmzoo

PREFIX = "mmzoo>"
REGISTERED = {
    key[len(PREFIX) :]: obj
    for key, obj in keras.saving.get_custom_objects().items()
    if key.startswith(PREFIX)
}


def _registered(name):
    return REGISTERED[name]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _sequence(batch=2, steps=3, channels=4):
    return _rng().normal(size=(batch, steps, channels)).astype("float32")


def _step_mask():
    return np.array([[1, 1, 0], [1, 0, 0]], "float32")


def _png_batch(size=(6, 10), channels=3):
    pixels = _rng().integers(0, 256, size=(*size, channels)).astype("uint8")
    png = tf.io.encode_png(pixels).numpy()
    return np.array([png, png[::-1][::-1]], dtype=object)


def _fusion(name, **init_kwargs):
    """Example of a fusion class over two modalities, with a modality mask."""

    def example():
        cls = _registered(name)
        inputs, extra = fusion_inputs(cls, batch_size=4, num_modalities=2)
        layer = cls(**init_kwargs)
        dim = getattr(layer, "dim", None) or sum(x.shape[-1] for x in inputs)
        return dict(
            init_kwargs=init_kwargs,
            input_data=inputs,
            call_kwargs={"mask": fusion_modality_mask(4, 2), **extra},
            expected_output_shape=(4, dim),
            expect_all_weights_train=True,
        )

    return example


# Class name -> a function returning `run_layer_test` keyword arguments.
LAYER_EXAMPLES = {
    "ApplySequenceMask": lambda: dict(
        input_data=[_sequence(), _step_mask()], expected_output_shape=(2, 3, 4)
    ),
    "AttentionFusion": _fusion("AttentionFusion", dim=8),
    "AttentionMask": lambda: dict(
        input_data=_step_mask(), expected_output_shape=(2, 3, 3), expected_output_dtype="bool"
    ),
    "AudioPreprocessing": lambda: dict(
        init_kwargs=dict(sample_rate=8000, num_samples=800),
        input_data=_rng().uniform(-1, 1, (2, 500)).astype("float32"),
        expected_output_shape=(2, 800),
    ),
    "ConcatFusion": _fusion("ConcatFusion"),
    "CrossAttentionFusion": _fusion("CrossAttentionFusion", dim=8, num_heads=2, dropout=0.0),
    "CrossModalBlock": lambda: dict(
        init_kwargs=dict(dim=8, num_heads=2, intermediate_dim=16),
        input_data=_sequence(steps=3, channels=8),
        call_kwargs={"source": _sequence(steps=5, channels=8)},
        expected_output_shape=(2, 3, 8),
        expect_all_weights_train=True,
    ),
    "GatedFusion": _fusion("GatedFusion", dim=8),
    "ImageAugmentation": lambda: dict(
        layer_or_cls=mmzoo.preprocessing.image.image_augmentation(seed=1, flip=True),
        input_data=_rng().uniform(0, 1, (2, 12, 12, 1)).astype("float32"),
        expected_output_shape=(2, 12, 12, 1),
    ),
    "ImagePreprocessing": lambda: dict(
        init_kwargs=dict(size=(8, 8), channels=1),
        input_data=_png_batch(),
        expected_output_shape=(2, 8, 8, 1),
        expected_output_dtype="float32",
    ),
    "LogMelSpectrogram": lambda: dict(
        init_kwargs=dict(sample_rate=8000, n_fft=128, hop_length=64, n_mels=16, mel_scale="htk"),
        input_data=_rng().uniform(-1, 1, (2, 640)).astype("float32"),
        expected_output_shape=(2, 11, 16),
    ),
    "LowRankFusion": _fusion("LowRankFusion", rank=2, dim=8),
    "TensorInput": lambda: dict(
        init_kwargs=dict(modality="audio", shape=(6, 5)),
        input_data=_rng().uniform(0, 1, (2, 6, 5)).astype("float32"),
        expected_output_shape=(2, 6, 5),
    ),
    "MaskedPooling1D": lambda: dict(
        init_kwargs=dict(mode="mean"),
        input_data=[_sequence(), _step_mask()],
        expected_output_shape=(2, 4),
    ),
    "MeanFusion": _fusion("MeanFusion", dim=8),
    "ModalityDropout": lambda: dict(
        init_kwargs=dict(rate=0.5, seed=3),
        input_data=[_sequence()[:, 0], _sequence()[:, 1]],
        call_kwargs={"mask": np.array([[1, 0], [1, 1]], "float32")},
        expected_output_shape=(2, 2),
    ),
    "PaddingMask": lambda: dict(
        init_kwargs=dict(padding_id=0),
        input_data=np.array([[3, 1, 0], [7, 0, 0]], "int32"),
        expected_output_shape=(2, 3),
        expected_output_dtype="float32",
    ),
    "PositionEmbedding": lambda: dict(
        init_kwargs=dict(sequence_length=5),
        input_data=_sequence(),
        expected_output_shape=(2, 3, 4),
        expected_num_trainable_weights=1,
    ),
    "ResNetPreprocessing": lambda: dict(
        init_kwargs=dict(mode="caffe"),
        input_data=_rng().uniform(0, 1, (2, 4, 4, 3)).astype("float32"),
        expected_output_shape=(2, 4, 4, 3),
    ),
    "SumFusion": _fusion("SumFusion", dim=8),
    "TaskHead": lambda: dict(
        init_kwargs=dict(kind="multiclass", num_outputs=3, hidden_units=(8,), dropout=0.1,
                         class_names=["a", "b", "c"]),
        input_data=_rng().normal(size=(4, 6)).astype("float32"),
        expected_output_shape=(4, 3),
        expect_all_weights_train=True,
    ),
    "TensorFusion": _fusion("TensorFusion", projection_dim=3, dim=8),
    "BackboneTextInputs": lambda: dict(
        init_kwargs=dict(padding_id=1, keys=["token_ids", "padding_mask", "segment_ids"]),
        input_data=np.array([[0, 5, 2, 1], [0, 2, 1, 1]], "int32"),
        expected_output_shape={"token_ids": (2, 4), "padding_mask": (2, 4),
                               "segment_ids": (2, 4)},
    ),
    "InferenceMode": lambda: dict(
        layer_or_cls=mmzoo.towers.pretrained.InferenceMode(keras.layers.Dropout(0.5)),
        input_data=_rng().normal(size=(2, 4)).astype("float32"),
        expected_output_shape=(2, 4),
    ),
    "ResizeImages": lambda: dict(
        init_kwargs=dict(size=(4, 6), crop_to_aspect_ratio=True),
        input_data=_rng().uniform(0, 1, (2, 8, 8, 3)).astype("float32"),
        expected_output_shape=(2, 4, 6, 3),
    ),
    "PresetTokenizer": lambda: dict(
        layer_or_cls=_preset_tokenizer(),
        input_data=np.array(["A red square!", "blue circle"]),
        expected_output_shape=(2, 6),
        expected_output_dtype="int32",
    ),
    "TextTokenizer": lambda: dict(
        init_kwargs=dict(sequence_length=4, vocabulary=["a", "red", "blue", "square"]),
        input_data=np.array(["A red square!", "blue circle"]),
        expected_output_shape=(2, 4),
        expected_output_dtype="int32",
    ),
}


def _preset_tokenizer():
    import keras_hub

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "square", "blue"]
    packer = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True), sequence_length=6)
    return mmzoo.preprocessing.preset_text.PresetTokenizer(packer)


def check_phased_learning_rate(cls, tmp_path):
    """Scales its schedule from the boundary on; reloads from its config and an optimizer."""
    schedule = cls(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), boundary=3,
                   factor=0.25)
    assert float(schedule(2)) == pytest.approx(0.1 * 0.5 ** 0.2, rel=1e-6)
    assert float(schedule(3)) == pytest.approx(0.25 * 0.1 * 0.5 ** 0.3, rel=1e-6)
    optimizer = keras.optimizers.Adam(schedule)
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(optimizer))
    assert type(revived.learning_rate) is not float
    restored = revived._learning_rate
    assert type(restored) is cls
    for step in (0, 3, 7):
        assert float(restored(step)) == pytest.approx(float(schedule(step)), rel=1e-6)


def _tiny_model():
    model = mmzoo.build_model(
        {
            "image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (4,),
                      "embedding_dim": 4},
            "text": {"tower": "cnn", "input_shape": (6,), "vocab_size": 30, "filters": 4,
                     "embedding_size": 4, "embedding_dim": 4},
        },
        fusion="concat",
        num_outputs=3,
        head_options={"hidden_units": (4,)},
    )
    return model


def check_multimodal_model(cls, tmp_path):
    """A built model: config round trip, one fit step, .keras reload with equal outputs."""
    model = _tiny_model()
    assert type(model) is cls
    config = model.get_config()
    assert config["modalities"] == model.modalities
    assert cls.from_config(copy.deepcopy(config)).get_config() == config
    rng = _rng()
    x = {
        "image": rng.uniform(0, 1, (4, 8, 8, 1)).astype("float32"),
        "text": rng.integers(1, 30, (4, 6)).astype("int32"),
    }
    model.compile(keras.optimizers.SGD(0.1))
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(tf.data.Dataset.from_tensors((x, np.array([0, 1, 2, 0]))), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert type(restored) is cls and restored.modalities == model.modalities
    assert_all_close(restored(x), model(x), message="reloaded MultimodalModel")


def check_preprocessor(cls, tmp_path):
    """Raw dict -> model tensors; config round trip (vocabulary included) calls the same."""
    preprocessor = cls.from_specs({
        "image": {"input_shape": (8, 8, 1)},
        "text": {"input_shape": (4,)},
        "audio": {"input_shape": (800,), "sample_rate": 8000},
    })
    preprocessor.adapt({"text": ["a red square", "a blue circle"]})
    raw = {
        "image": _png_batch(channels=1),
        "text": np.array(["a red circle", "blue"]),
        "audio": _rng().uniform(-1, 1, (2, 500)).astype("float32"),
        "modality_mask": np.ones((2, 3), "float32"),
    }
    out = preprocessor(raw)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "image": (2, 8, 8, 1), "text": (2, 4), "audio": (2, 800), "modality_mask": (2, 3)
    }
    config = preprocessor.get_config()
    clone = cls.from_config(copy.deepcopy(config))
    assert clone.get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(preprocessor))
    assert type(revived) is cls
    for other in (clone, revived):
        assert_all_close(other(raw), out, message="Preprocessor copy")


def check_sparse_focal_crossentropy(cls, tmp_path):
    """Equals Keras' one-hot focal loss (alpha 1); reloads from its config and a model."""
    labels = np.array([0, 2, 1])
    probabilities = keras.ops.softmax(_rng().normal(size=(3, 3)).astype("float32"))
    loss = cls(gamma=2.0)
    reference = keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0)
    assert_all_close(loss(labels, probabilities),
                     reference(keras.ops.one_hot(labels, 3), probabilities),
                     message="focal loss vs Keras")
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(revived) is cls and revived.gamma == 2.0
    model = mmzoo.build_model({"text": {"tower": "cnn", "input_shape": (6,), "vocab_size": 30,
                                        "kernel_sizes": (2,)}}, num_outputs=3)
    model.compile("adam", loss=model.head.focal_loss(gamma=2.0))
    x = {"text": _rng().integers(1, 30, (4, 6)).astype("int32")}
    model.fit(x, np.array([0, 1, 2, 0]), verbose=0)
    model.save(tmp_path / "focal.keras")
    restored = keras.saving.load_model(tmp_path / "focal.keras", safe_mode=True)
    assert type(restored.loss) is cls


# Class name -> check(cls, tmp_path), for what is not a plain layer.
OTHER_CHECKS = {
    "SparseFocalCrossentropy": check_sparse_focal_crossentropy,
    "MultimodalModel": check_multimodal_model,
    "Preprocessor": check_preprocessor,
    "PhasedLearningRate": check_phased_learning_rate,
}


def test_registered_objects_were_found():
    # Guards the parametrization below against an empty registry.
    assert {"TaskHead", "ConcatFusion", "MultimodalModel"} <= set(REGISTERED)
    assert all(keras.saving.get_registered_name(obj) == PREFIX + name
               for name, obj in REGISTERED.items())


@pytest.mark.parametrize("name", sorted(set(LAYER_EXAMPLES) | set(OTHER_CHECKS)))
def test_example_table_names_only_registered_objects(name):
    assert name in REGISTERED, f"{name} is in the example table but not registered as mmzoo>"


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_registered_object(name, tmp_path):
    cls = REGISTERED[name]
    if name in OTHER_CHECKS:
        OTHER_CHECKS[name](cls, tmp_path)
        return
    if name not in LAYER_EXAMPLES:
        pytest.fail(
            f"{PREFIX}{name} is registered but has no example in tests/test_custom_objects.py: "
            "add its init kwargs and inputs to LAYER_EXAMPLES (or a check to OTHER_CHECKS)."
        )
    assert isinstance(cls, type) and issubclass(cls, keras.layers.Layer), (
        f"{name} is not a layer class: give it a check in OTHER_CHECKS"
    )
    example = LAYER_EXAMPLES[name]()
    layer_or_cls = example.pop("layer_or_cls", cls)
    assert type(layer_or_cls) is cls or layer_or_cls is cls
    run_layer_test(layer_or_cls, **example)
