"""Pretrained keras-hub towers on tiny local presets (`hub_presets`): the tower contract
against keras-hub's own backbones and converters, the preset's tokenizer (eager, in
tf.data, in a saved graph) against keras-hub's, training with frozen and partly frozen
backbones, `.keras` reload, export from raw inputs, mixed precision, the parameter
table, and the error for a preset that is neither local nor downloadable.

No test reaches the network: the offline tests point every HTTP(S) proxy at a closed
local port. Most fits run eagerly (`run_eagerly=True`): one step traced into a graph
costs 15-25 s on two cores for what takes 2-5 s eagerly, and the export tests trace
the models into SavedModel graphs anyway.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import types

import hub_presets
import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from hub_presets import CORPUS

import mmzoo
from mmzoo import hub
from mmzoo.hub import PresetUnavailableError
from mmzoo.preprocessing.preset_text import PresetTokenizer
from mmzoo.towers import pretrained

REPO = pathlib.Path(__file__).resolve().parents[1]
LENGTH = 12  # token ids per text (the presets' backbones take up to 64)
HIDDEN = 16  # the width of every tiny preset's backbone
TEXT_PRESETS = ("bert", "roberta", "xlm_roberta")
PADDING_IDS = {"bert": 0, "roberta": 1, "xlm_roberta": 1}
CLASS_NAMES = ["negative", "neutral", "positive"]
#: A closed local port (discard): a request through this proxy is refused at once.
CLOSED_PROXY = "http://127.0.0.1:9"
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY",
                   "all_proxy")


#: The tiny presets, by name here -> their maker. "roberta" is the RoBERTa preset whose
#: byte-pair vocabulary has every byte's symbol, as real ones do (see its maker).
MAKERS = {"bert": hub_presets.bert, "roberta": hub_presets.roberta_bytes,
          "xlm_roberta": hub_presets.xlm_roberta, "resnet": hub_presets.resnet,
          "vit": hub_presets.vit, "moonshine": hub_presets.moonshine}


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    """Every tiny preset, saved once: name -> folder. Seeded: the random weights do not
    depend on which tests ran before in the process."""
    keras.utils.set_random_seed(1)
    root = tmp_path_factory.mktemp("presets")
    return {name: make(root / name) for name, make in MAKERS.items()}


def keras_hub_ids(folder, texts=CORPUS):
    """The token ids keras-hub's own preprocessor gives (the reference), run eagerly."""
    preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(
        folder, sequence_length=LENGTH)
    return preprocessor(tf.constant(texts))["token_ids"].numpy()


@pytest.fixture(scope="module")
def corpus_ids(presets):
    """keras-hub's ids of `CORPUS` for each text preset."""
    return {name: keras_hub_ids(presets[name]) for name in TEXT_PRESETS}


def inner_model(tower):
    """The backbone (a `keras.Model`) inside a pretrained tower (frozen ones are wrapped
    in `InferenceMode`)."""
    layers = [layer.layer if isinstance(layer, pretrained.InferenceMode) else layer
              for layer in tower.layers]
    (backbone,) = [layer for layer in layers if isinstance(layer, keras.Model)]
    return backbone


def weighted_layers(backbone):
    """The backbone's layers with weights, in order (what `{"last_n": K}` counts)."""
    return [layer for layer in backbone.layers if layer.weights]


def snapshot(layer):
    return [np.array(weight.numpy()) for weight in layer.weights]


def changed(layer, before):
    return any(not np.array_equal(old, weight.numpy())
               for old, weight in zip(before, layer.weights, strict=True))


def png_bytes(images):
    """PNG bytes of float images in [0, 1], which are on the 8-bit grid."""
    return [tf.io.encode_png(np.round(image * 255).astype(np.uint8)).numpy() for image in images]


def on_8bit_grid(images):
    return (np.round(images * 255) / 255).astype("float32")


# The tower contract, checked against keras-hub's own backbones --------------------------


