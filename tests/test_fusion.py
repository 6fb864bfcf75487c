"""Tests of mmzoo.fusion: every registered fusion is built, trained, saved and mask-checked."""

import doctest
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from testing import (
    FUSION_STEPS,
    FUSION_WIDTHS,
    fusion_inputs,
    fusion_modality_mask,
    run_fusion_test,
)

from mmzoo.fusion import (
    FUSIONS,
    AttentionFusion,
    ConcatFusion,
    CrossAttentionFusion,
    GatedFusion,
    LowRankFusion,
    MeanFusion,
    ModalityDropout,
    SumFusion,
    TensorFusion,
    get_fusion,
    list_fusions,
)
from mmzoo.layers import CrossModalBlock

BATCH = 4
MODALITIES = ("image", "text", "audio")
WIDTHS = FUSION_WIDTHS
STEPS = FUSION_STEPS
# Small settings keep the tests fast; a fusion missing here is tested with its defaults.
SMALL = {
    "concat": {},
    "sum": {"dim": 8},
    "mean": {"dim": 8},
    "gated": {"dim": 8},
    "attention": {"dim": 8},
    "tensor": {"projection_dim": 3, "dim": 8},
    "low_rank": {"rank": 2, "dim": 8},
    "cross_attention": {"dim": 8, "num_heads": 2, "dropout": 0.0},
}
# Rows 0 and 2 lack one modality, row 3 lacks two, row 1 has all.
MODALITY_MASK = fusion_modality_mask(BATCH, len(MODALITIES))


def make_fusion(fusion_name, **overrides):
    return get_fusion(fusion_name)(**{**SMALL.get(fusion_name, {}), **overrides})


def make_inputs(name, seed=0, batch=BATCH):
    """Three modality embeddings, or sequences for a sequence fusion."""
    return fusion_inputs(get_fusion(name), batch, len(MODALITIES), seed)[0]


def text_sequence_mask(batch=BATCH):
    """The "text" (modality 1) sequence mask: real steps `testing.FUSION_LENGTHS`."""
    return fusion_inputs(get_fusion("cross_attention"), batch)[1]["sequence_masks"][1]


def extra_call_args(name, batch=BATCH):
    return fusion_inputs(get_fusion(name), batch)[1]


def output_dim(layer):
    return layer.dim if layer.dim is not None else sum(WIDTHS)


def build_model(name, with_mask=True):
    """A functional model: three inputs (+ modality mask), the fusion, Dense(3)."""
    fusion = make_fusion(name, name="fusion")
    sequences = fusion.uses_sequences
    inputs = {}
    for modality, width, steps in zip(MODALITIES, WIDTHS, STEPS):
        shape = (steps, width) if sequences else (width,)
        inputs[modality] = keras.Input(shape, name=modality)
    kwargs = {}
    if with_mask:
        inputs["modality_mask"] = keras.Input((len(MODALITIES),), name="modality_mask")
        kwargs["mask"] = inputs["modality_mask"]
    if sequences:
        inputs["text_mask"] = keras.Input((STEPS[1],), name="text_mask")
        kwargs["sequence_masks"] = [None, inputs["text_mask"], None]
    fused = fusion([inputs[m] for m in MODALITIES], **kwargs)
    logits = keras.layers.Dense(3, name="logits")(fused)
    return keras.Model(inputs, logits, name=f"{name}_model")


def model_data(name, with_mask=True):
    data = dict(zip(MODALITIES, make_inputs(name)))
    if with_mask:
        data["modality_mask"] = MODALITY_MASK
    if get_fusion(name).uses_sequences:
        data["text_mask"] = text_sequence_mask()
    return data


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1)


# --- registry -----------------------------------------------------------------


def test_registry_names_and_classes():
    expected = {
        "attention", "concat", "cross_attention", "gated", "low_rank", "mean", "sum", "tensor"
    }
    assert expected <= set(list_fusions())
    assert list_fusions("*attention") == ["attention", "cross_attention"]
    assert get_fusion("low_rank") is LowRankFusion
    for name in list_fusions():
        assert issubclass(get_fusion(name), keras.layers.Layer)


