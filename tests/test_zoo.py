import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from testing import assert_save_load_identical, random_inputs


# Presets at their real sizes that would take minutes here: the same model, smaller inputs.
SMALLER = {"sentiment_trimodal": {"inputs": {
    "image": {"input_shape": (32, 32, 3)}, "text": {"input_shape": (16,), "vocab_size": 100},
    "audio": {"input_shape": (1600,)}}}}
# Over a minute on 2 cores: a ResNet50 to fit and a 100 MB .keras file; cross-attention
# over three sequences (test_fusion.py checks that fusion in the default run).
SLOW_PRESETS = {"sentiment_trimodal", "trimodal_cross_attention"}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.slow) if name in SLOW_PRESETS else name
    for name in mmzoo.list_models()])
def test_preset_builds_trains_and_reloads(name, tmp_path):
    model = mmzoo.create_model(name, **SMALLER.get(name, {}))
    model.compile("adam")
    x = random_inputs(model, batch_size=2)
    classes = model.head.num_outputs
    y = np.array([1, 3]) % classes
    history = model.fit(tf.data.Dataset.from_tensors((x, y)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    out = model.predict(x, verbose=0)
    assert out.shape == (2, classes)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    restored = assert_save_load_identical(model, x, tmp_path / f"{name}.keras")
    assert type(restored) is mmzoo.MultimodalModel
    assert restored.modalities == model.modalities


def test_tiny_config_fixture_is_valid_and_builds(tiny_config, tmp_path):
    from mmzoo.config import load_config, resolve_model, to_yaml

    raw = tiny_config(model={"fusion": "mean"}, training={"epochs": 1})
    config = load_config(raw)
    assert config["model"]["fusion"] == "mean" and config["training"]["epochs"] == 1
    assert config["training"]["batch_size"] == 32  # merged, not replaced
    assert config["output"]["runs_dir"] == str(tmp_path / "runs")
    path = tmp_path / "tiny.yaml"
    path.write_text(to_yaml(config))
    assert load_config(path) == config
    model = mmzoo.build_model(**resolve_model(config))
    assert model.modalities == ["image", "text", "audio"]
    assert model.get_layer("text_tower").get_layer("text_token_embedding").input_dim == 200
    assert tiny_config() == tiny_config() and tiny_config() is not tiny_config()


def test_every_fusion_has_a_trimodal_preset():
    for fusion in mmzoo.list_fusions():
        assert f"trimodal_{fusion}" in mmzoo.list_models()
        preset = mmzoo.get_preset(f"trimodal_{fusion}")
        assert set(preset["config"]["inputs"]) == {"image", "text", "audio"}


def test_avmnist_baselines_match_multibench_widths():
    late = mmzoo.create_model("avmnist_late_fusion")
    widths = {
        name: late.get_layer(f"{name}_tower").output["embedding"].shape[-1]
        for name in late.modalities
    }
    assert widths == {"image": 48, "audio": 192}  # MultiBench: MLP(channels * 40 = 240, 100, 10)
    assert late.head.hidden_units == (100,)


@pytest.fixture(scope="module")
def gated_model():
    return mmzoo.create_model("trimodal_gated")


def test_dict_key_order_does_not_matter(gated_model):
    x = random_inputs(gated_model, seed=1)
    reordered = {key: x[key] for key in reversed(list(x))}
    np.testing.assert_array_equal(gated_model(x), gated_model(reordered))


def test_missing_modality_mask_means_all_present(gated_model):
    x = random_inputs(gated_model, seed=2)
    with_mask = dict(x, modality_mask=np.ones((2, 3), "float32"))
    np.testing.assert_allclose(gated_model(x), gated_model(with_mask), atol=1e-7)


def test_missing_key_is_a_clear_error(gated_model):
    x = random_inputs(gated_model)
    del x["text"]
    with pytest.raises(ValueError, match=r"missing \['text'\]"):
        gated_model(x)


def test_unexpected_key_is_a_clear_error(gated_model):
    x = dict(random_inputs(gated_model), caption=np.zeros((2, 32), "int32"))
    with pytest.raises(ValueError, match=r"unexpected \['caption'\]"):
        gated_model(x)
    with pytest.raises(ValueError, match="caption"):
        gated_model.predict(x, verbose=0)


def test_masked_modality_input_does_not_change_prediction(gated_model):
    x = random_inputs(gated_model, seed=3)
    mask = np.array([[1, 0, 1], [1, 1, 0]], "float32")  # columns follow model.modalities
    assert gated_model.modalities == ["image", "text", "audio"]
    changed = dict(x)
    changed["text"] = x["text"].copy()
    changed["text"][0] = 7
    changed["audio"] = x["audio"].copy()
    changed["audio"][1] *= -0.5
    np.testing.assert_allclose(
        gated_model(dict(x, modality_mask=mask)),
        gated_model(dict(changed, modality_mask=mask)),
        atol=1e-6,
    )
    assert not np.allclose(gated_model(x), gated_model(changed), atol=1e-6)


def test_attention_weights_are_retrievable():
    model = mmzoo.create_model("trimodal_attention")
    x = random_inputs(model, batch_size=3)
    mask = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 1]], "float32")
    weights = mmzoo.modality_weights(model, dict(x, modality_mask=mask))
    assert weights.shape == (3, 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(weights[mask == 0], 0.0)


def test_gated_fusion_weights_are_its_mean_gates(gated_model):
    x = random_inputs(gated_model, batch_size=3)
    mask = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 1]], "float32")
    weights = mmzoo.modality_weights(gated_model, dict(x, modality_mask=mask))
    assert weights.shape == (3, 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(weights[mask == 0], 0.0)
    # The weights are the gates averaged over features; the fused output is unchanged.
    fusion = mmzoo.fusion.GatedFusion(dim=4)
    embeddings = [np.random.default_rng(i).normal(size=(2, 3 + i)).astype("float32")
                  for i in range(2)]
    fused, gates = fusion(embeddings, return_weights=True)
    np.testing.assert_allclose(fused, fusion(embeddings), atol=1e-6)
    np.testing.assert_allclose(np.sum(gates, axis=1), 1.0, rtol=1e-5)


def test_modality_weights_need_a_weighing_fusion():
    model = mmzoo.build_model(
        {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)},
         "text": {"tower": "cnn", "input_shape": (6,), "vocab_size": 20}},
        fusion="concat", num_outputs=2)
    with pytest.raises(ValueError, match="fusion"):
        mmzoo.modality_weights(model, random_inputs(model, max_token=19))


