"""Test helpers in the manner of keras-hub's `TestCase`: one call runs the standard checks.

- `run_layer_test`: build, symbolic and eager calls agree, `get_config` round trip,
  `.keras` save and `safe_mode=True` reload with identical outputs, one `fit` step,
  a `mixed_float16` call.
- `run_tower_test`: a tower from `mmzoo.towers.get_tower`: its output dict, a training
  step through a small head, save and reload.
- `run_fusion_test`: a fusion from the `mmzoo.fusion` registry over 2 or 3 modalities:
  `run_layer_test` with a modality mask, plus the masking contract (a missing modality
  changes nothing, not even when it holds inf).
- `random_inputs`, `assert_save_load_identical`: random batches for a model's named
  inputs, and a save/reload comparison of predictions.

Each `run_*` helper returns a `types.SimpleNamespace` of what it built (layer or model,
inputs, outputs, reloaded model) for the caller's own assertions.
"""

import copy
import inspect
import os
import tempfile
import types

import keras
import numpy as np
import tensorflow as tf

# --- nested structures of arrays ------------------------------------------------------


def _is_array(value):
    return isinstance(value, (np.ndarray, tf.Tensor, keras.KerasTensor)) or keras.ops.is_tensor(
        value
    )


def _map(structure, fn):
    """Applies `fn` to every array leaf of nested lists/tuples/dicts; other leaves stay."""
    if isinstance(structure, dict):
        return {key: _map(value, fn) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map(value, fn) for value in structure)
    return fn(structure) if _is_array(structure) else structure


def _leaves(structure):
    """The array leaves of a nested structure, in order (None and scalars left out)."""
    found = []
    _map(structure, lambda leaf: found.append(leaf) or leaf)
    return found


def _keras_dtype(array):
    array = np.asarray(array) if not isinstance(array, tf.Tensor) else array
    if isinstance(array, tf.Tensor):
        return "string" if array.dtype == tf.string else array.dtype.name
    return "string" if array.dtype.kind in "OSU" else str(array.dtype)


def _is_float(value):
    return "float" in keras.backend.standardize_dtype(value.dtype)


def _numpy(value):
    value = keras.ops.convert_to_numpy(value)
    return value.astype("float32") if value.dtype == np.float16 else value


class _Symbolic:
    """keras.Input placeholders for the array leaves of some call arguments."""

    def __init__(self):
        self.inputs = []

    def __call__(self, array):
        tensor = keras.Input(
            shape=tuple(array.shape[1:]), dtype=_keras_dtype(array), name=f"input_{len(self.inputs)}"
        )
        self.inputs.append(tensor)
        return tensor


def _model_data(arrays):
    """Arrays in the form a functional model of `len(arrays)` inputs takes them."""
    arrays = [
        tf.constant(np.asarray(a).astype(object)) if _keras_dtype(a) == "string"
        else tf.convert_to_tensor(a)
        for a in arrays
    ]
    return arrays[0] if len(arrays) == 1 else tuple(arrays)


def assert_all_close(actual, expected, rtol=1e-5, atol=1e-6, message=""):
    """Compares two nested structures of tensors leaf by leaf (shape, then values)."""
    actual, expected = _leaves(actual), _leaves(expected)
    assert len(actual) == len(expected), f"{message}: {len(actual)} vs {len(expected)} outputs"
    for got, want in zip(actual, expected):
        got, want = _numpy(got), _numpy(want)
        assert got.shape == want.shape, f"{message}: shape {got.shape} vs {want.shape}"
        if got.dtype.kind in "fc":
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=message)
        else:
            np.testing.assert_array_equal(got, want, err_msg=message)


def _assert_finite(outputs, message):
    for value in _leaves(outputs):
        if _is_float(value):
            assert np.all(np.isfinite(_numpy(value))), f"{message}: non-finite output"


def _shape_tuple(shape):
    return tuple(None if d is None else int(d) for d in shape)


