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

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
>>> x = np.random.default_rng(0).normal(5.0, 2.0, (64, 3)).astype("float32")
>>> recalibrate_batch_norm(model, [x[:32], x[32:]])
2
>>> bool(np.allclose(model.layers[0].moving_mean, x.mean(axis=0), atol=1e-5))
True
"""

import math
import warnings
import weakref

import keras
import numpy as np
import tensorflow as tf

#: Examples `BatchNormCalibration` takes from the training data by default.
CALIBRATION_EXAMPLES = 256

#: Examples of the fixed training batch `InferenceModeCheck` compares the modes on.
CHECK_EXAMPLES = 256

#: Fewer examples than this and the check is skipped: one example is over 1% of them.
MIN_CHECK_EXAMPLES = 100

#: Inference-mode accuracy this much below training-mode accuracy gets a warning.
GAP_WARNING = 0.05


_FORWARD = weakref.WeakKeyDictionary()


def _forward(model, training):
    """`model(x, training=training)` as a `tf.function`, traced once per model and mode.

    Eagerly, one batch of the demo's three-tower model takes 0.7 s (the LSTM steps
    one op at a time); traced, a few milliseconds. BatchNorm's momentum is read when
    the function is traced: callers set it before the first call.
    """
    functions = _FORWARD.setdefault(model, {})
    if training not in functions:
        owner = weakref.ref(model)  # a strong reference here would keep the model alive
        functions[training] = tf.function(
            lambda x: owner()(x, training=training), reduce_retracing=True
        )
    return functions[training]


def _batch_statistics_pass(model, x):
    """The training-mode outputs on `x`, leaving `x`'s own statistics in every BatchNorm.

    Runs with the BatchNorm momentum at 0 (also when the function is traced).
    """
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        return _forward(model, training=True)(_tensors(x))
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


def _tensors(x):
    return keras.tree.map_structure(tf.convert_to_tensor, x)


def batch_norm_layers(model):
    """The trainable `BatchNormalization` layers of `model`, nested models included."""
    return [
        layer for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def features_of(batch):
    """The model inputs of a batch: `x` of an `(x, y)` / `(x, y, sample_weight)` tuple."""
    return batch[0] if isinstance(batch, tuple) else batch


def recalibrate_batch_norm(model, batches):
    """Sets every trainable BatchNorm's moving statistics to their mean over `batches`.

    Each batch goes through the model in training mode (traced once, with
    `tf.function`) with the layers' momentum at 0, which leaves the batch's mean and
    variance in the moving statistics; their average over the batches replaces the
    old values. Everything else the forward
    pass changes (random-seed states) is restored, so training continues as it
    would have.

    Args:
        model: a built `keras.Model`.
        batches: an iterable of input batches, or of `(x, y[, sample_weight])`
            tuples (a `tf.data.Dataset` works).

    Returns:
        The number of batches used (0 when the model has no trainable BatchNorm
        layer or `batches` is empty; then nothing changes).

    Raises:
        ValueError: from the model, if a batch does not fit its inputs.
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    stats = [(layer.moving_mean, layer.moving_variance) for layer in layers]
    watched = {id(v) for pair in stats for v in pair}
    others = [v for v in model.non_trainable_variables if id(v) not in watched]
    saved_others = [np.array(v.numpy()) for v in others]
    saved_stats = [(np.array(m.numpy()), np.array(v.numpy())) for m, v in stats]
    sums = [[np.zeros_like(m), np.zeros_like(v)] for m, v in saved_stats]
    count = 0
    try:
        for batch in batches:
            _batch_statistics_pass(model, features_of(batch))
            for total, (mean, variance) in zip(sums, stats):
                total[0] += mean.numpy()
                total[1] += variance.numpy()
            count += 1
    finally:
        for variable, value in zip(others, saved_others):
            variable.assign(value)
        for (mean, variance), total, saved in zip(stats, sums, saved_stats):
            mean.assign(total[0] / count if count else saved[0])
            variance.assign(total[1] / count if count else saved[1])
    return count


