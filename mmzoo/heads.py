"""Task heads: the layers after fusion, with the loss and metrics that fit them.

>>> import numpy as np
>>> from mmzoo.heads import TaskHead
>>> head = TaskHead("multiclass", num_outputs=3)
>>> head(np.zeros((2, 8), "float32")).shape
TensorShape([2, 3])
"""

import keras

HEAD_KINDS = ("multiclass", "binary", "multilabel", "regression")

#: The metrics each head kind reports (besides `"loss"`), its main metric first: the
#: names of its `default_metrics()` and of their values in Keras' logs.
METRICS = {
    "multiclass": ("accuracy",),
    "binary": ("accuracy", "auc"),
    "multilabel": ("accuracy", "auc"),
    "regression": ("mae", "rmse"),
}

#: `"max"` where a larger value is better, `"min"` where a smaller one is.
METRIC_MODES = {"loss": "min", "accuracy": "max", "auc": "max", "mae": "min", "rmse": "min"}

#: What the best checkpoint is chosen by, per head kind (as a validation log key).
_MONITORS = {"regression": "val_loss"}


def metric_mode(name):
    """`"max"` if a larger value of the logged metric `name` is better, else `"min"`.

    Args:
        name: a key of Keras' logs, e.g. `"val_accuracy"`, `"loss"`, `"val_rmse"`.
            Names outside `METRIC_MODES` count as losses or errors (`"min"`) when
            they contain "loss", "error", "mae", "mse" or "rmse", else as scores.

    Returns:
        `"max"` or `"min"`.

    >>> metric_mode("val_accuracy"), metric_mode("val_loss"), metric_mode("mae")
    ('max', 'min', 'min')
    """
    base = name[len("val_"):] if name.startswith("val_") else name
    if base in METRIC_MODES:
        return METRIC_MODES[base]
    if any(word in base for word in ("loss", "error", "mae", "mse", "rmse")):
        return "min"
    return "max"

_ACTIVATIONS = {
    "multiclass": "softmax",
    "binary": "sigmoid",
    "multilabel": "sigmoid",
    "regression": None,
}