@pytest.mark.parametrize("name", TEXT_PRESETS)
def test_text_tower_is_the_presets_backbone(presets, corpus_ids, name):
    folder = presets[name]
    padding_id = PADDING_IDS[name]
    ids = corpus_ids[name]
    tower = pretrained.build_text((LENGTH,), preset=folder)
    out = tower(ids)

    assert out["embedding"].shape == (len(CORPUS), HIDDEN)
    assert out["sequence"].shape == (len(CORPUS), LENGTH, HIDDEN)
    assert out["sequence_mask"].shape == (len(CORPUS), LENGTH)
    mask = np.asarray(out["sequence_mask"])
    np.testing.assert_array_equal(mask != 0, ids != padding_id)
    assert set(np.unique(mask)) == {0, 1}
    assert mask[-1].sum() == 2  # "": the start and end tokens only, the rest padding
    # "mean" pooling: the average over the real tokens only.
    sequence = np.asarray(out["sequence"], "float64")
    mean = (sequence * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(out["embedding"], mean, atol=1e-5)

    # The preset's weights, fed as keras-hub feeds them.
    backbone = keras_hub.models.Backbone.from_preset(folder)
    features = {
        "token_ids": ids,
        "padding_mask": (ids != padding_id).astype(
            backbone.input["padding_mask"].dtype),
        "segment_ids": np.zeros_like(ids),
    }
    expected = backbone({key: features[key] for key in backbone.input})
    if isinstance(expected, dict):
        expected = expected["sequence_output"]
    real = ids != padding_id  # what padding positions hold is the tower's choice
    np.testing.assert_allclose(sequence[real], np.asarray(expected)[real], atol=1e-5)

    first = pretrained.build_text((LENGTH,), preset=folder, pooling="first", embedding_dim=8)
    out = first(ids)
    assert out["embedding"].shape == (len(CORPUS), 8)
    assert out["sequence"].shape == (len(CORPUS), LENGTH, HIDDEN)


@pytest.mark.parametrize("name, shape", [
    ("resnet", (28, 28, 3)),   # another size than the converter's 32 x 32
    ("resnet", (32, 32, 1)),   # gray
    ("vit", (16, 16, 3)),      # the converter's size
    ("vit", (20, 28, 1)),      # gray, another size and aspect ratio (center crop)
])
def test_image_tower_is_the_presets_converter_and_backbone(presets, name, shape):
    images = np.random.default_rng(0).random((3, *shape), dtype="float32")
    tower = pretrained.build_image(shape, preset=presets[name])
    out = tower(images, training=False)

    # keras-hub: its converter on RGB pixels in [0, 255], then the backbone.
    rgb = np.repeat(images, 3, axis=-1) if shape[-1] == 1 else images
    converter = keras_hub.layers.ImageConverter.from_preset(presets[name])
    features = np.asarray(keras_hub.models.Backbone.from_preset(presets[name])(
        converter(rgb * 255.0)))
    if features.ndim == 4:  # ResNet's feature map: its positions are the sequence
        features = features.reshape(len(images), -1, features.shape[-1])
    assert out["sequence"].shape == features.shape
    assert out["embedding"].shape == (len(images), HIDDEN)
    np.testing.assert_allclose(out["sequence"], features, atol=1e-4)
    np.testing.assert_allclose(out["embedding"], features.mean(axis=1), atol=1e-4)


def test_image_tower_called_without_training_is_inference(presets):
    """`tower(x)` is inference in Keras: it neither changes the BatchNorm statistics nor
    differs from `tower(x, training=False)` (28 x 28 images: resized to 32 x 32)."""
    tower = pretrained.build_image((28, 28, 3), preset=presets["resnet"])
    images = np.random.default_rng(0).random((3, 28, 28, 3), dtype="float32")
    expected = tower(images, training=False)
    backbone = inner_model(tower)
    before = snapshot(backbone)
    out = tower(images)
    assert not changed(backbone, before)
    np.testing.assert_allclose(out["sequence"], expected["sequence"], atol=1e-6)


def test_audio_tower_is_moonshines_encoder(presets):
    folder = presets["moonshine"]
    waves = (np.random.default_rng(0).standard_normal((2, 8000)) * 0.1).astype("float32")
    tower = pretrained.build_audio((8000,), preset=folder)
    out = tower(waves)

    converter = keras_hub.layers.AudioConverter.from_preset(folder)
    expected = keras_hub.models.Backbone.from_preset(folder)({
        "encoder_input_values": converter(waves),
        "encoder_padding_mask": tf.ones((2, 8000), tf.bool),
        "decoder_token_ids": tf.zeros((2, 1), tf.int32),
        "decoder_padding_mask": tf.ones((2, 1), tf.bool),
    })["encoder_sequence_output"]
    steps = expected.shape[1]
    assert steps > 1
    assert out["sequence"].shape == (2, steps, HIDDEN)
    assert out["embedding"].shape == (2, HIDDEN)
    np.testing.assert_allclose(out["sequence"], expected, atol=1e-5)
    np.testing.assert_allclose(out["embedding"], np.mean(expected, axis=1), atol=1e-5)

    with pytest.raises(ValueError, match=r"`sample_rate` must be 16000 Hz"):
        pretrained.build_audio((8000,), preset=folder, sample_rate=8000)


def test_towers_refuse_a_preset_of_another_modality(presets):
    with pytest.raises(ValueError, match=r"text/pretrained takes text backbones"):
        pretrained.build_text((LENGTH,), preset=presets["resnet"])
    with pytest.raises(ValueError, match=r"audio/pretrained takes speech encoders"):
        pretrained.build_audio((8000,), preset=presets["bert"])
    with pytest.raises(ValueError, match=r"at most \(64,\)"):
        pretrained.build_text((65,), preset=presets["bert"])


# The preset's tokenizer: keras-hub's ids, token for token, wherever it runs ------------------
# WordPiece (BERT), byte-pair (RoBERTa) and SentencePiece (XLM-RoBERTa). Tracing the
# byte-pair tokenizer into a graph takes 10-20 s on two cores: those runs are slow tests.


@pytest.fixture(scope="module")
def tokenizers(presets):
    return {name: PresetTokenizer.from_preset(presets[name], LENGTH) for name in TEXT_PRESETS}


@pytest.mark.parametrize("name", TEXT_PRESETS)
def test_tokenizer_ids_are_keras_hubs(tokenizers, corpus_ids, name):
    tokenizer, expected = tokenizers[name], corpus_ids[name]
    assert tokenizer.sequence_length == LENGTH
    assert tokenizer.padding_id == PADDING_IDS[name]
    assert tokenizer.vocabulary_size == len(tokenizer.get_vocabulary())
    # Not a degenerate reference: most pieces are in the vocabulary, not all unknown.
    specials = {tokenizer.padding_id, *expected[:, 0], *expected[-1, :2]}
    assert len(set(expected.ravel()) - specials) > 10
    assert expected.min() >= 0

    eager = tokenizer(CORPUS)
    assert eager.dtype == tf.int32 and eager.shape == (len(CORPUS), LENGTH)
    np.testing.assert_array_equal(eager, expected)
    np.testing.assert_array_equal(tokenizer(np.array(CORPUS[:2], dtype=object)), expected[:2])


GRAPH_PRESETS = ["bert", "xlm_roberta", pytest.param("roberta", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", GRAPH_PRESETS)
def test_tokenizer_ids_in_a_tf_data_map(tokenizers, corpus_ids, name):
    dataset = tf.data.Dataset.from_tensor_slices(CORPUS).batch(3).map(tokenizers[name])
    np.testing.assert_array_equal(np.concatenate(list(dataset.as_numpy_iterator())),
                                  corpus_ids[name])


@pytest.mark.parametrize("name", ["bert", pytest.param("xlm_roberta", marks=pytest.mark.slow),
                                  pytest.param("roberta", marks=pytest.mark.slow)])
def test_tokenizer_ids_in_a_saved_and_reloaded_graph(tokenizers, corpus_ids, name, tmp_path):
    """The tokenizer in a `tf.function` saved with `tf.saved_model.save` and loaded
    with tensorflow-text imported (as an exported model is served)."""
    tokenizer = tokenizers[name]
    module = tf.Module()
    module.tokenizer = tokenizer
    module.ids = tf.function(lambda texts: tokenizer(texts),
                             input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "tokenizer"))
    import tensorflow_text  # noqa: F401  (the ops of WordPiece and SentencePiece)

    loaded = tf.saved_model.load(str(tmp_path / "tokenizer"))
    np.testing.assert_array_equal(loaded.ids(tf.constant(CORPUS)), corpus_ids[name])


def test_tokenizer_config_carries_the_vocabulary(presets, corpus_ids, tmp_path):
    """A tokenizer rebuilt from its config needs no preset folder (the .keras case):
    a WordPiece vocabulary and a SentencePiece model travel in the config."""
    for name in ("bert", "xlm_roberta"):
        folder = shutil.copytree(presets[name], tmp_path / name)
        tokenizer = PresetTokenizer.from_preset(folder, LENGTH)
        config = tokenizer.get_config()
        shutil.rmtree(folder)
        rebuilt = PresetTokenizer.from_config(config)
        np.testing.assert_array_equal(rebuilt(CORPUS), corpus_ids[name])
        assert rebuilt.padding_id == tokenizer.padding_id


# A three-modality model: fit from raw examples, frozen parts, save, reload -------------------


@pytest.fixture(scope="module")
def trained(presets, tmp_path_factory):
    """bert (its last layer trains), a frozen resnet, a resnet whose last 3 weighted
    layers train, and moonshine; attention fusion, 3 classes. Two fit steps on raw
    examples passed through `model.preprocessor`; saved to a `.keras` file and reloaded
    in safe mode. Keeps every weight of the backbones before the fit."""
    keras.utils.set_random_seed(0)
    model = mmzoo.build_model({
        "text": {"tower": "pretrained", "preset": presets["bert"], "input_shape": (LENGTH,),
                 "trainable": {"last_n": 1}},
        "image": {"tower": "pretrained", "preset": presets["resnet"],
                  "input_shape": (24, 24, 3), "trainable": False, "embedding_dim": 8},
        "image_top": {"tower": "pretrained", "preset": presets["resnet"],
                      "input_shape": (24, 24, 3), "trainable": {"last_n": 3}},
        "audio": {"tower": "pretrained", "preset": presets["moonshine"],
                  "input_shape": (8000,), "embedding_dim": 8},
    }, fusion="attention", num_outputs=3, head_options={"class_names": CLASS_NAMES},
        name="pretrained_trimodal")
    rng = np.random.default_rng(0)
    # Bright, uneven images: BatchNorm in training mode would move its statistics.
    images = on_8bit_grid(0.5 + 0.5 * rng.random((8, 24, 24, 3), dtype="float32"))
    raw = {
        "text": np.array((CORPUS * 2)[:8], dtype=object),
        "image": images,
        "image_top": images[::-1].copy(),
        "audio": (rng.standard_normal((8, 8000)) * 0.1).astype("float32"),
    }
    x = {name: np.asarray(value) for name, value in model.preprocessor(raw).items()}
    parts = {name: inner_model(model.get_layer(f"{name}_tower"))
             for name in ("text", "image", "image_top", "audio")}
    layers = {name: weighted_layers(backbone) for name, backbone in parts.items()}
    others = {"image_projection": model.get_layer("image_tower").get_layer("image_projection"),
              "fusion": model.get_layer("fusion"), "head": model.get_layer("head")}
    before = {name: [snapshot(layer) for layer in found] for name, found in layers.items()}
    before_others = {name: snapshot(layer) for name, layer in others.items()}
    model.compile("adam", run_eagerly=True)
    history = model.fit(x, np.arange(8) % 3, batch_size=4, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("trimodal") / "model.keras"
    model.save(path)
    return types.SimpleNamespace(
        model=model, raw=raw, x=x, history=history, path=path, parts=parts, layers=layers,
        before=before,
        changed={name: [changed(layer, old) for layer, old in zip(found, before[name])]
                 for name, found in layers.items()},
        others_changed={name: changed(layer, before_others[name])
                        for name, layer in others.items()},
        reloaded=keras.saving.load_model(path, safe_mode=True))


def test_trimodal_fits_on_preprocessed_raw_examples(trained, corpus_ids):
    model, x = trained.model, trained.x
    assert isinstance(model.preprocessor.layers["text"], PresetTokenizer)
    assert x["text"].dtype == np.int32 and x["text"].shape == (8, LENGTH)
    np.testing.assert_array_equal(x["text"][:len(CORPUS)], corpus_ids["bert"])
    for name in ("image", "image_top", "audio"):
        np.testing.assert_array_equal(x[name], trained.raw[name])
    loss = trained.history.history["loss"]
    assert len(loss) == 1 and np.isfinite(loss[0])
    assert trained.others_changed == {"image_projection": True, "fusion": True, "head": True}
    probabilities = np.asarray(model(x, training=False))
    assert probabilities.shape == (8, 3)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)


def test_trimodal_keras_file_reloads_in_safe_mode(trained, corpus_ids):
    model, x, reloaded = trained.model, trained.x, trained.reloaded
    np.testing.assert_allclose(reloaded(x, training=False), model(x, training=False), atol=1e-6)
    text = reloaded.preprocessor.layers["text"]
    assert isinstance(text, PresetTokenizer)
    np.testing.assert_array_equal(text(CORPUS), corpus_ids["bert"])
    again = reloaded.preprocessor(trained.raw)
    for name, value in trained.x.items():
        np.testing.assert_array_equal(again[name], value)


def test_trimodal_keras_file_keeps_frozen_layers_frozen(trained):
    paths = sorted(weight.path for weight in trained.model.trainable_weights)
    assert sorted(weight.path for weight in trained.reloaded.trainable_weights) == paths


def test_frozen_backbone_keeps_every_weight_and_batch_norm_statistic(trained):
    layers = trained.layers["image"]
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) >= 3
    for layer in norms:  # the moving statistics are among the weights compared
        assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean",
                                                   "moving_variance"]
    assert len(trained.changed["image"]) == len(layers) > 6
    assert not any(trained.changed["image"])
    assert trained.parts["image"].trainable_weights == []
    # What is not the backbone trained: the tower's projection, the fusion, the head.
    assert trained.others_changed["image_projection"]