def calibration_batches(x, y=None, batch_size=None, examples=CALIBRATION_EXAMPLES, seed=0):
    """A few hundred training examples from what `fit` was given, in batches.

    Args:
        x: what `fit` takes as `x`: a `tf.data.Dataset` of batches, or arrays (a
            dict of arrays) with `y` beside them.
        y: labels when `x` holds arrays (unused otherwise).
        batch_size: batch size for arrays (default 32).
        examples: about how many examples to take.
        seed: seed of the random choice of rows from arrays (sorted arrays, e.g.
            by class, would give biased statistics from their first rows).

    Returns:
        A re-iterable of batches (a `tf.data.Dataset`, or a list of `(x, y)` tuples
        when `y` is given, of inputs otherwise), or None when `x` is of a kind that
        cannot be read twice (a generator, a `PyDataset`, a distributed dataset).
    """
    if isinstance(x, tf.data.Dataset):
        return x.take(_batches_for(x, examples))
    arrays = x if isinstance(x, dict) else {None: x} if isinstance(x, np.ndarray) else None
    if arrays is None or not all(isinstance(a, np.ndarray) for a in arrays.values()):
        return None
    size = len(next(iter(arrays.values())))
    # In random order: batches of sorted rows would each hold one class, and their
    # variances would be the within-class ones.
    rows = np.random.default_rng(seed).permutation(size)[: min(size, examples)]
    batch_size = batch_size or 32
    batches = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        features = {name: array[chunk] for name, array in arrays.items()}
        features = features[None] if None in features else features
        batches.append(features if y is None else (features, np.asarray(y)[chunk]))
    return batches


def _batches_for(dataset, examples):
    """How many batches of `dataset` hold about `examples` examples."""
    spec = dataset.element_spec
    first = keras.tree.flatten(spec[0] if isinstance(spec, tuple) else spec)[0]
    batch = first.shape[0] if first.shape.rank else None
    return max(1, math.ceil(examples / batch)) if batch else max(1, examples // 32)


class BatchNormCalibration(keras.callbacks.Callback):
    """Recomputes BatchNorm statistics before each validation and at the end of `fit`.

    The statistics are recomputed only when the weights changed since the last
    time: once per epoch when there is validation data (before it runs, so the
    validation metrics and a best checkpoint saved at the end of the epoch use
    them), else once at the end of training.

    Args:
        batches: a re-iterable of training batches (see `calibration_batches`).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(),
    ...                           keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> x = np.full((64, 3), 4.0, "float32")
    >>> _ = model.fit(x, np.zeros(64), epochs=1, verbose=0,
    ...               callbacks=[BatchNormCalibration([x[:32]])])
    >>> float(model.layers[0].moving_mean[0])
    4.0
    """

    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self._in_fit = False
        self._stale = False

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        self._stale = True

    def on_test_begin(self, logs=None):
        if self._in_fit:
            self._recalibrate()

    def on_train_end(self, logs=None):
        self._in_fit = False
        self._recalibrate()

    def _recalibrate(self):
        if self._stale:
            recalibrate_batch_norm(self.model, self.batches)
            self._stale = False


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
        training = np.asarray(_batch_statistics_pass(model, x), "float32")
    finally:
        for variable, value in zip(model.non_trainable_variables, saved):
            variable.assign(value)
    inference = np.asarray(_forward(model, training=False)(_tensors(x)), "float32")
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
        bad = inference < training - GAP_WARNING
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


def default_callbacks(model, x, y=None, batch_size=None, validation_split=0.0, callbacks=(),
                      calibrate=True):
    """The callbacks `MultimodalModel.fit` adds: calibration, or else the inference check.

    Nothing is added that `callbacks` already has, nothing for a model without
    trainable BatchNorm layers, nothing when the training data cannot be read twice
    (see `calibration_batches`), and nothing under a multi-worker strategy (each
    worker would compute statistics of its own shard).
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


def _training_part(arrays, validation_split):
    """What Keras trains on with `validation_split`: the rows before the last fraction."""
    if arrays is None:
        return None
    if isinstance(arrays, dict):
        return {name: _training_part(a, validation_split) for name, a in arrays.items()}
    arrays = np.asarray(arrays)
    return arrays[: int(len(arrays) * (1.0 - validation_split))]
