"""The metrics of the evaluation report, computed with scikit-learn.

`compute(predictions)` gives, per head kind:

- multiclass and binary: accuracy, balanced accuracy, precision / recall / F1
  (macro and weighted; binary also of the positive class), ROC-AUC and PR-AUC
  (average precision; one-vs-rest macro for multiclass), log loss, top-k accuracy
  (k = 2, 3, 5 below the number of classes), expected calibration error; per class:
  support, precision, recall, F1, ROC-AUC, PR-AUC; the confusion matrix.
- multilabel: exact-match (subset) accuracy, Hamming loss, F1 (micro, macro,
  weighted, per-sample), precision and recall (macro), ROC-AUC and PR-AUC (macro over
  the labels); per label as for classes.
- regression: MAE, RMSE and R² (averaged over the outputs).

A class absent from the labels has no ROC-AUC (there is no positive to rank): its
entry is None, and the macro averages are over the classes that have one.

>>> import numpy as np
>>> from mmzoo.evaluation.predictions import Predictions
>>> p = Predictions("multiclass", ["cat", "dog"], np.array([0, 1, 1, 0]),
...                 np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]]))
>>> result = compute(p)
>>> result["metrics"]["accuracy"], result["metrics"]["roc_auc_ovr_macro"]
(0.75, 1.0)
>>> result["confusion_matrix"]["counts"]
[[2, 0], [1, 1]]
"""

import numpy as np

#: The metric each head kind is summed up by in the report (subsets, robustness):
#: a score where larger is better, except regression's mean absolute error.
MAIN_METRIC = {"multiclass": "accuracy", "binary": "accuracy", "multilabel": "f1_macro",
               "regression": "mae"}

#: Equal-width confidence bins of the expected calibration error (Guo et al. 2017).
CALIBRATION_BINS = 15


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


def compute(predictions):
    """Every metric of the report for `predictions` (a `Predictions`).

    Args:
        predictions: labels and outputs of N examples.

    Returns:
        `{"metrics": {name: float or None}, "per_class": [{"class", "support",
        "precision", "recall", "f1", "roc_auc", "pr_auc"}], "confusion_matrix":
        {"labels", "counts"} or None, "calibration": {...} or None}` (see
        `calibration`); regression has no per-class entries.

    Raises:
        ValueError: no examples.
    """
    if len(predictions) == 0:
        raise ValueError("The report needs at least one example. Received: 0 examples")
    if predictions.kind == "regression":
        return {"metrics": _regression(predictions), "per_class": [],
                "confusion_matrix": None, "calibration": None}
    if predictions.kind == "multilabel":
        return _multilabel(predictions)
    return _classes(predictions)


def _classes(p):
    from sklearn import metrics

    probabilities = p.probabilities
    count = probabilities.shape[1]
    labels = list(range(count))
    names = p.class_names or [str(i) for i in labels]
    y, predicted = p.labels, p.predicted
    values = {
        "accuracy": metrics.accuracy_score(y, predicted),
        "balanced_accuracy": _balanced_accuracy(y, predicted),
    }
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = metrics.precision_recall_fscore_support(
            y, predicted, labels=labels, average=average, zero_division=0)
        values.update({f"precision_{average}": precision, f"recall_{average}": recall,
                       f"f1_{average}": f1})
    per_class = _per_label(names, np.eye(count, dtype="int64")[y], probabilities,
                           *metrics.precision_recall_fscore_support(
                               y, predicted, labels=labels, zero_division=0))
    if p.kind == "binary":
        positive = per_class[1]
        values.update({"precision": positive["precision"], "recall": positive["recall"],
                       "f1": positive["f1"], "roc_auc": positive["roc_auc"],
                       "pr_auc": positive["pr_auc"]})
    else:
        values["roc_auc_ovr_macro"] = _mean(c["roc_auc"] for c in per_class)
        values["pr_auc_ovr_macro"] = _mean(c["pr_auc"] for c in per_class)
    # float32 softmax rows sum to 1 only within ~1e-7: renormalised, as log loss wants.
    clipped = np.clip(probabilities, 1e-15, 1)
    values["log_loss"] = metrics.log_loss(y, clipped / clipped.sum(axis=1, keepdims=True),
                                          labels=labels)
    for k in (2, 3, 5):
        if k < count:
            values[f"top_{k}_accuracy"] = metrics.top_k_accuracy_score(
                y, probabilities, k=k, labels=labels)
    bins = calibration(np.max(probabilities, axis=-1), predicted == y)
    values["expected_calibration_error"] = bins["ece"]
    return {
        "metrics": {key: _float(value) for key, value in values.items()},
        "per_class": per_class,
        "confusion_matrix": {"labels": names, "counts": metrics.confusion_matrix(
            y, predicted, labels=labels).tolist()},
        "calibration": bins,
    }