def test_last_n_trains_only_the_last_weighted_layers(trained):
    for name, count in (("image_top", 3), ("text", 1)):
        layers = trained.layers[name]
        expected = [index >= len(layers) - count for index in range(len(layers))]
        assert trained.changed[name] == expected, (name, [layer.name for layer in layers])
        assert [layer.trainable for layer in layers] == expected
    assert trained.layers["text"][-1].name == "transformer_layer_1"
    # The trained BatchNorm layers moved their moving statistics (training mode) on the
    # same kind of batches on which the frozen ones kept theirs.
    top = trained.layers["image_top"]
    norms = [i for i in range(len(top) - 3, len(top))
             if isinstance(top[i], keras.layers.BatchNormalization)]
    assert norms
    for i in norms:
        for index in (2, 3):  # moving_mean, moving_variance
            assert not np.allclose(trained.before["image_top"][i][index],
                                   top[i].weights[index].numpy())
    # trainable=True (the default): every layer of moonshine's encoder with trainable
    # weights trained (its rotary embedding's frequencies are constants).
    audio = trained.layers["audio"]
    assert trained.changed["audio"] == [bool(layer.trainable_weights) for layer in audio]
    assert sum(trained.changed["audio"]) >= 5


def test_parameter_table_counts_the_frozen_backbone(trained, capsys):
    model = trained.model
    table = model.parameter_table()
    assert table.splitlines()[0].split() == ["part", "trainable", "frozen"]
    rows = {line.split()[0]: [int(v.replace(",", "")) for v in line.split()[1:]]
            for line in table.splitlines()[1:]}
    assert list(rows) == ["text_tower", "image_tower", "image_top_tower", "audio_tower",
                          "fusion", "head", "total"]

    def size(weights):
        return sum(int(np.prod(w.shape)) for w in weights)

    projection = model.get_layer("image_tower").get_layer("image_projection")
    assert rows["image_tower"] == [projection.count_params(),
                                   trained.parts["image"].count_params()]
    text = trained.layers["text"]
    last = size(text[-1].weights)
    assert rows["text_tower"] == [last, trained.parts["text"].count_params() - last]
    top = trained.layers["image_top"]
    assert rows["image_top_tower"] == [
        size(w for layer in top[-3:] for w in layer.trainable_weights),
        size(w for layer in top for w in layer.weights)
        - size(w for layer in top[-3:] for w in layer.trainable_weights)]
    assert rows["total"] == [sum(r[0] for k, r in rows.items() if k != "total"),
                             sum(r[1] for k, r in rows.items() if k != "total")]
    assert rows["total"] == [size(model.trainable_weights), size(model.non_trainable_weights)]
    model.summary()
    assert table in capsys.readouterr().out


