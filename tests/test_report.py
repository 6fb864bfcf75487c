"""The evaluation report (`mmzoo report`, `mmzoo.report`): its numbers checked against
independent numpy computations on the same predictions, its folder, its command line.

One tiny trimodal model is trained with `evaluation.report: true` (so the report is
written by the end of `mmzoo.train`); the checks read that report.
"""

import json

import numpy as np
import pytest
from testing import make_tiny_config

import mmzoo
from mmzoo import artifacts
from mmzoo.cli import main
from mmzoo.evaluation.predictions import collect
from mmzoo.training import inputs as pipeline
from mmzoo.training.evaluate import load_examples

NUM_TEST = 96


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`(train result, report dict, model, Predictions of the test split)`."""
    folder = tmp_path_factory.mktemp("report")
    config = make_tiny_config(
        folder, name="reported", training={"epochs": 3, "batch_size": 32},
        dataset={"options": {"num_train": 192, "num_validation": 32, "num_test": NUM_TEST}},
        model={"fusion": "gated"}, evaluation={"report": True})
    result = mmzoo.train(config, log=lambda line: None)
    text = (folder / "saved_models" / "reported" / "report" / "report.json").read_text(
        encoding="utf-8")
    written = json.loads(text, parse_constant=pytest.fail)  # strict JSON: no Infinity, NaN
    model = artifacts.load_model(result["export_dir"])
    examples, _ = load_examples(model, result["export_dir"])
    predictions = collect(model, pipeline.eval_dataset(examples, model.preprocessor, 32))
    return result, written, model, predictions


def test_training_with_report_option_writes_the_report_folder(trained):
    result, written, _, _ = trained
    folder = result["report"]
    assert folder.endswith("saved_models/reported/report") or "reported/report" in folder
    import pathlib

    folder = pathlib.Path(folder)
    assert (folder / "index.html").is_file() and (folder / "report.json").is_file()
    for name in written["figures"].values():
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"confusion_matrix", "confusion_matrix_normalized", "roc", "pr", "reliability",
            "learning_curves", "per_class_f1", "metric_by_subset", "fusion_weights",
            "attribution", "robustness_image", "robustness_text",
            "robustness_audio"} <= set(written["figures"])
    assert written["data"] == {"dataset": "embedded", "split": "test", "examples": NUM_TEST}


def test_metrics_equal_an_independent_numpy_computation(trained):
    _, written, _, p = trained
    y, probabilities = p.labels, p.probabilities
    classes = probabilities.shape[1]
    predicted = np.argmax(probabilities, axis=1)
    values = written["metrics"]
    assert values["accuracy"] == pytest.approx(np.mean(predicted == y), abs=1e-9)
    counts = np.zeros((classes, classes), int)
    for t, q in zip(y, predicted):
        counts[t, q] += 1
    assert written["confusion_matrix"]["counts"] == counts.tolist()
    assert counts.sum() == NUM_TEST == len(p)
    support = counts.sum(axis=1)
    recall = np.divide(np.diag(counts), support, out=np.zeros(classes), where=support > 0)
    column = counts.sum(axis=0)
    precision = np.divide(np.diag(counts), column, out=np.zeros(classes), where=column > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(classes),
                   where=(precision + recall) > 0)
    assert values["balanced_accuracy"] == pytest.approx(recall[support > 0].mean(), abs=1e-9)
    assert values["recall_macro"] == pytest.approx(recall.mean(), abs=1e-9)
    assert values["precision_macro"] == pytest.approx(precision.mean(), abs=1e-9)
    assert values["f1_macro"] == pytest.approx(f1.mean(), abs=1e-9)
    assert values["f1_weighted"] == pytest.approx(np.sum(f1 * support) / support.sum(),
                                                  abs=1e-9)
    for row, expected in zip(written["per_class"], f1):
        assert row["f1"] == pytest.approx(expected, abs=1e-9)
    assert [row["support"] for row in written["per_class"]] == support.tolist()
    chosen = probabilities[np.arange(len(y)), y]
    assert values["log_loss"] == pytest.approx(-np.mean(np.log(np.clip(chosen, 1e-15, 1))),
                                               rel=1e-6)
    top3 = np.argsort(-probabilities, axis=1)[:, :3]
    assert values["top_3_accuracy"] == pytest.approx(np.mean([t in r for t, r in zip(y, top3)]),
                                                     abs=1e-9)
    # ROC-AUC one-vs-rest per class, as the fraction of (positive, negative) pairs ranked
    # right (ties count half): the Mann-Whitney statistic.
    aucs = []
    for c in range(classes):
        positive, negative = probabilities[y == c, c], probabilities[y != c, c]
        if len(positive) and len(negative):
            wins = (positive[:, None] > negative[None, :]).mean()
            ties = (positive[:, None] == negative[None, :]).mean()
            aucs.append(wins + ties / 2)
            assert written["per_class"][c]["roc_auc"] == pytest.approx(aucs[-1], abs=1e-9)
    assert values["roc_auc_ovr_macro"] == pytest.approx(np.mean(aucs), abs=1e-9)
    # Expected calibration error over 15 equal-width bins of the top probability.
    confidence, correct = probabilities.max(axis=1), (predicted == y).astype(float)
    bins = np.clip(np.ceil(confidence * 15).astype(int) - 1, 0, 14)
    ece = sum(abs(correct[bins == b].mean() - confidence[bins == b].mean()) * np.sum(bins == b)
              for b in range(15) if np.any(bins == b)) / len(y)
    assert values["expected_calibration_error"] == pytest.approx(ece, abs=1e-9)


def test_subset_with_every_modality_equals_the_plain_test_metric(trained):
    result, written, model, _ = trained
    section = written["modalities"]
    assert section["metric"] == "accuracy"
    assert len(section["subsets"]) == 7  # every non-empty subset of three modalities
    everything = section["subsets"][0]
    assert everything["present"] == model.modalities
    assert everything["value"] == pytest.approx(result["test"]["accuracy"], abs=1e-6)
    assert everything["value"] == written["metrics"]["accuracy"]
    singles = {tuple(row["present"]): row["value"] for row in section["subsets"]
               if len(row["present"]) == 1}
    for name, values in result["per_modality"].items():
        assert singles[(name,)] == pytest.approx(values["accuracy"], abs=1e-6)


def test_fusion_weights_and_attribution_shares(trained):
    _, written, model, p = trained
    section = written["modalities"]
    weights = section["fusion_weights"]
    assert weights["modalities"] == model.modalities
    for name, means in weights["per_class_mean"].items():
        if means is not None:
            assert sum(means) == pytest.approx(1.0, abs=1e-5)
    share = section["attribution"]["share"]
    assert set(share) == set(model.modalities)
    assert sum(share.values()) == pytest.approx(1.0, abs=1e-6)
    assert all(value > 0 for value in share.values())
    # Integrated gradients' completeness: the attributions add up to the change in output.
    assert section["attribution"]["completeness_error"] < 0.05


def test_command_line_report_on_a_run_folder(trained, tmp_path, capsys):
    result, written, _, _ = trained
    out = tmp_path / "cli_report"
    status = main(["report", result["run_dir"], "--out", str(out), "--skip", "robustness",
                   "--skip", "cost", "--attribution-examples", "8", "--quiet"])
    assert status == 0
    assert capsys.readouterr().out.strip() == f"Report: {out}/index.html"
    again = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert again["metrics"] == pytest.approx(written["metrics"])  # the best checkpoint
    assert "robustness" not in again and "cost" not in again
    assert "learning_curves" in again["figures"]


@pytest.mark.parametrize("argv,message", [
    (["report", "no/such/model"], "No model at no/such/model"),
    (["report", "{run}", "--data", "missing.csv"], "missing.csv"),
    (["report", "{run}", "--attribution-examples", "-1"], "--attribution-examples"),
])
def test_command_line_errors_are_one_line(trained, capsys, argv, message):
    argv = [arg.format(run=trained[0]["run_dir"]) for arg in argv]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("mmzoo report: error:") and message in error
    assert "\n" not in error


def test_report_of_a_model_in_memory(trained, tmp_path):
    result, _, model, _ = trained
    examples, _ = load_examples(model, result["export_dir"])
    with pytest.raises(ValueError, match="examples"):
        mmzoo.report(model, out=tmp_path)
    written = mmzoo.report(model, out=tmp_path, examples=examples.take(40), sections=(),
                           history=f"{result['run_dir']}/history.csv")
    expected = collect(model, pipeline.eval_dataset(examples.take(40), model.preprocessor, 16))
    assert written["data"] == {"dataset": "examples", "split": "given", "examples": 40}
    assert written["metrics"]["accuracy"] == pytest.approx(
        np.mean(expected.predicted == expected.labels), abs=1e-9)
    assert "learning_curves" in written["figures"] and "modalities" not in written
    assert (tmp_path / "index.html").is_file()


@pytest.mark.slow
def test_the_report_page_renders_in_chromium(trained, tmp_path):
    from test_report_page import assert_renders

    result, written, _, _ = trained
    assert_renders(result["report"], len(written["figures"]), tmp_path)
