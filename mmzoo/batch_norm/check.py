"""The inference-mode check: is the model much worse at inference than in training mode?

Wrong BatchNorm statistics show as a model that predicts well in training mode (each
batch normalized with its own statistics) and badly in inference mode on the same
training batch. `inference_gap` measures both, `gap_warning` words the warning and
`InferenceModeCheck` runs them at the end of `fit`.

The warning margin is `mmzoo.batch_norm.GAP_WARNING`, read when the check runs (set it
on the package, as a test does).

>>> import keras, numpy as np
>>> from mmzoo.batch_norm.check import gap_warning, inference_gap
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, "softmax")])
>>> x, y = np.eye(2, dtype="float32"), np.array([0, 1])
>>> training, inference = inference_gap(model, (x, y))
>>> training == inference, gap_warning(training, inference) is None
(True, True)
"""

import sys
import warnings

import keras
import numpy as np

from mmzoo.batch_norm.calibration import batch_statistics_pass, forward, to_tensors

#: Examples of the fixed training batch `InferenceModeCheck` compares the modes on.
CHECK_EXAMPLES = 256

#: Fewer examples than this and the check is skipped: one example is over 1% of them.
MIN_CHECK_EXAMPLES = 100

#: Inference-mode accuracy this much below training-mode accuracy gets a warning
#: (the value in force is the package's `mmzoo.batch_norm.GAP_WARNING`).
GAP_WARNING = 0.05


def _gap_margin():
    """`mmzoo.batch_norm.GAP_WARNING` as it is now (this module's value if unset)."""
    package = sys.modules.get(__package__)
    return getattr(package, "GAP_WARNING", GAP_WARNING)


def inference_gap(model, batch, kind=None):
    """Training-mode and inference-mode accuracy of `model` on one batch.

    The training-mode pass normalizes with the batch's own statistics (and applies
    dropout, which only lowers its accuracy); the model's variables are restored
    after it.

    Args:
        model: a classifier `keras.Model`.
        batch: an `(x, y)` tuple of integer class labels (or 0/1 targets).
        kind: `"multiclass"`, `"binary"`, `"multilabel"` or `"regression"`; by
            default the `MultimodalModel`'s head kind, else `"multiclass"` when the
            output has several columns and `"binary"` otherwise.

    Returns:
        `(training_accuracy, inference_accuracy)` as floats in [0, 1]; for
        regression the mean absolute errors instead.
    """
    x, y = batch[0], np.asarray(batch[1])
    saved = [np.array(v.numpy()) for v in model.non_trainable_variables]
    try:
        training = np.asarray(batch_statistics_pass(model, x), "float32")
    finally:
        for variable, value in zip(model.non_trainable_variables, saved):
            variable.assign(value)
    inference = np.asarray(forward(model, training=False)(to_tensors(x)), "float32")
    if kind is None:
        kind = getattr(getattr(model, "head", None), "kind", None) or (
            "multiclass" if inference.shape[-1] > 1 else "binary"
        )
    return _score(training, y, kind), _score(inference, y, kind)


def _score(outputs, y, kind):
    if kind == "regression":
        return float(np.mean(np.abs(outputs - y.reshape(outputs.shape))))
    if kind == "multiclass":
        return float(np.mean(np.argmax(outputs, axis=-1) == y.reshape(-1)))
    return float(np.mean((outputs > 0.5) == (y.reshape(outputs.shape) > 0.5)))


def gap_warning(training, inference, kind="multiclass", steps=None):
    """The warning text when inference is much worse than training mode, else None.

    Args:
        training, inference: the two figures of `inference_gap`.
        kind: the head kind (regression compares mean absolute errors).
        steps: training steps run, named in the message when known.
    """
    if kind == "regression":
        bad = inference > 1.5 * training + 1e-6
        figures = f"mean absolute error {inference:.3g} at inference vs {training:.3g}"
    else:
        bad = inference < training - _gap_margin()
        figures = f"accuracy {inference:.3f} at inference vs {training:.3f}"
    if not bad:
        return None
    after = f" after {steps} steps" if steps else ""
    return (
        f"The model predicts much worse in inference mode than in training mode on the "
        f"same training batch ({figures} in training mode){after}. Likely cause: "
        "BatchNormalization moving statistics that have not caught up with the weights "
        "(a short run, a high `momentum`, or a frozen layer). Recompute them with "
        "mmzoo.batch_norm.recalibrate_batch_norm(model, batches), train more steps, or "
        "lower the BatchNorm momentum."
    )


class InferenceModeCheck(keras.callbacks.Callback):
    """At the end of `fit`, warns when inference-mode accuracy trails training mode.

    Args:
        batch: a fixed `(x, y)` batch of training data; a few hundred examples, so
            that one example more or less right is well under the 5-point margin
            (`check_batch` makes one from training batches).
        kind: head kind (see `inference_gap`).
        log: function that prints the warning; by default `warnings.warn`.

    After `fit`, `result` holds `{"training": ..., "inference": ..., "warning": ...}`.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, "softmax")])
    >>> model.compile("adam", "sparse_categorical_crossentropy")
    >>> x, y = np.eye(2, dtype="float32"), np.array([0, 1])
    >>> check = InferenceModeCheck((x, y))
    >>> _ = model.fit(x, y, epochs=1, verbose=0, callbacks=[check])
    >>> check.result["warning"] is None
    True
    """

    def __init__(self, batch, kind=None, log=None):
        super().__init__()
        self.batch = batch
        self.kind = kind
        self.log = log
        self.result = None
        self._epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self._epochs += 1

    def on_train_end(self, logs=None):
        kind = self.kind or getattr(getattr(self.model, "head", None), "kind", None)
        training, inference = inference_gap(self.model, self.batch, kind)
        steps = self._epochs * (self.params.get("steps") or 0)
        message = gap_warning(training, inference, kind or "multiclass", steps or None)
        self.result = {"training": training, "inference": inference, "warning": message}
        if message and self.log:
            self.log(f"Warning: {message}")
        elif message:
            warnings.warn(message, stacklevel=2)


def check_batch(batches, examples=CHECK_EXAMPLES):
    """One `(x, y)` batch of about `examples` examples joined from labelled `batches`.

    Returns None when the batches carry no labels or hold fewer than
    `MIN_CHECK_EXAMPLES` examples (on a handful, one example decides the figures).
    """
    parts, count = [], 0
    for batch in batches:
        if not (isinstance(batch, tuple) and len(batch) >= 2):
            return None
        batch = keras.tree.map_structure(np.asarray, tuple(batch[:2]))
        parts.append(batch)
        count += len(batch[1])
        if count >= examples:
            break
    if count < MIN_CHECK_EXAMPLES:
        return None
    return keras.tree.map_structure(lambda *arrays: np.concatenate(arrays), *parts)