@pytest.mark.slow
def test_trimodal_export_raw_parity(trained, tmp_path):
    """Strings, PNG bytes and waveforms through the exported SavedModel."""
    model = trained.model
    card = mmzoo.export(model, tmp_path / "export")
    assert card["requires"] == ["tensorflow_text"]
    assert max(card["parity"]["max_abs_error"].values()) <= 1e-5
    import tensorflow_text  # noqa: F401

    loaded = tf.saved_model.load(str(tmp_path / "export"))
    raw = {**trained.raw, "text": list(trained.raw["text"]),
           "image": png_bytes(trained.raw["image"]),
           "image_top": png_bytes(trained.raw["image_top"])}
    out = loaded.signatures["serving_default"](
        **{name: tf.constant(value) for name, value in raw.items()})
    x = model.preprocessor(raw)
    np.testing.assert_allclose(x["image"], trained.raw["image"], atol=1e-6)  # PNG: same pixels
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    assert [name.decode() for name in out["class_name"].numpy()] == [
        CLASS_NAMES[i] for i in np.argmax(expected, -1)]


# Export: raw strings in the SavedModel == the Keras model on model.preprocessor -----------


@pytest.fixture(scope="module")
def exported(presets, tmp_path_factory):
    keras.utils.set_random_seed(1)
    model = mmzoo.build_model(
        {"text": {"tower": "pretrained", "preset": presets["bert"], "input_shape": (LENGTH,),
                  "trainable": False, "pooling": "first", "embedding_dim": 8}},
        num_outputs=3, head_options={"class_names": CLASS_NAMES}, name="pretrained_text")
    folder = tmp_path_factory.mktemp("export") / "model"
    card = mmzoo.export(model, folder, formats=("saved_model",))
    return types.SimpleNamespace(model=model, folder=folder, card=card)