# --- run_layer_test -------------------------------------------------------------------


def run_layer_test(
    layer_or_cls,
    init_kwargs=None,
    input_data=None,
    expected_output_shape=None,
    *,
    call_kwargs=None,
    expected_output_dtype=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_symbolic_check=True,
    run_saving_check=True,
    run_training_check=True,
    run_mixed_precision_check=True,
    expect_all_weights_train=False,
    check_init_args_in_config=True,
    rtol=1e-5,
    atol=1e-6,
    seed=0,
):
    """Runs the standard checks of one Keras layer; fails with an assertion if one fails.

    Args:
        layer_or_cls: a layer class (built as `cls(**init_kwargs)`) or a layer instance
            (fresh copies come from `type(layer).from_config(layer.get_config())`).
        init_kwargs: constructor arguments when `layer_or_cls` is a class.
        input_data: the first call argument: an array, or a list/tuple/dict of arrays
            (string data as numpy arrays of `str`/`bytes`). Batch axis first.
        expected_output_shape: the eager output's shape (a tuple), or a list/dict of
            shapes in the output's structure.
        call_kwargs: further call arguments; arrays in them (a modality mask, a
            second sequence) become model inputs in the symbolic and saving checks.
        expected_output_dtype: dtype name of the (single) output, e.g. `"float32"`.
        expected_num_trainable_weights: after the first call, if given.
        expected_num_non_trainable_weights: after the first call, if given.
        run_symbolic_check: call on `keras.Input` placeholders and compare the shapes
            and dtypes of the symbolic outputs with the eager ones.
        run_saving_check: `.keras` save and `safe_mode=True` reload of a functional
            model around the layer; the reloaded outputs must match.
        run_training_check: when the layer has trainable weights, one `fit` step on
            a mean-squared-error target; the loss must be finite and weights move.
        run_mixed_precision_check: a call under the global `"mixed_float16"` policy
            (restored to `"float32"` afterwards); outputs must be finite and the
            weights stay float32.
        expect_all_weights_train: every trainable weight (not just one) must change
            in the training step.
        check_init_args_in_config: every `__init__` argument must be a `get_config` key.
        rtol, atol: tolerances of the output comparisons.
        seed: seed of `keras.utils.set_random_seed` and of the training targets.

    Returns:
        A `types.SimpleNamespace` with `layer` (called once), `outputs` (its eager
        outputs), `model` (the functional model, trained when a training step ran)
        and `restored` (the reloaded model, or None).
    """
    keras.utils.set_random_seed(seed)
    call_kwargs = dict(call_kwargs or {})
    if inspect.isclass(layer_or_cls):
        cls, kwargs = layer_or_cls, dict(init_kwargs or {})

        def make_layer(**overrides):
            return cls(**{**kwargs, **overrides})

        layer = make_layer()
    else:
        layer, cls = layer_or_cls, type(layer_or_cls)
        base_config = layer.get_config()

        def make_layer(**overrides):
            config = {k: v for k, v in base_config.items() if k not in overrides}
            return cls.from_config({**config, **overrides})

    name = cls.__name__

    # Eager call (builds the layer).
    outputs = layer(input_data, **call_kwargs)
    _assert_finite(outputs, f"{name} eager call")
    if expected_output_shape is not None:
        actual = _map(outputs, lambda t: tuple(t.shape))
        expected = _map_shapes(expected_output_shape)
        assert _shape_struct(actual) == expected, (
            f"{name}: output shape {actual}, expected {expected_output_shape}"
        )
    if expected_output_dtype is not None:
        assert keras.backend.standardize_dtype(outputs.dtype) == expected_output_dtype
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    _check_config_round_trip(layer, cls, check_init_args_in_config)

    result = types.SimpleNamespace(layer=layer, outputs=outputs, model=None, restored=None)
    if not (run_symbolic_check or run_saving_check or run_training_check):
        _maybe_mixed_precision(run_mixed_precision_check, make_layer, input_data, call_kwargs, name)
        return result

    # Symbolic call of a fresh layer, inside a functional model.
    placeholder = _Symbolic()
    symbolic_input = _map(input_data, placeholder)
    symbolic_kwargs = _map(call_kwargs, placeholder)
    fresh = make_layer()
    symbolic_outputs = fresh(symbolic_input, **symbolic_kwargs)
    data = _model_data(_leaves(input_data) + _leaves(call_kwargs))
    if run_symbolic_check:
        eager, symbolic = _leaves(outputs), _leaves(symbolic_outputs)
        assert len(eager) == len(symbolic), f"{name}: symbolic and eager outputs differ in number"
        for e, s in zip(eager, symbolic):
            assert s.shape[0] is None, f"{name}: symbolic batch axis {s.shape[0]}, not None"
            assert _shape_tuple(s.shape[1:]) == tuple(e.shape[1:]), (
                f"{name}: symbolic shape {s.shape} but eager shape {tuple(e.shape)}"
            )
            assert keras.backend.standardize_dtype(s.dtype) == keras.backend.standardize_dtype(
                e.dtype
            ), f"{name}: symbolic dtype {s.dtype} but eager dtype {e.dtype}"
    model = keras.Model(placeholder.inputs, symbolic_outputs, name=f"{name.lower()}_test_model")
    result.model = model
    model_outputs = model(data, training=False)
    _assert_finite(model_outputs, f"{name} in a functional model")

    if run_saving_check:
        result.restored = _check_saving(model, data, fresh, rtol, atol, name)

    if run_training_check and fresh.trainable_weights:
        _check_training(model, fresh, data, expect_all_weights_train, seed, name)

    _maybe_mixed_precision(run_mixed_precision_check, make_layer, input_data, call_kwargs, name)
    return result