@keras.saving.register_keras_serializable(package="mmzoo")
class TaskHead(keras.layers.Layer):
    """An MLP from the fused embedding to the task's outputs.

    The output layer always computes in float32, so mixed-precision models keep
    numerically safe probabilities.

    Args:
        kind: one of `"multiclass"`, `"binary"`, `"multilabel"`, `"regression"`.
        num_outputs: classes (multiclass, multilabel), targets (regression);
            must be 1 for binary.
        hidden_units: widths of the ReLU layers before the output layer.
        dropout: dropout rate before each dense layer.
        class_names: optional names of the classes, kept with the model.

    Input shape: `(batch, dim)`.
    Output shape: `(batch, num_outputs)`.

    Raises:
        ValueError: an unknown `kind`, a `num_outputs` that does not fit it (binary:
            exactly 1, multiclass: at least 2), `hidden_units` that are not positive
            integers, `dropout` outside [0, 1), or `class_names` that are not
            `num_outputs` (binary: 2) distinct names.

    Its metrics (`metric_names()`, `main_metric`, `default_monitor`) are the one
    record of what each kind reports:

    >>> head = TaskHead("binary", num_outputs=1)
    >>> head.metric_names(), head.main_metric, head.default_monitor
    (('loss', 'accuracy', 'auc'), 'accuracy', 'val_accuracy')
    """

    def __init__(
        self,
        kind="multiclass",
        num_outputs=2,
        hidden_units=(128,),
        dropout=0.0,
        class_names=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in HEAD_KINDS:
            raise ValueError(
                f"Unknown head {kind!r}. Valid heads: {', '.join(HEAD_KINDS)}. "
                f"Received: head={kind!r}"
            )
        if not isinstance(num_outputs, int) or num_outputs < 1:
            raise ValueError(
                f"`num_outputs` must be a positive integer. Received: num_outputs={num_outputs!r}"
            )
        if kind == "binary" and num_outputs != 1:
            raise ValueError(
                "A binary head has exactly one output; use 'multilabel' for several "
                f"independent labels. Received: num_outputs={num_outputs!r}"
            )
        if kind == "multiclass" and num_outputs < 2:
            raise ValueError(
                f"A multiclass head needs at least 2 classes. Received: num_outputs={num_outputs!r}"
            )
        hidden_units = tuple(hidden_units or ())
        if any(not isinstance(u, int) or u < 1 for u in hidden_units):
            raise ValueError(
                "`hidden_units` must be positive integers. "
                f"Received: hidden_units={hidden_units!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        if class_names is not None:
            class_names = [str(c) for c in class_names]
            expected = 2 if kind == "binary" else num_outputs
            if len(class_names) != expected or len(set(class_names)) != expected:
                raise ValueError(
                    f"`class_names` must hold {expected} distinct names for a {kind} head "
                    f"with num_outputs={num_outputs}. Received: class_names={class_names!r}"
                )
        self.kind = kind
        self.num_outputs = num_outputs
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.class_names = class_names
        self.hidden_layers = [
            keras.layers.Dense(units, activation="relu", name=f"hidden_{i}", dtype=self.dtype_policy)
            for i, units in enumerate(hidden_units)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout")
        self.output_layer = keras.layers.Dense(
            num_outputs, activation=_ACTIVATIONS[kind], name="predictions", dtype="float32"
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.output_layer.build(shape)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.hidden_layers:
            x = layer(self.dropout_layer(x, training=training))
        return self.output_layer(self.dropout_layer(x, training=training))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_outputs)

    def default_loss(self):
        """The loss that matches this head's outputs."""
        return {
            "multiclass": keras.losses.SparseCategoricalCrossentropy(),
            "binary": keras.losses.BinaryCrossentropy(),
            "multilabel": keras.losses.BinaryCrossentropy(),
            "regression": keras.losses.MeanSquaredError(),
        }[self.kind]

    def focal_loss(self, gamma=2.0):
        """The focal loss of this head's outputs (Lin et al., 2017, "Focal Loss for Dense
        Object Detection"): cross-entropy scaled by `(1 - p_true) ** gamma`, so the
        many easy examples of a frequent class weigh less than the hard, rare ones.

        Args:
            gamma: the focusing parameter, >= 0 (0 is plain cross-entropy).

        Returns:
            A Keras loss: `SparseFocalCrossentropy` (multiclass) or
            `keras.losses.BinaryFocalCrossentropy` (binary, multilabel).

        Raises:
            ValueError: a regression head, or a negative `gamma`.

        >>> TaskHead("multiclass", 3).focal_loss(gamma=1.0).gamma
        1.0
        """
        if self.kind == "regression":
            raise ValueError("A focal loss is for classes; a regression head has none. "
                             "Received: kind='regression'")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
            raise ValueError(f"`gamma` must be a number >= 0. Received: gamma={gamma!r}")
        if self.kind == "multiclass":
            return SparseFocalCrossentropy(gamma=float(gamma))
        return keras.losses.BinaryFocalCrossentropy(gamma=float(gamma))

    def default_metrics(self):
        """The metrics reported by default for this head, named as in `METRICS`."""
        return [self._metric(name) for name in METRICS[self.kind]]

    def _metric(self, name):
        if name == "accuracy" and self.kind == "multiclass":
            return keras.metrics.SparseCategoricalAccuracy(name=name)
        if name == "accuracy":
            return keras.metrics.BinaryAccuracy(name=name)
        if name == "auc" and self.kind == "multilabel":
            return keras.metrics.AUC(name=name, multi_label=True, num_labels=self.num_outputs)
        if name == "auc":
            return keras.metrics.AUC(name=name)
        if name == "mae":
            return keras.metrics.MeanAbsoluteError(name=name)
        return keras.metrics.RootMeanSquaredError(name=name)

    def metric_names(self, validation=False):
        """The names this head's loss and metrics have in Keras' logs, `"loss"` first.

        Args:
            validation: also list the `"val_"` names, before the training ones.

        Returns:
            A tuple of strings, e.g. `("loss", "accuracy")` for a multiclass head.

        >>> TaskHead("regression", num_outputs=1).metric_names(validation=True)
        ('val_loss', 'val_mae', 'val_rmse', 'loss', 'mae', 'rmse')
        """
        names = ("loss", *METRICS[self.kind])
        if validation:
            return tuple(f"val_{name}" for name in names) + names
        return names

    @property
    def main_metric(self):
        """The metric results are reported by: `"accuracy"`, or `"mae"` for regression."""
        return METRICS[self.kind][0]

    @property
    def default_monitor(self):
        """The log key the best checkpoint is chosen by when the config says `"auto"`.

        `"val_accuracy"`, or `"val_loss"` for regression.
        """
        return _MONITORS.get(self.kind, f"val_{self.main_metric}")

    def get_config(self):
        config = super().get_config()
        config.update(
            kind=self.kind,
            num_outputs=self.num_outputs,
            hidden_units=list(self.hidden_units),
            dropout=self.dropout,
            class_names=self.class_names,
        )
        return config


@keras.saving.register_keras_serializable(package="mmzoo")
class SparseFocalCrossentropy(keras.losses.Loss):
    """Focal cross-entropy for integer class labels and softmax probabilities.

    Keras' `CategoricalFocalCrossentropy` takes one-hot labels; this takes the class
    index, as `SparseCategoricalCrossentropy` does, and computes
    `-(1 - p_true) ** gamma * log(p_true)` (Lin et al., 2017; no alpha weighting:
    use class weights for that).

    Args:
        gamma: the focusing parameter, >= 0.

    Shapes: `y_true` `(batch,)` or `(batch, 1)` ints; `y_pred` `(batch, classes)`.

    >>> import numpy as np
    >>> loss = SparseFocalCrossentropy(gamma=0.0)
    >>> round(float(loss(np.array([1]), np.array([[0.5, 0.5]]))), 4)  # = -log(0.5)
    0.6931
    """

    def __init__(self, gamma=2.0, name="sparse_focal_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        classes = keras.ops.shape(y_pred)[-1]
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        one_hot = keras.ops.one_hot(labels, classes, dtype=y_pred.dtype)
        probability = keras.ops.clip(keras.ops.sum(one_hot * y_pred, axis=-1),
                                     keras.config.epsilon(), 1.0)
        return -keras.ops.power(1.0 - probability, self.gamma) * keras.ops.log(probability)

    def get_config(self):
        """The config, with `gamma`."""
        return {**super().get_config(), "gamma": self.gamma}