def test_export_with_a_pretrained_text_tower_has_raw_input_parity(exported, corpus_ids):
    model, card = exported.model, exported.card
    assert card["requires"] == ["tensorflow_text"]
    assert max(card["parity"]["max_abs_error"].values()) <= 1e-5
    assert card["signatures"]["serving_default"]["inputs"] == {
        "text": {"dtype": "string", "shape": [None]}}
    import tensorflow_text  # noqa: F401  (before loading: the tokenizer's ops)

    loaded = tf.saved_model.load(str(exported.folder))
    texts = [*CORPUS, "a red cat", "THE CAT SAT!"]
    out = loaded.signatures["serving_default"](text=tf.constant(texts))
    x = model.preprocessor({"text": texts})
    np.testing.assert_array_equal(x["text"][:len(CORPUS)], corpus_ids["bert"])
    expected = np.asarray(model(x, training=False))
    assert len(np.unique(expected.round(6), axis=0)) > len(texts) // 2  # texts differ
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(out["class_index"], np.argmax(expected, -1))
    # The graph's tokenizer gave keras-hub's ids: the SavedModel on those ids agrees.
    given = loaded.signatures["serving_preprocessed"](
        text=tf.constant(corpus_ids["bert"], tf.int32))
    np.testing.assert_allclose(given["probabilities"], out["probabilities"][:len(CORPUS)],
                               atol=1e-6)