def _map_shapes(expected):
    if isinstance(expected, dict):
        return {k: _map_shapes(v) for k, v in expected.items()}
    if isinstance(expected, list) or (
        isinstance(expected, tuple) and expected and isinstance(expected[0], (tuple, list))
    ):
        return [_map_shapes(v) for v in expected]
    return tuple(expected)


def _shape_struct(shapes):
    if isinstance(shapes, dict):
        return {k: _shape_struct(v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], tuple):
        return [_shape_struct(v) for v in shapes]
    return tuple(shapes)


def _check_config_round_trip(layer, cls, check_init_args):
    name = cls.__name__
    config = layer.get_config()
    if check_init_args:
        for argument, parameter in inspect.signature(cls.__init__).parameters.items():
            if argument == "self" or parameter.kind in (
                parameter.VAR_POSITIONAL,
                parameter.VAR_KEYWORD,
            ):
                continue
            assert argument in config, f"{name}: `{argument}` missing from get_config()"
    clone = cls.from_config(copy.deepcopy(config))
    assert clone.get_config() == config, f"{name}: from_config(get_config()) changed the config"
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is cls, f"{name}: deserialized as {type(revived).__name__}"
    assert revived.get_config() == config


def _check_saving(model, data, layer, rtol, atol, name):
    expected = model(data, training=False)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "layer.keras")
        model.save(path)
        restored = keras.saving.load_model(path, safe_mode=True)
    assert type(restored.get_layer(layer.name)) is type(layer), f"{name}: reloaded type differs"
    assert_all_close(
        restored(data, training=False), expected, rtol, atol, f"{name}: reloaded outputs"
    )
    return restored


