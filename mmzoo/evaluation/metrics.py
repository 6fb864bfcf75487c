"""Metrics of a `Predictions`, computed with scikit-learn."""

import numpy as np

#: The metric each head kind is summed up by in the report (subsets, robustness):
#: a score where larger is better, except regression's mean absolute error.
MAIN_METRIC = {"multiclass": "accuracy", "binary": "accuracy", "multilabel": "f1_macro",
               "regression": "mae"}


def main_value(predictions):
    """The head kind's main metric (`MAIN_METRIC`) of `predictions`, a float."""
    from sklearn import metrics

    kind = predictions.kind
    if kind in ("multiclass", "binary"):
        return float(metrics.accuracy_score(predictions.labels, predictions.predicted))
    if kind == "multilabel":
        return float(metrics.f1_score(predictions.labels, predictions.predicted,
                                      average="macro", zero_division=0))
    return float(metrics.mean_absolute_error(predictions.y_true, predictions.y_pred))