# Invalid trainable values --------------------------------------------------------------------


@pytest.mark.parametrize("trainable", ["yes", 1, None, {"last_n": 0}, {"last_n": 10**6},
                                       {"last_n": 1.5}, {"first_n": 1}])
def test_invalid_trainable_is_a_value_error_naming_it(presets, trainable):
    with pytest.raises(ValueError, match=r"`trainable(\.last_n)?` must be .*Received: trainable"):
        pretrained.build_image((28, 28, 3), preset=presets["resnet"], trainable=trainable)


def test_invalid_trainable_through_build_model(presets):
    with pytest.raises(ValueError, match=r"`trainable` must be true, false or \{last_n: K\}"):
        mmzoo.build_model({"text": {"tower": "pretrained", "preset": presets["bert"],
                                    "input_shape": (LENGTH,), "trainable": "yes"}},
                          num_outputs=2)


# Mixed precision --------------------------------------------------------------------------


def test_mixed_float16_text_tower_fits(presets):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(4)
        model = mmzoo.build_model(
            {"text": {"tower": "pretrained", "preset": presets["bert"], "input_shape": (LENGTH,),
                      "trainable": {"last_n": 1}}},
            num_outputs=2, name="mixed")
        backbone = inner_model(model.get_layer("text_tower"))
        assert backbone.get_layer("transformer_layer_1").compute_dtype == "float16"
        x = {"text": model.preprocessor.layers["text"](CORPUS).numpy()}
        model.compile("adam", run_eagerly=True)
        history = model.fit(x, np.arange(len(CORPUS)) % 2, batch_size=len(CORPUS), epochs=1,
                            verbose=0)
        assert np.isfinite(history.history["loss"][0])
        probabilities = model(x)
        assert probabilities.dtype == "float32"
        assert np.all(np.isfinite(probabilities))
    finally:
        keras.mixed_precision.set_global_policy("float32")