def test_unknown_fusion_lists_valid_names():
    with pytest.raises(ValueError, match="fusion='nope'") as info:
        get_fusion("nope")
    for name in list_fusions():
        assert name in str(info.value)


# --- every registered fusion --------------------------------------------------


@pytest.mark.parametrize("name", list_fusions())
def test_fusion_contract(name):
    # Config round trip (every __init__ argument in get_config), symbolic call, .keras
    # reload, one training step moving every weight, mixed_float16, and the masking
    # contract: no mask = all present; a masked modality (even inf) changes nothing.
    result = run_fusion_test(name, **SMALL.get(name, {}))
    assert tuple(result.outputs.shape) == (BATCH, output_dim(result.layer))
    assert type(result.restored.get_layer(result.layer.name)) is get_fusion(name)


@pytest.mark.parametrize("name", list_fusions())
def test_fusion_model_without_modality_mask(name):
    # Keras passes its own (None) per-tensor masks: the fusion must read them as "all present".
    model = build_model(name, with_mask=False)
    outputs = model(model_data(name, with_mask=False), training=False)
    assert tuple(outputs.shape) == (BATCH, 3)
    assert np.all(np.isfinite(outputs))


@pytest.mark.parametrize("name", list_fusions())
def test_default_arguments(name):
    layer = get_fusion(name)()
    fused = layer(make_inputs(name, batch=2), **extra_call_args(name, batch=2))
    assert tuple(fused.shape) == (2, output_dim(layer))


@pytest.mark.parametrize("name", list_fusions())
def test_outputs_finite_with_one_or_no_modality_present(name):
    layer = make_fusion(name)
    mask = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], "float32")
    fused = layer(make_inputs(name), mask=mask, training=False, **extra_call_args(name))
    assert np.all(np.isfinite(fused))


@pytest.mark.parametrize("name", list_fusions())
def test_mixed_precision_keeps_masks_exact(name):
    layer = make_fusion(name, dtype="mixed_bfloat16")
    inputs = make_inputs(name)
    extra = extra_call_args(name)
    fused = layer(inputs, mask=MODALITY_MASK, training=False, **extra)
    assert fused.dtype == "bfloat16"
    changed = inputs[:2] + [inputs[2] + 5.0]  # modality 2 is missing in rows 0 and 3
    moved = layer(changed, mask=MODALITY_MASK, training=False, **extra)
    fused, moved = np.asarray(fused, "float32"), np.asarray(moved, "float32")
    assert np.all(np.isfinite(fused))
    np.testing.assert_array_equal(moved[[0, 3]], fused[[0, 3]])


@pytest.mark.parametrize("name", list_fusions())
def test_xla_forward_matches_eager(name):
    layer = make_fusion(name)
    inputs = make_inputs(name)
    extra = extra_call_args(name)
    eager = layer(inputs, mask=MODALITY_MASK, training=False, **extra)
    compiled = tf.function(
        lambda x, m: layer(x, mask=m, training=False, **extra), jit_compile=True
    )
    np.testing.assert_allclose(compiled(inputs, MODALITY_MASK), eager, atol=1e-5)


@pytest.mark.parametrize(
    "name", [n for n in list_fusions() if get_fusion(n).min_modalities == 1]
)
def test_single_modality(name):
    layer = make_fusion(name)
    fused = layer(make_inputs(name)[:1])
    assert fused.shape[0] == BATCH


# --- family-specific behaviour ------------------------------------------------