def _balanced_accuracy(y, predicted):
    """Mean recall over the classes present in `y` (scikit-learn's definition),
    without its warning about predicted classes absent from `y`."""
    import warnings

    from sklearn import metrics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return metrics.balanced_accuracy_score(y, predicted)


def _multilabel(p):
    from sklearn import metrics

    y, predicted = p.labels, p.predicted
    names = p.class_names or [str(i) for i in range(y.shape[1])]
    values = {"subset_accuracy": metrics.accuracy_score(y, predicted),
              "hamming_loss": metrics.hamming_loss(y, predicted)}
    for average in ("micro", "macro", "weighted", "samples"):
        values[f"f1_{average}"] = metrics.f1_score(y, predicted, average=average,
                                                  zero_division=0)
    values["precision_macro"] = metrics.precision_score(y, predicted, average="macro",
                                                        zero_division=0)
    values["recall_macro"] = metrics.recall_score(y, predicted, average="macro",
                                                  zero_division=0)
    per_class = _per_label(names, y, p.y_pred, *metrics.precision_recall_fscore_support(
        y, predicted, zero_division=0))
    values["roc_auc_macro"] = _mean(c["roc_auc"] for c in per_class)
    values["pr_auc_macro"] = _mean(c["pr_auc"] for c in per_class)
    return {"metrics": {key: _float(value) for key, value in values.items()},
            "per_class": per_class, "confusion_matrix": None, "calibration": None}


def _per_label(names, onehot, scores, precision, recall, f1, support):
    """One dict per class or label, its ROC-AUC and PR-AUC one-vs-rest."""
    from sklearn import metrics

    rows = []
    for i, name in enumerate(names):
        positives = int(onehot[:, i].sum())
        ranked = 0 < positives < len(onehot)  # both positives and negatives
        rows.append({
            "class": name, "support": int(support[i]), "precision": float(precision[i]),
            "recall": float(recall[i]), "f1": float(f1[i]),
            "roc_auc": float(metrics.roc_auc_score(onehot[:, i], scores[:, i]))
            if ranked else None,
            "pr_auc": float(metrics.average_precision_score(onehot[:, i], scores[:, i]))
            if ranked else None,
        })
    return rows


def _regression(p):
    from sklearn import metrics

    y, output = p.y_true, p.y_pred
    return {
        "mae": float(metrics.mean_absolute_error(y, output)),
        "rmse": float(metrics.root_mean_squared_error(y, output)),
        "r2": float(metrics.r2_score(y, output)) if len(y) > 1 else None,
    }


def calibration(confidence, correct, bins=CALIBRATION_BINS):
    """Expected calibration error and the reliability diagram's bins.

    ECE = sum over equal-width confidence bins of (bin count / N) * |accuracy -
    mean confidence| (Guo et al. 2017, "On Calibration of Modern Neural Networks";
    Naeini et al. 2015). Bins are right-closed, the first also holds 0.

    Args:
        confidence: `(N,)` probability of the predicted class, in [0, 1].
        correct: `(N,)` whether the prediction was right.
        bins: number of bins.

    Returns:
        `{"ece", "bin_edges" (bins + 1), "confidence", "accuracy" (None for empty
        bins), "count"}`.

    >>> calibration([0.9, 0.9, 0.4, 0.4], [1, 0, 1, 1], bins=2)["ece"]
    0.5
    """
    confidence = np.asarray(confidence, "float64")
    correct = np.asarray(correct, "float64")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    mean_confidence = np.bincount(which, confidence, bins) / np.maximum(counts, 1)
    accuracy = np.bincount(which, correct, bins) / np.maximum(counts, 1)
    ece = float(np.sum(counts / max(len(confidence), 1) * np.abs(accuracy - mean_confidence)))
    return {
        "ece": round(ece, 12),
        "bin_edges": [float(e) for e in edges],
        "confidence": [float(c) if n else None for c, n in zip(mean_confidence, counts)],
        "accuracy": [float(a) if n else None for a, n in zip(accuracy, counts)],
        "count": [int(n) for n in counts],
    }


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _float(value):
    return None if value is None else float(value)
