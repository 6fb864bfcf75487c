"""Precise BatchNorm: recompute every BatchNorm layer's statistics for fixed weights.

See `mmzoo.batch_norm` for why. `recalibrate_batch_norm` does it once;
`BatchNormCalibration` is the callback that does it inside `fit`.

>>> import keras, numpy as np
>>> from mmzoo.batch_norm.calibration import recalibrate_batch_norm
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()])
>>> recalibrate_batch_norm(model, [np.array([[0.0, 2.0], [2.0, 4.0]], "float32")])
1
>>> model.layers[0].moving_mean.numpy().tolist()
[1.0, 3.0]
"""

import math
import weakref

import keras
import numpy as np
import tensorflow as tf

#: Examples `BatchNormCalibration` takes from the training data by default.
CALIBRATION_EXAMPLES = 256


_FORWARD = weakref.WeakKeyDictionary()


def forward(model, training):
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


def batch_statistics_pass(model, x):
    """The training-mode outputs on `x`, leaving `x`'s own statistics in every BatchNorm.

    Runs with the BatchNorm momentum at 0 (also when the function is traced).
    """
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        return forward(model, training=True)(to_tensors(x))
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


def to_tensors(x):
    """`x` (a tensor, array or nested structure of them) with every leaf a tensor."""
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
            batch_statistics_pass(model, features_of(batch))
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