def test_attention_weights_sum_to_one_over_present_modalities():
    layer = AttentionFusion(dim=8)
    fused, weights = layer(make_inputs("attention"), mask=MODALITY_MASK, return_weights=True)
    weights = np.asarray(weights)
    assert weights.shape == (BATCH, 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(weights[MODALITY_MASK == 0] == 0.0)
    assert np.all(weights[MODALITY_MASK == 1] > 0.0)
    plain = layer(make_inputs("attention"), mask=MODALITY_MASK)
    np.testing.assert_allclose(fused, plain, atol=1e-6)
    assert np.all(np.asarray(layer(make_inputs("attention"), mask=np.zeros((BATCH, 3)))) == 0.0)


def test_gated_two_modalities_is_sigmoid_gate():
    layer = GatedFusion(dim=4)
    a, b = make_inputs("gated")[:2]
    fused = np.asarray(layer([a, b]))
    h_a = np.tanh(a @ np.asarray(layer.candidates[0].kernel) + np.asarray(layer.candidates[0].bias))
    h_b = np.tanh(b @ np.asarray(layer.candidates[1].kernel) + np.asarray(layer.candidates[1].bias))
    logits = np.concatenate([a, b], -1) @ np.asarray(layer.gate.kernel)
    logits = logits + np.asarray(layer.gate.bias)
    z = 1.0 / (1.0 + np.exp(-(logits[:, :4] - logits[:, 4:])))
    np.testing.assert_allclose(fused, z * h_a + (1 - z) * h_b, atol=1e-5)


def test_mean_divides_by_present_modalities():
    layer = MeanFusion(dim=4)
    inputs = make_inputs("mean")
    mask = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 0]], "float32")
    fused = np.asarray(layer(inputs, mask=mask))
    projected = [np.asarray(p(x)) for p, x in zip(layer.projections, inputs)]
    np.testing.assert_allclose(fused[0], projected[0][0], atol=1e-6)
    np.testing.assert_allclose(fused[1], (projected[0][1] + projected[1][1]) / 2, atol=1e-6)
    np.testing.assert_allclose(fused[2], sum(p[2] for p in projected) / 3, atol=1e-6)
    np.testing.assert_allclose(fused[3], 0.0)
    summed = np.asarray(SumFusion(dim=4)(inputs, mask=mask))
    assert summed.shape == (BATCH, 4)


def test_concat_zeroes_missing_modalities():
    inputs = make_inputs("concat")
    fused = np.asarray(ConcatFusion()(inputs, mask=MODALITY_MASK))
    expected = np.concatenate([x * MODALITY_MASK[:, i : i + 1] for i, x in enumerate(inputs)], -1)
    np.testing.assert_allclose(fused, expected)
    assert ConcatFusion(dim=5)(inputs).shape == (BATCH, 5)


def test_tensor_fusion_size_and_low_rank_shapes():
    layer = TensorFusion(projection_dim=3, dim=8)
    layer(make_inputs("tensor"))
    assert layer.output_dense.kernel.shape == (4**3, 8)
    low = LowRankFusion(rank=3, dim=8)
    low(make_inputs("low_rank"))
    assert [tuple(f.shape) for f in low.factors] == [(3, w + 1, 8) for w in WIDTHS]
    assert tuple(low.fusion_weights.shape) == (1, 3)


def test_cross_attention_ignores_padded_steps():
    layer = CrossAttentionFusion(dim=8, num_heads=2)
    inputs = make_inputs("cross_attention")
    sequence_mask = text_sequence_mask()
    extra = {"sequence_masks": [None, sequence_mask, None]}
    reference = np.asarray(layer(inputs, training=False, **extra))
    changed = list(inputs)
    changed[1] = np.where(sequence_mask[:, :, None] > 0, inputs[1], 100.0).astype("float32")
    moved = layer(changed, training=False, **extra)
    np.testing.assert_allclose(moved, reference, rtol=0, atol=1e-5)
    # ...while a real step does matter.
    changed[1] = inputs[1] + 1.0
    assert not np.allclose(layer(changed, training=False, **extra), reference, atol=1e-4)


