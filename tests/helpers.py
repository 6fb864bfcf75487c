"""Shared test helpers: random batches that fit a model's inputs, save/load checks."""

import numpy as np
import keras


def random_inputs(model, batch_size=2, seed=0, max_token=50):
    """A dict of random inputs matching `model`'s named inputs (no modality_mask)."""
    rng = np.random.default_rng(seed)
    batch = {}
    for tensor in model.inputs:
        if tensor.name == "modality_mask":
            continue
        shape = (batch_size, *tensor.shape[1:])
        if "int" in str(tensor.dtype):
            batch[tensor.name] = rng.integers(1, max_token, size=shape).astype("int32")
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
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), expected, rtol=1e-5, atol=1e-6)
    return restored