def _check_training(model, layer, data, expect_all, seed, name):
    """One SGD step towards random targets on the float outputs; weights must move."""
    float_outputs = [t for t in model.outputs if _is_float(t)]
    assert float_outputs, f"{name} has trainable weights but no float output to train"
    trainer = keras.Model(model.inputs, float_outputs)
    rng = np.random.default_rng(seed)
    targets = [
        _numpy(value) + rng.normal(size=value.shape).astype("float32")
        for value in keras.tree.flatten(trainer(data, training=False))
    ]
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss=["mse"] * len(targets))
    before = [np.array(w) for w in layer.trainable_weights]
    dataset = tf.data.Dataset.from_tensors((data, tuple(targets)))
    history = trainer.fit(dataset, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0]), f"{name}: training loss not finite"
    moved = [
        not np.array_equal(old, np.array(w)) for old, w in zip(before, layer.trainable_weights)
    ]
    assert any(moved), f"{name}: no trainable weight changed in a training step"
    if expect_all:
        stuck = [w.path for w, m in zip(layer.trainable_weights, moved) if not m]
        assert not stuck, f"{name}: weights did not train: {stuck}"


def _maybe_mixed_precision(enabled, make_layer, input_data, call_kwargs, name):
    if not enabled:
        return
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        # Without the recorded float32 `dtype`, so the global policy applies.
        layer = make_layer(dtype=None)
        outputs = layer(input_data, **call_kwargs)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    _assert_finite(outputs, f"{name} under mixed_float16")
    for weight in layer.weights:
        if "float" in weight.dtype:
            assert weight.dtype == "float32", f"{name}: weight {weight.path} is {weight.dtype}"


# --- models: random inputs, save/reload -----------------------------------------------


def random_inputs(model, batch_size=2, seed=0, max_token=50, padded=False):
    """A dict of random inputs for `model`'s named inputs (no `modality_mask`).

    Integer inputs get token ids in [1, max_token) (with `padded`, the second half of
    example 1 is padding, id 0); rank-2 float inputs waveforms in [-1, 1); other float
    inputs values in [0, 1).
    """
    rng = np.random.default_rng(seed)
    batch = {}
    for tensor in model.inputs:
        if tensor.name == "modality_mask":
            continue
        shape = (batch_size, *tensor.shape[1:])
        if "int" in str(tensor.dtype):
            ids = rng.integers(1, max_token, size=shape).astype("int32")
            if padded and batch_size > 1:
                ids[1, shape[1] // 2 :] = 0
            batch[tensor.name] = ids
        elif len(shape) == 2:  # waveform
            batch[tensor.name] = rng.uniform(-1, 1, size=shape).astype("float32")
        else:
            batch[tensor.name] = rng.uniform(0, 1, size=shape).astype("float32")
    return batch


def assert_save_load_identical(model, inputs, path):
    """Saves `model` as .keras, reloads it with safe_mode=True, compares predictions."""
    expected = model.predict(inputs, verbose=0)
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert_all_close(restored.predict(inputs, verbose=0), expected, message="reloaded model")
    return restored


# --- run_tower_test -------------------------------------------------------------------


def run_tower_test(
    modality,
    family,
    input_shape,
    *,
    batch_size=2,
    seed=0,
    expected_embedding_dim=None,
    run_training_check=True,
    run_saving_check=True,
    **options,
):
    """Builds `get_tower(modality, family)(input_shape, **options)` and checks its contract.

    Checks: the model is named `"<name>_tower"` with one input `name`; outputs
    `"embedding"` `(batch, dim)` and `"sequence"` `(batch, steps, channels)` (text
    towers also `"sequence_mask"` `(batch, steps)`, equal to `ids != 0`, and zero
    sequence features at padding); eager shapes match the symbolic ones; outputs are
    finite; one `fit` step through a `Dense(3)` softmax head gives a finite loss and
    moves the tower's weights; a `.keras` save and `safe_mode=True` reload predicts
    the same outputs.

    Args:
        modality, family: the tower's registry name, e.g. `"image"`, `"conv"`.
        input_shape: input shape without the batch axis.
        batch_size, seed: of the random inputs (`random_inputs`, text padded).
        expected_embedding_dim: the embedding width, if it should be checked.
        run_training_check, run_saving_check: turn those checks off.
        **options: the tower builder's options (`name=` included).

    Returns:
        A `types.SimpleNamespace` with `model`, `inputs` (the numpy batch), `outputs`
        (its predictions, a dict) and `restored` (the reloaded tower, or None).
    """
    from mmzoo.towers import get_tower

    keras.utils.set_random_seed(seed)
    model = get_tower(modality, family)(input_shape, **options)
    input_name = options.get("name", modality)
    label = f"{modality}/{family}"
    assert model.name == f"{input_name}_tower", model.name
    assert [t.name for t in model.inputs] == [input_name]
    expected_keys = {"embedding", "sequence"} | ({"sequence_mask"} if modality == "text" else set())
    assert set(model.output) == expected_keys, f"{label}: outputs {sorted(model.output)}"
    embedding, sequence = model.output["embedding"], model.output["sequence"]
    assert len(embedding.shape) == 2 and embedding.shape[1] is not None, embedding.shape
    assert len(sequence.shape) == 3 and None not in sequence.shape[1:], sequence.shape
    if expected_embedding_dim is not None:
        assert embedding.shape[1] == expected_embedding_dim, embedding.shape

    max_token = min(options.get("vocab_size", 60), 60)
    x = random_inputs(model, batch_size, seed, max_token=max_token, padded=True)[input_name]
    outputs = model.predict(x, verbose=0)
    for key, symbolic in model.output.items():
        assert outputs[key].shape == (batch_size, *symbolic.shape[1:]), (
            f"{label}: {key} {outputs[key].shape} vs symbolic {symbolic.shape}"
        )
        assert np.all(np.isfinite(outputs[key])), f"{label}: {key} not finite"
    if modality == "text":
        assert model.output["sequence_mask"].shape[1] == model.inputs[0].shape[1]
        assert sequence.shape[1] == model.inputs[0].shape[1]
        assert outputs["sequence_mask"].dtype == np.float32
        np.testing.assert_array_equal(outputs["sequence_mask"], (x != 0).astype("float32"))
        np.testing.assert_array_equal(outputs["sequence"][x == 0], 0.0)

    if run_training_check:
        _train_tower_step(model, x, input_name, seed, label)
        outputs = model.predict(x, verbose=0)

    restored = None
    if run_saving_check:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "tower.keras")
            model.save(path)
            restored = keras.saving.load_model(path, safe_mode=True)
        assert restored.name == model.name
        assert_all_close(restored.predict(x, verbose=0), outputs, message=f"{label} reloaded")
    return types.SimpleNamespace(model=model, inputs=x, outputs=outputs, restored=restored)


