"""Task heads: the layers after fusion, with the loss and metrics that fit them.

>>> import numpy as np
>>> from mmzoo.heads import TaskHead
>>> head = TaskHead("multiclass", num_outputs=3)
>>> head(np.zeros((2, 8), "float32")).shape
TensorShape([2, 3])
"""

import keras

HEAD_KINDS = ("multiclass", "binary", "multilabel", "regression")

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

    def default_metrics(self):
        """The metrics reported by default for this head."""
        if self.kind == "multiclass":
            return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if self.kind == "binary":
            return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]
        if self.kind == "multilabel":
            return [
                keras.metrics.BinaryAccuracy(name="accuracy"),
                keras.metrics.AUC(name="auc", multi_label=True, num_labels=self.num_outputs),
            ]
        return [
            keras.metrics.MeanAbsoluteError(name="mae"),
            keras.metrics.RootMeanSquaredError(name="rmse"),
        ]

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