# A preset that is not there ----------------------------------------------------------------


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network: an empty Kaggle cache, every proxy a closed local port, HF offline.

    Returns the Kaggle cache folder.
    """
    cache = tmp_path / "kagglehub"
    cache.mkdir()
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(cache))
    for variable in PROXY_VARIABLES:
        monkeypatch.setenv(variable, CLOSED_PROXY)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads HF_HUB_OFFLINE once, when imported (keras-hub imports it):
    # this is the value the variable would have given (the subprocess test below sets
    # only the variable).
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def assert_fetch_instructions(message, preset, cache):
    assert f"preset={preset!r}" in message
    assert f"keras-hub preset {preset!r} is not in the cache ({cache})" in message
    assert "could not be downloaded" in message
    assert f"Once online, run `python -c \"import keras_hub; " in message
    assert f"from_preset('{preset}')" in message
    assert "save_to_preset" in message


@pytest.mark.parametrize("preset", ["bert_tiny_en_uncased",
                                    "kaggle://keras/bert/keras/bert_tiny_en_uncased/2"])
def test_uncached_kaggle_preset_offline(offline, preset):
    with pytest.raises(PresetUnavailableError) as error:
        hub.check_preset(preset)
    assert_fetch_instructions(str(error.value), preset, offline)
    assert hub.cache_folder(preset) == str(offline)
    with pytest.raises(PresetUnavailableError, match=r"is not in the cache"):
        hub.load("backbone", preset)
    with pytest.raises(PresetUnavailableError, match=r"is not in the cache"):
        PresetTokenizer.from_preset(preset, LENGTH)
    with pytest.raises(PresetUnavailableError, match=r"is not in the cache"):
        pretrained.build_text((LENGTH,), preset=preset)


def test_uncached_hugging_face_preset_offline(offline):
    import huggingface_hub.constants

    preset = "hf://mmzoo-tests/no-such-bert"
    with pytest.raises(PresetUnavailableError) as error:
        hub.check_preset(preset)
    assert_fetch_instructions(str(error.value), preset, huggingface_hub.constants.HF_HUB_CACHE)


@pytest.mark.slow
def test_uncached_hugging_face_preset_offline_from_the_environment(tmp_path):
    """HF_HUB_OFFLINE and HF_HUB_CACHE set before Python starts, as a user would."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf"),
           "TF_CPP_MIN_LOG_LEVEL": "3", **dict.fromkeys(PROXY_VARIABLES, CLOSED_PROXY)}
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    code = textwrap.dedent("""
        import time
        from mmzoo import hub
        start = time.monotonic()
        try:
            hub.check_preset("hf://mmzoo-tests/no-such-bert")
        except hub.PresetUnavailableError as error:
            print("SECONDS", time.monotonic() - start)
            print(error)
    """)
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, text=True,
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    seconds = float(result.stdout.split("SECONDS")[1].split()[0])
    assert seconds < 10  # offline mode: no retries against the closed proxy
    assert_fetch_instructions(result.stdout, "hf://mmzoo-tests/no-such-bert", tmp_path / "hf")