def _train_tower_step(model, x, input_name, seed, label):
    head_input = keras.Input(
        model.inputs[0].shape[1:], dtype=model.inputs[0].dtype, name=input_name
    )
    probs = keras.layers.Dense(3, activation="softmax", name="head")(
        model(head_input)["embedding"]
    )
    classifier = keras.Model({input_name: head_input}, probs)
    classifier.compile("adam", "sparse_categorical_crossentropy")
    labels = np.arange(len(x)) % 3
    before = [np.array(w) for w in model.trainable_weights]
    data = tf.data.Dataset.from_tensors(({input_name: x}, labels))
    history = classifier.fit(data, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0]), f"{label}: loss not finite"
    moved = [not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights)]
    assert any(moved), f"{label}: no tower weight changed in a training step"


# --- run_fusion_test ------------------------------------------------------------------

FUSION_WIDTHS = (8, 12, 16)
FUSION_STEPS = (5, 7, 3)
# Real steps of modality 1's sequence per example (the sequence mask of sequence fusions).
FUSION_LENGTHS = (7, 5, 2, 7)


def fusion_modality_mask(batch_size=4, num_modalities=3):
    """A `(batch, M)` mask: row 0 lacks the last modality, row 2 the first, row 3 all
    but the first; the others have all. Every row keeps at least one modality."""
    mask = np.ones((batch_size, num_modalities), "float32")
    mask[0, -1] = 0.0
    if batch_size > 2:
        mask[2, 0] = 0.0
    if batch_size > 3:
        mask[3, 1:] = 0.0
    return mask


