"""A model's outputs and the true labels of a split, side by side, as numpy arrays.

Every part of the evaluation report (`mmzoo.evaluation`) starts from a `Predictions`:
the metrics and figures read it, the modality-subset and robustness sections make
one per mask or noise level, with `collect` over a preprocessed `tf.data` pipeline
(`mmzoo.training.inputs.eval_dataset`), optionally transformed batch by batch.

>>> import numpy as np
>>> p = Predictions("multiclass", ["a", "b"], np.array([0, 1]),
...                 np.array([[0.9, 0.1], [0.4, 0.6]], "float32"))
>>> p.labels.tolist(), p.predicted.tolist(), len(p)
([0, 1], [0, 1], 2)
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class Predictions:
    """The labels and outputs of `N` examples, for one head kind.

    Args:
        kind: the head's kind: `"multiclass"`, `"binary"`, `"multilabel"` or
            `"regression"` (`mmzoo.TaskHead.kind`).
        class_names: the class (or label) names, `[]` for regression.
        y_true: the labels as the model is trained on them: multiclass `(N,)` class
            indices; binary `(N,)` 0/1; multilabel `(N, C)` 0/1; regression `(N, D)`.
        y_pred: the model's outputs: multiclass `(N, C)` probabilities; binary
            `(N,)` probability of the second class; multilabel `(N, C)`
            probabilities; regression `(N, D)` values.
    """

    kind: str
    class_names: list
    y_true: np.ndarray
    y_pred: np.ndarray

    def __post_init__(self):
        self.y_true = np.asarray(self.y_true)
        self.y_pred = np.asarray(self.y_pred, dtype="float64")
        if self.kind in ("binary", "multiclass"):
            self.y_true = self.y_true.reshape(-1).astype("int64")
        if self.kind == "binary":
            self.y_pred = self.y_pred.reshape(-1)
        if self.kind == "regression":
            self.y_true = self.y_true.reshape(len(self.y_true), -1).astype("float64")
            self.y_pred = self.y_pred.reshape(len(self.y_pred), -1)
        if self.kind == "multilabel":
            self.y_true = self.y_true.astype("int64")
        if len(self.y_true) != len(self.y_pred):
            raise ValueError(f"Predictions need one output per label. Received: "
                             f"{len(self.y_true)} labels and {len(self.y_pred)} outputs")

    def __len__(self):
        return len(self.y_true)

    @property
    def labels(self):
        """The true class indices (multiclass, binary) or 0/1 matrix (multilabel)."""
        return self.y_true

    @property
    def predicted(self):
        """The predicted classes: argmax (multiclass), or outputs >= 0.5 (binary,
        multilabel); regression: the values."""
        if self.kind == "multiclass":
            return np.argmax(self.y_pred, axis=-1)
        if self.kind in ("binary", "multilabel"):
            return (self.y_pred >= 0.5).astype("int64")
        return self.y_pred

    @property
    def probabilities(self):
        """`(N, C)` class probabilities: binary outputs become two columns."""
        if self.kind == "binary":
            return np.stack([1.0 - self.y_pred, self.y_pred], axis=-1)
        return self.y_pred


def collect(model, dataset, transform=None):
    """The `Predictions` of `model` over a batched `(features, label)` dataset.

    Args:
        model: a `mmzoo.MultimodalModel`.
        dataset: batched `(features, label)` pairs, preprocessed
            (`mmzoo.training.inputs.eval_dataset`), e.g. with a `modality_mask`.
        transform: optional function `(features, label) -> (features, label)` mapped
            over the batches first (noise for the robustness curves).

    Returns:
        A `Predictions` for the model's head.
    """
    if transform is not None:
        dataset = dataset.map(transform)
    labels, outputs = [], []
    for features, label in dataset:
        outputs.append(np.asarray(model.predict_on_batch(features)))
        labels.append(label.numpy())
    head = model.head
    return Predictions(head.kind, list(head.class_names or []),
                       np.concatenate(labels), np.concatenate(outputs))