def test_cross_attention_dropout_only_in_training():
    layer = CrossAttentionFusion(dim=8, num_heads=2, dropout=0.5)
    inputs = make_inputs("cross_attention")
    inference = layer(inputs, mask=MODALITY_MASK)
    np.testing.assert_array_equal(layer(inputs, mask=MODALITY_MASK, training=False), inference)
    trained = layer(inputs, mask=MODALITY_MASK, training=True)
    assert np.all(np.isfinite(trained))
    assert not np.allclose(trained, inference)


def test_cross_attention_in_model_without_sequence_masks():
    inputs = [keras.Input((s, w)) for s, w in zip(STEPS, WIDTHS)]
    fused = CrossAttentionFusion(dim=8, num_heads=2)(inputs, sequence_masks=[None, None, None])
    model = keras.Model(inputs, fused)
    assert tuple(model(make_inputs("cross_attention")).shape) == (BATCH, 8)


@pytest.mark.parametrize("encoding", ["learned", None])
def test_cross_attention_position_encodings(encoding):
    layer = CrossAttentionFusion(dim=8, num_heads=2, num_layers=2, positional_encoding=encoding)
    fused = layer(make_inputs("cross_attention"), mask=MODALITY_MASK)
    assert tuple(fused.shape) == (BATCH, 8)
    assert len(layer.blocks) == 6 * 2
    assert layer.uses_sequences and not ConcatFusion.uses_sequences


# --- ModalityDropout ----------------------------------------------------------


def test_modality_dropout_is_identity_at_inference():
    layer = ModalityDropout(rate=0.5, seed=3)
    inputs = make_inputs("concat")
    np.testing.assert_array_equal(layer(inputs, mask=MODALITY_MASK), MODALITY_MASK)
    np.testing.assert_array_equal(layer(inputs, mask=MODALITY_MASK, training=False), MODALITY_MASK)
    np.testing.assert_array_equal(layer(inputs), np.ones((BATCH, 3)))
    np.testing.assert_array_equal(layer(inputs, mask=[None] * 3), np.ones((BATCH, 3)))


def test_modality_dropout_rate_and_never_all():
    rate, batch, num = 0.3, 20000, 3
    layer = ModalityDropout(rate=rate, seed=7)
    embeddings = [np.zeros((batch, 1), "float32")] * num
    mask = np.asarray(layer(embeddings, training=True))
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert np.all(mask.sum(axis=1) >= 1)
    # Each entry drops with `rate`, except in the `rate ** num` draws that would drop all.
    expected = rate - rate**num
    assert abs((1 - mask).mean() - expected) < 0.015
    # Never revives a missing modality, never empties an example.
    partial = np.resize(MODALITY_MASK, (batch, num))
    dropped = np.asarray(layer(embeddings, mask=partial, training=True))
    assert np.all(dropped <= partial)
    assert np.all(dropped.sum(axis=1) >= 1)
    single = partial.sum(axis=1) == 1
    np.testing.assert_array_equal(dropped[single], partial[single])
    # Fresh draws on each call.
    assert not np.array_equal(np.asarray(layer(embeddings, training=True)), mask)