def fusion_inputs(fusion_cls, batch_size=4, num_modalities=3, seed=0):
    """Random per-modality inputs for a fusion class, and its extra call arguments.

    Returns `(inputs, extra)`: `inputs` a list of `(batch, width)` embeddings, or
    `(batch, steps, width)` sequences when `fusion_cls.uses_sequences`; `extra` holds
    `sequence_masks` (modality 1 padded to `FUSION_LENGTHS`) for sequence fusions.
    """
    rng = np.random.default_rng(seed)
    widths, steps = FUSION_WIDTHS[:num_modalities], FUSION_STEPS[:num_modalities]
    if fusion_cls.uses_sequences:
        shapes = [(batch_size, s, w) for s, w in zip(steps, widths)]
    else:
        shapes = [(batch_size, w) for w in widths]
    inputs = [rng.normal(size=shape).astype("float32") for shape in shapes]
    extra = {}
    if fusion_cls.uses_sequences:
        lengths = np.minimum(np.resize(np.array(FUSION_LENGTHS), batch_size), steps[1])
        sequence_mask = (np.arange(steps[1])[None, :] < lengths[:, None]).astype("float32")
        extra["sequence_masks"] = [None, sequence_mask] + [None] * (num_modalities - 2)
    return inputs, extra


def run_fusion_test(
    name,
    *,
    num_modalities=3,
    batch_size=4,
    seed=0,
    expected_dim=None,
    expect_all_weights_train=True,
    run_mask_check=True,
    run_saving_check=True,
    run_mixed_precision_check=True,
    **options,
):
    """Builds the fusion registered as `name` and checks it over 2 or 3 modalities.

    Runs `run_layer_test` (config round trip, symbolic call, save/reload, one training
    step in which every weight trains, a `mixed_float16` call) with inputs from
    `fusion_inputs` and the mask of `fusion_modality_mask`, then the masking contract:
    no mask, a mask of ones and a list of `None` masks give the same output; for each
    modality, changing (or filling with inf) its input in the rows where it is masked
    leaves those rows exactly unchanged, while rows where it is present beside another
    modality change.

    Args:
        name: registered fusion name, e.g. `"gated"`.
        num_modalities: 2 or 3.
        batch_size: at least 4 (the mask pattern uses 4 rows).
        seed: of the inputs and the layer initialization.
        expected_dim: output width; default `layer.dim`, or the sum of the widths
            when that is None.
        expect_all_weights_train, run_mask_check, run_saving_check,
            run_mixed_precision_check: options of the checks.
        **options: the fusion's constructor arguments.

    Returns:
        The `run_layer_test` namespace, plus `inputs`, `mask` and `extra` (the
        additional call arguments).
    """
    from mmzoo.fusion import get_fusion

    cls = get_fusion(name)
    inputs, extra = fusion_inputs(cls, batch_size, num_modalities, seed)
    mask = fusion_modality_mask(batch_size, num_modalities)
    layer = cls(**options)
    if expected_dim is None:
        dim = getattr(layer, "dim", None)
        expected_dim = dim if dim is not None else sum(x.shape[-1] for x in inputs)
    result = run_layer_test(
        layer,
        input_data=inputs,
        call_kwargs={"mask": mask, **extra},
        expected_output_shape=(batch_size, expected_dim),
        run_saving_check=run_saving_check,
        run_mixed_precision_check=run_mixed_precision_check,
        expect_all_weights_train=expect_all_weights_train,
        seed=seed,
    )
    layer = result.layer
    if run_mask_check:
        _check_fusion_masking(layer, inputs, mask, extra, seed, name)
    result.inputs, result.mask, result.extra = inputs, mask, extra
    return result


