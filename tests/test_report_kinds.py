"""The report's metrics for every head kind, against numpy on the same outputs, and the
report of a binary, a multilabel and a regression model in memory."""

import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.evaluation import metrics
from mmzoo.evaluation.predictions import Predictions

RNG = np.random.default_rng(0)


def _auc(scores, labels):
    """ROC-AUC as the fraction of (positive, negative) pairs ranked right, ties half."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    return ((positive[:, None] > negative).mean() + (positive[:, None] == negative).mean() / 2)


def test_binary_metrics_match_numpy():
    y = RNG.integers(0, 2, 200)
    p = np.clip(0.3 * y + RNG.uniform(0, 0.7, 200), 0, 1)
    result = metrics.compute(Predictions("binary", ["no", "yes"], y, p[:, None]))
    values, predicted = result["metrics"], (p >= 0.5).astype(int)
    tp, fp = np.sum((predicted == 1) & (y == 1)), np.sum((predicted == 1) & (y == 0))
    fn = np.sum((predicted == 0) & (y == 1))
    assert values["accuracy"] == pytest.approx(np.mean(predicted == y))
    assert values["precision"] == pytest.approx(tp / (tp + fp))
    assert values["recall"] == pytest.approx(tp / (tp + fn))
    assert values["roc_auc"] == pytest.approx(_auc(p, y))
    assert values["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert np.sum(result["confusion_matrix"]["counts"]) == 200
    assert [row["class"] for row in result["per_class"]] == ["no", "yes"]


def test_multilabel_metrics_match_numpy():
    y = RNG.integers(0, 2, (150, 4))
    p = np.clip(0.4 * y + RNG.uniform(0, 0.6, (150, 4)), 0, 1)
    result = metrics.compute(Predictions("multilabel", list("abcd"), y, p))
    values, predicted = result["metrics"], (p >= 0.5).astype(int)
    assert values["subset_accuracy"] == pytest.approx(np.mean(np.all(predicted == y, axis=1)))
    assert values["hamming_loss"] == pytest.approx(np.mean(predicted != y))
    f1 = []
    for label in range(4):
        tp = np.sum((predicted[:, label] == 1) & (y[:, label] == 1))
        f1.append(2 * tp / (np.sum(predicted[:, label]) + np.sum(y[:, label])))
        row = result["per_class"][label]
        assert row["f1"] == pytest.approx(f1[-1])
        assert row["roc_auc"] == pytest.approx(_auc(p[:, label], y[:, label]))
    assert values["f1_macro"] == pytest.approx(np.mean(f1))
    assert result["confusion_matrix"] is None


def test_regression_metrics_match_numpy():
    y = RNG.normal(size=(80, 2))
    out = y + RNG.normal(scale=0.3, size=(80, 2))
    values = metrics.compute(Predictions("regression", [], y, out))["metrics"]
    assert values["mae"] == pytest.approx(np.mean(np.abs(out - y)))
    assert values["rmse"] == pytest.approx(np.mean(np.sqrt(np.mean((out - y) ** 2, axis=0))))
    r2 = 1 - np.sum((out - y) ** 2, axis=0) / np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    assert values["r2"] == pytest.approx(np.mean(r2))


def test_a_class_absent_from_the_labels_has_no_auc():
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.1, 0.8, 0.1]])
    result = metrics.compute(Predictions("multiclass", ["a", "b", "c"], y, p))
    assert result["per_class"][2]["roc_auc"] is None
    assert result["metrics"]["roc_auc_ovr_macro"] == pytest.approx(1.0)  # over a and b
    assert result["per_class"][2]["support"] == 0


def test_no_examples_is_an_error():
    with pytest.raises(ValueError, match="at least one example"):
        metrics.compute(Predictions("multiclass", ["a", "b"], np.zeros(0), np.zeros((0, 2))))


@pytest.mark.parametrize("head,outputs", [("binary", 1), ("multilabel", 3), ("regression", 2)])
def test_report_of_each_head_kind(head, outputs, tmp_path):
    model = mmzoo.build_model(
        {"image": {"tower": "conv", "input_shape": (12, 12, 1), "filters": (4,)},
         "audio": {"tower": "log_mel_conv", "input_shape": (800,), "sample_rate": 8000,
                   "filters": (4,), "n_mels": 16}},
        fusion="attention", head=head, num_outputs=outputs,
        head_options={"class_names": None if head == "regression" else
                      (["no", "yes"] if head == "binary" else ["a", "b", "c"])})
    count = 48
    images = RNG.uniform(size=(count, 12, 12, 1)).astype("float32")
    audio = RNG.uniform(-1, 1, size=(count, 800)).astype("float32")
    labels = {"binary": RNG.integers(0, 2, count),
              "multilabel": RNG.integers(0, 2, (count, 3)),
              "regression": RNG.normal(size=(count, 2))}[head].astype("float32")
    examples = tf.data.Dataset.from_tensor_slices({"image": images, "audio": audio,
                                                   "label": labels})
    written = mmzoo.report(model, out=tmp_path, examples=examples,
                           sections=("modalities", "robustness"), attribution_examples=8,
                           noise_levels=2)
    assert written["model"]["task"] == head and written["data"]["examples"] == count
    assert written["modalities"]["subsets"][0]["present"] == ["image", "audio"]
    assert set(written["robustness"]) == {"image", "audio"}
    assert (tmp_path / "index.html").is_file()
    if head == "regression":
        assert set(written["metrics"]) == {"mae", "rmse", "r2"}
        assert written["modalities"]["fusion_weights"] is None  # per class only
    else:
        assert len(written["per_class"]) == (2 if head == "binary" else 3)
