import keras
import numpy as np
import pytest
from testing import run_layer_test

from mmzoo.heads import HEAD_KINDS, TaskHead

TARGETS = {
    "multiclass": (4, np.array([0, 3, 1, 2])),
    "binary": (1, np.array([[0.0], [1.0], [1.0], [0.0]])),
    "multilabel": (3, np.array([[0, 1, 1], [1, 0, 0], [0, 0, 1], [1, 1, 0]], "float32")),
    "regression": (2, np.array([[0.5, -1.0], [1.5, 2.0], [0.0, 0.1], [-0.3, 0.2]], "float32")),
}


def _model(head):
    inputs = keras.Input((6,))
    return keras.Model(inputs, head(inputs))


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_head_trains_with_its_default_loss_and_metrics(kind):
    num_outputs, y = TARGETS[kind]
    head = TaskHead(kind, num_outputs=num_outputs, hidden_units=(8,))
    model = _model(head)
    model.compile("adam", loss=head.default_loss(), metrics=head.default_metrics())
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    metric = "accuracy" if kind != "regression" else "mae"
    assert metric in history.history
    out = model.predict(x, verbose=0)
    assert out.shape == (4, num_outputs)
    if kind == "multiclass":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    if kind in ("binary", "multilabel"):
        assert np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_head_layer_contract(kind):
    # Config round trip, symbolic call, .keras reload, a training step that moves every
    # weight, and a mixed_float16 call.
    num_outputs = TARGETS[kind][0]
    class_names = [f"c{i}" for i in range(2 if kind == "binary" else num_outputs)]
    run_layer_test(
        TaskHead,
        dict(kind=kind, num_outputs=num_outputs, hidden_units=(5, 4), dropout=0.2,
             class_names=class_names),
        np.random.default_rng(1).normal(size=(4, 6)).astype("float32"),
        expected_output_shape=(4, num_outputs),
        expected_num_trainable_weights=6,
        expect_all_weights_train=True,
    )


def test_output_stays_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        head = TaskHead("multiclass", num_outputs=3)
        out = _model(head)(np.zeros((2, 6), "float32"))
    finally:
        keras.config.set_dtype_policy("float32")
    assert head.hidden_layers[0].compute_dtype == "float16"
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="ranking"), r"Valid heads: .*Received: head='ranking'"),
        (dict(num_outputs=0), "num_outputs=0"),
        (dict(num_outputs=2.5), "num_outputs"),
        (dict(kind="binary", num_outputs=2), "num_outputs=2"),
        (dict(kind="multiclass", num_outputs=1), "num_outputs=1"),
        (dict(hidden_units=(8, 0)), "hidden_units"),
        (dict(dropout=1.0), "dropout"),
        (dict(num_outputs=3, class_names=["a", "b"]), "class_names"),
        (dict(num_outputs=2, class_names=["a", "a"]), "class_names"),
    ],
)
def test_head_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskHead(**kwargs)