def test_modality_dropout_in_model_trains_and_reloads(tmp_path):
    inputs = {m: keras.Input((w,), name=m) for m, w in zip(MODALITIES, WIDTHS)}
    inputs["modality_mask"] = keras.Input((3,), name="modality_mask")
    embeddings = [inputs[m] for m in MODALITIES]
    mask = ModalityDropout(rate=0.5, seed=2, name="modality_dropout")(
        embeddings, mask=inputs["modality_mask"]
    )
    fused = ConcatFusion(name="fusion")(embeddings, mask=mask)
    model = keras.Model(inputs, keras.layers.Dense(3)(fused))
    data = model_data("concat")
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    dataset = tf.data.Dataset.from_tensor_slices((data, np.arange(BATCH) % 3)).batch(BATCH)
    model.fit(dataset, epochs=2, verbose=0, shuffle=False)
    path = str(tmp_path / "dropout.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(data), model(data), rtol=0, atol=1e-6)
    config = model.get_layer("modality_dropout").get_config()
    assert loaded.get_layer("modality_dropout").get_config() == config


# --- argument checks ----------------------------------------------------------


@pytest.mark.parametrize(
    "factory, argument",
    [
        (lambda: ConcatFusion(dim=0), "dim"),
        (lambda: SumFusion(dim=-1), "dim"),
        (lambda: MeanFusion(dim="8"), "dim"),
        (lambda: GatedFusion(dim=0), "dim"),
        (lambda: AttentionFusion(dim=1.5), "dim"),
        (lambda: TensorFusion(projection_dim=0), "projection_dim"),
        (lambda: TensorFusion(dim=0), "dim"),
        (lambda: TensorFusion(dropout=1.0), "dropout"),
        (lambda: LowRankFusion(rank=0), "rank"),
        (lambda: LowRankFusion(dim=True), "dim"),
        (lambda: CrossAttentionFusion(dim=0), "dim"),
        (lambda: CrossAttentionFusion(num_heads=0), "num_heads"),
        (lambda: CrossAttentionFusion(dim=10, num_heads=4), "num_heads"),
        (lambda: CrossAttentionFusion(num_layers=0), "num_layers"),
        (lambda: CrossAttentionFusion(dropout=-0.1), "dropout"),
        (lambda: CrossAttentionFusion(intermediate_dim=0), "intermediate_dim"),
        (lambda: CrossAttentionFusion(positional_encoding="rope"), "positional_encoding"),
        (lambda: CrossModalBlock(dim=8, num_heads=3, intermediate_dim=16), "num_heads"),
        (lambda: ModalityDropout(rate=1.0), "rate"),
        (lambda: ModalityDropout(rate=-0.1), "rate"),
        (lambda: ModalityDropout(seed="1"), "seed"),
    ],
)
def test_constructor_argument_checks(factory, argument):
    with pytest.raises(ValueError, match=f"Received: {argument}="):
        factory()


def test_tensor_fusion_rejects_huge_outer_product():
    with pytest.raises(ValueError, match="projection_dim=200"):
        TensorFusion(projection_dim=200)(make_inputs("tensor"))


def test_cross_attention_needs_two_sequences():
    with pytest.raises(ValueError, match="at least 2 modalities"):
        CrossAttentionFusion(dim=8, num_heads=2)(make_inputs("cross_attention")[:1])
    with pytest.raises(ValueError, match="sequences"):
        CrossAttentionFusion(dim=8, num_heads=2)(make_inputs("concat"))


def test_cross_attention_learned_encoding_needs_known_lengths():
    inputs = [keras.Input((None, 4)), keras.Input((3, 4))]
    with pytest.raises(ValueError, match="positional_encoding='learned'"):
        CrossAttentionFusion(dim=8, num_heads=2, positional_encoding="learned")(inputs)


def test_cross_attention_checks_sequence_masks_length():
    with pytest.raises(ValueError, match="sequence_masks"):
        CrossAttentionFusion(dim=8, num_heads=2)(
            make_inputs("cross_attention"), sequence_masks=[None]
        )


@pytest.mark.parametrize("name", list_fusions())
def test_input_checks(name):
    with pytest.raises(ValueError, match="list"):
        make_fusion(name)(make_inputs(name)[0])
    with pytest.raises(ValueError, match="mask.shape"):
        make_fusion(name)(make_inputs(name), mask=np.ones((BATCH, 2)), **extra_call_args(name))


def test_modality_dropout_needs_a_list():
    with pytest.raises(ValueError, match="list"):
        ModalityDropout()(np.ones((2, 3)))


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        FUSIONS.register("concat", ConcatFusion)


@pytest.mark.parametrize(
    "module", ["__init__", "base", "concat", "gated", "attention", "tensor", "cross_attention",
               "modality_dropout"],
)
def test_every_fusion_module_has_examples(module):
    # The examples themselves run with the package's doctests (setup.cfg).
    name = "mmzoo.fusion" if module == "__init__" else f"mmzoo.fusion.{module}"
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    assert sum(len(test.examples) for test in tests) > 0