def test_build_model_with_two_inputs_of_one_modality():
    model = mmzoo.build_model(
        {
            "image_left": {"tower": "conv", "input_shape": (16, 16, 1), "filters": (8,)},
            "image_right": {"tower": "conv", "input_shape": (16, 16, 1), "filters": (8,)},
        },
        fusion="mean",
        head="binary",
        num_outputs=1,
    )
    assert model.modalities == ["image_left", "image_right"]
    model.compile("adam")
    x = random_inputs(model)
    model.fit(tf.data.Dataset.from_tensors((x, np.array([[0.0], [1.0]]))), verbose=0)
    assert model.predict(x, verbose=0).shape == (2, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(inputs={}), "inputs"),
        (dict(inputs=[("image", {})]), "inputs"),
        (dict(inputs={"image": "conv"}), "image"),
        (dict(inputs={"image": {"input_shape": (8, 8, 1)}}), "tower"),
        (dict(inputs={"photo": {"tower": "conv"}}), "modality"),
        (dict(inputs={"image": {"tower": "vit"}}), r"tower='vit'.*|Valid image towers"),
        (dict(inputs={"image": {"tower": "conv", "widths": (8,)}}), r"widths.*Valid options"),
        (dict(inputs={"modality_mask": {"tower": "conv"}}), "modality_mask"),
        (dict(fusion="late"), r"Valid names: .*concat.*fusion='late'"),
        (dict(head="ranking"), r"head='ranking'"),
        (dict(num_outputs=0), "num_outputs"),
        (dict(modality_dropout=0.2), "modality_dropout"),
    ],
)
def test_build_model_argument_errors(kwargs, match):
    config = {"inputs": {"image": {"tower": "conv", "input_shape": (8, 8, 1)}}, **kwargs}
    with pytest.raises(ValueError, match=match):
        mmzoo.build_model(**config)


def test_create_model_errors_list_valid_names():
    with pytest.raises(ValueError, match=r"Valid names: .*avmnist_late_fusion.*name='nope'"):
        mmzoo.create_model("nope")
    with pytest.raises(ValueError, match="epochs"):
        mmzoo.create_model("avmnist_image_lenet", epochs=3)


def test_create_model_overrides_merge_nested():
    model = mmzoo.create_model(
        "trimodal_concat", inputs={"text": {"vocab_size": 77}}, num_outputs=4
    )
    assert model.get_layer("text_tower").get_layer("text_token_embedding").input_dim == 77
    assert model.output.shape[-1] == 4
    assert mmzoo.create_model("avmnist_image_lenet", name="digits").name == "digits"


def test_list_functions_filter():
    assert mmzoo.list_models("avmnist_*") == [
        "avmnist_audio_lenet",
        "avmnist_image_lenet",
        "avmnist_late_fusion",
    ]
    assert "image/resnet" in mmzoo.list_towers()
    assert mmzoo.list_towers("text/*") == ["text/cnn", "text/lstm", "text/pretrained",
                                           "text/transformer"]
    assert set(mmzoo.list_fusions()) >= {
        "concat", "sum", "mean", "gated", "attention", "tensor", "low_rank", "cross_attention"
    }