def _check_fusion_masking(layer, inputs, mask, extra, seed, name):
    def fuse(values, modality_mask=None):
        return np.asarray(layer(values, mask=modality_mask, training=False, **extra))

    plain = fuse(inputs)
    np.testing.assert_allclose(fuse(inputs, np.ones_like(mask)), plain, atol=1e-6)
    np.testing.assert_allclose(fuse(inputs, [None] * len(inputs)), plain, atol=1e-6)

    reference = fuse(inputs, mask)
    noise = np.random.default_rng(seed + 1)
    for modality, x in enumerate(inputs):
        missing = np.flatnonzero(mask[:, modality] == 0)
        # Rows where it is present beside another modality (a cross-modal fusion
        # has nothing to attend to in a row with a single modality).
        present = np.flatnonzero((mask[:, modality] > 0) & (mask.sum(axis=1) >= 2))
        changed = list(inputs)
        changed[modality] = (x + 3.0 * noise.normal(size=x.shape)).astype("float32")
        moved = fuse(changed, mask)
        np.testing.assert_allclose(
            moved[missing], reference[missing], rtol=0, atol=1e-6,
            err_msg=f"{name}: masked modality {modality} changed the output",
        )
        for row in present:
            assert not np.allclose(moved[row], reference[row], atol=1e-4), (
                f"{name}: row {row} ignored modality {modality}"
            )
        # inf in a missing modality's input must not leak either.
        keep = mask[:, modality].reshape((-1,) + (1,) * (x.ndim - 1)) > 0
        changed[modality] = np.where(keep, x, np.inf).astype("float32")
        np.testing.assert_allclose(
            fuse(changed, mask)[missing], reference[missing], rtol=0, atol=1e-6,
            err_msg=f"{name}: inf in masked modality {modality} leaked",
        )


# --- the tiny training config ---------------------------------------------------------

# A small trimodal run on the embedded dataset that trains in seconds.
TINY_CONFIG = {
    "name": "tiny",
    "dataset": {"options": {"num_train": 128, "num_validation": 32, "num_test": 32}},
    "model": {
        "preset": None,
        "inputs": {
            "image": {"tower": "conv", "filters": [4, 8], "embedding_dim": 8},
            "text": {"tower": "cnn", "filters": 4, "embedding_size": 8, "embedding_dim": 8,
                     "vocab_size": 200},
            "audio": {"tower": "log_mel_conv", "filters": [4, 8], "n_mels": 16,
                      "embedding_dim": 8},
        },
        "fusion": "concat",
        "modality_dropout": 0.1,
        "head_options": {"hidden_units": [16], "dropout": 0.1},
    },
    "training": {"epochs": 2, "batch_size": 32},
    "output": {"verbose": 0},
}


def _merged(base, changes):
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def make_tiny_config(folder, **sections):
    """A fresh copy of `TINY_CONFIG` whose runs and exports go under `folder`.

    Args:
        folder: a temporary folder (`runs/` and `saved_models/` are made inside it
            by a run, never in the repository).
        **sections: changes merged in key by key (nested dicts are merged, other
            values replace), e.g. `model={"fusion": "mean"}`, `name="cli"`.

    Returns:
        A config dict for `mmzoo.config.load_config` / `mmzoo.train`.

    >>> config = make_tiny_config("/tmp/x", model={"fusion": "mean"}, training={"epochs": 1})
    >>> config["model"]["fusion"], config["model"]["inputs"]["image"]["tower"]
    ('mean', 'conv')
    >>> config["training"], config["output"]["runs_dir"]
    ({'epochs': 1, 'batch_size': 32}, '/tmp/x/runs')
    """
    config = _merged(copy.deepcopy(TINY_CONFIG), sections)
    output = {"runs_dir": os.path.join(str(folder), "runs"),
              "saved_models_dir": os.path.join(str(folder), "saved_models")}
    config["output"] = {**output, **config.get("output", {})}
    return config