def test_unknown_name_and_local_folders(tmp_path):
    with pytest.raises(PresetUnavailableError, match=r"Unknown keras-hub preset 'no_such_preset_"):
        hub.check_preset("no_such_preset_en")
    missing = tmp_path / "missing"
    with pytest.raises(PresetUnavailableError, match=re.escape(
            f"No keras-hub preset folder at '{missing}'. Received: preset=")):
        hub.check_preset(str(missing))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "model.weights.h5").write_bytes(b"")
    with pytest.raises(PresetUnavailableError, match=r"has no config.json .*save_to_preset"):
        hub.check_preset(empty)
    with pytest.raises(PresetUnavailableError, match=r"has no config.json"):
        PresetTokenizer.from_preset(empty, LENGTH)
    for preset in (None, "", 3):
        with pytest.raises(PresetUnavailableError, match=r"`preset` must be a keras-hub preset"):
            hub.check_preset(preset)
    with pytest.raises(ValueError, match=r"`part` must be one of"):
        hub.load("tokenizer", str(empty))


def test_build_model_fails_on_an_unavailable_preset_before_building(offline, presets, tmp_path):
    """The error comes from the spec naming the preset, whichever input that is, before
    any training; other towers' presets are fine."""
    for preset in ("bert_tiny_en_uncased", str(tmp_path / "missing")):
        with pytest.raises(PresetUnavailableError, match=re.escape(repr(preset))):
            mmzoo.build_model({
                "image": {"tower": "pretrained", "preset": presets["resnet"],
                          "input_shape": (28, 28, 3)},
                "text": {"tower": "pretrained", "preset": preset, "input_shape": (LENGTH,)},
            }, num_outputs=2)
