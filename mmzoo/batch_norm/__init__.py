"""BatchNorm statistics that are right at inference after short runs.

A `BatchNormalization` layer normalizes with the batch's own statistics in training
and with its moving averages at inference. The moving averages follow the batches
with `momentum` (Keras' default 0.99 remembers about the last 100 steps) while the
weights under them keep changing, so after a short run on a small dataset they
describe a network that no longer exists, and a model with 0.9 training accuracy
predicts one class for everything at inference (mmzoo issue 10: 0.10 accuracy on
its own training split after 65 steps).

The cure is the "precise BatchNorm" of Wu & Johnson ("Rethinking 'Batch' in
BatchNorm", 2021), also PyTorch's `torch.optim.swa_utils.update_bn`: once the
weights are fixed, recompute every BatchNorm layer's statistics as the average of
its batch statistics over a few hundred training examples.

- `recalibrate_batch_norm(model, batches)` does it once;
- `BatchNormCalibration(batches)` is the callback that does it before each
  validation inside `fit` and at the end of training, so validation metrics, the
  best checkpoint and the final model all use statistics of their own weights;
  `MultimodalModel.fit` adds it by itself;
- `inference_gap(model, batch)` compares inference-mode and training-mode accuracy
  on one batch, and `InferenceModeCheck` warns at the end of `fit` when inference
  is much worse: the sign that the statistics are wrong.

Frozen BatchNorm layers (`trainable=False`, e.g. a frozen pretrained backbone) run
in inference mode in training too and are left as they are.

The recalibration lives in `mmzoo.batch_norm.calibration`, the inference-mode check
in `mmzoo.batch_norm.check`; this package exports both and `default_callbacks`.

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
>>> x = np.random.default_rng(0).normal(5.0, 2.0, (64, 3)).astype("float32")
>>> recalibrate_batch_norm(model, [x[:32], x[32:]])
2
>>> bool(np.allclose(model.layers[0].moving_mean, x.mean(axis=0), atol=1e-5))
True
"""

import numpy as np
import tensorflow as tf

from mmzoo.batch_norm.calibration import (
    CALIBRATION_EXAMPLES,
    BatchNormCalibration,
    batch_norm_layers,
    calibration_batches,
    features_of,
    recalibrate_batch_norm,
)
from mmzoo.batch_norm.check import (
    CHECK_EXAMPLES,
    GAP_WARNING,
    MIN_CHECK_EXAMPLES,
    InferenceModeCheck,
    check_batch,
    gap_warning,
    inference_gap,
)

__all__ = [
    "CALIBRATION_EXAMPLES",
    "CHECK_EXAMPLES",
    "GAP_WARNING",
    "MIN_CHECK_EXAMPLES",
    "BatchNormCalibration",
    "InferenceModeCheck",
    "batch_norm_layers",
    "calibration_batches",
    "check_batch",
    "default_callbacks",
    "features_of",
    "gap_warning",
    "inference_gap",
    "recalibrate_batch_norm",
]


def default_callbacks(model, x, y=None, batch_size=None, validation_split=0.0, callbacks=(),
                      calibrate=True):
    """The callbacks `MultimodalModel.fit` adds: calibration, or else the inference check.

    Nothing is added that `callbacks` already has, nothing for a model without
    trainable BatchNorm layers, nothing when the training data cannot be read twice
    (see `calibration_batches`), and nothing under a multi-worker strategy (each
    worker would compute statistics of its own shard).

    Args:
        model: the model being fitted.
        x, y, batch_size, validation_split: what `fit` was given.
        callbacks: the callbacks `fit` was given.
        calibrate: add `BatchNormCalibration` (else `InferenceModeCheck`).

    Returns:
        A list of zero or one callback.

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()])
    >>> [type(c).__name__ for c in default_callbacks(model, np.ones((8, 2), "float32"))]
    ['BatchNormCalibration']
    """
    if not batch_norm_layers(model) or tf.distribute.get_strategy().extended._in_multi_worker_mode():
        return []
    if validation_split and not isinstance(x, tf.data.Dataset):
        x, y = _training_part(x, validation_split), _training_part(y, validation_split)
    batches = calibration_batches(x, y, batch_size)
    if batches is None:
        return []
    have = {type(callback) for callback in callbacks}
    if calibrate and BatchNormCalibration not in have:
        return [BatchNormCalibration(batches)]
    added = []
    # Without calibration (by choice or because `callbacks` has its own), the check
    # warns when the statistics did not catch up. With it, the statistics are
    # recomputed for the final weights, and the check's two passes (a few seconds of
    # tracing for a three-tower model) would only confirm it; `mmzoo train` runs it
    # anyway and records the figures.
    if InferenceModeCheck not in have:
        batch = check_batch(batches)
        if batch is not None:
            added.append(InferenceModeCheck(batch))
    return added


def _training_part(arrays, validation_split):
    """What Keras trains on with `validation_split`: the rows before the last fraction."""
    if arrays is None:
        return None
    if isinstance(arrays, dict):
        return {name: _training_part(a, validation_split) for name, a in arrays.items()}
    arrays = np.asarray(arrays)
    return arrays[: int(len(arrays) * (1.0 - validation_split))]
