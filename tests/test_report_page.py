"""The report's presentation: the matplotlib figures (`mmzoo.evaluation.figures`) and
the self-contained HTML page (`mmzoo.evaluation.page`), rendered in headless Chromium
by the slow check."""

import html
import pathlib
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

from mmzoo.evaluation import figures
from mmzoo.evaluation.page import write_page
from mmzoo.evaluation.predictions import Predictions
from mmzoo.training.callbacks import HistoryCSV

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CLASSES = ["cat", "dog", "<b>&"]   # the third checks that the page escapes text


def synthetic_predictions(n=60, seed=0):
    """60 examples, 3 classes, probabilities that are right about 70% of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Predictions("multiclass", CLASSES, labels, probabilities)


def calibration_of(predictions, bins=10):
    confidence = predictions.probabilities.max(axis=1)
    correct = predictions.predicted == predictions.labels
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    counts = [int((index == b).sum()) for b in range(bins)]
    mean = lambda values, b: float(values[index == b].mean()) if counts[b] else None  # noqa: E731
    ece = sum(counts[b] * abs(mean(confidence, b) - mean(correct, b))
              for b in range(bins) if counts[b])
    return {"ece": ece / len(confidence), "bin_edges": edges.tolist(), "count": counts,
            "confidence": [mean(confidence, b) for b in range(bins)],
            "accuracy": [mean(correct, b) for b in range(bins)]}


def per_class_of(predictions):
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        predictions.labels, predictions.predicted, labels=[0, 1, 2], zero_division=0)
    return [{"class": name, "precision": float(p), "recall": float(r), "f1": float(f),
             "support": int(s), "roc_auc": None, "pr_auc": 0.5}
            for name, p, r, f, s in zip(CLASSES, precision, recall, f1, support)]


def png_size(path):
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory):
    """A report folder with every figure and a full synthetic `report` dict."""
    folder = tmp_path_factory.mktemp("report")
    predictions = synthetic_predictions()
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(predictions.labels, predictions.predicted, labels=[0, 1, 2])
    history = HistoryCSV(folder / "history.csv")
    history.on_train_begin()
    for epoch in range(4):
        history.on_epoch_end(epoch, {"loss": 1 / (epoch + 1), "val_loss": 1.2 / (epoch + 1),
                                     "accuracy": 0.5 + 0.1 * epoch, "learning_rate": 1e-3,
                                     "val_accuracy": 0.45 + 0.1 * epoch})
    rng = np.random.default_rng(1)
    weights = {name: rng.dirichlet([2, 3], size=12).tolist() for name in CLASSES}
    curve = {"noise": "Gaussian noise std", "levels": np.linspace(0, 1, 11).tolist(),
             "values": np.linspace(0.9, 0.4, 11).tolist(), "metric": "accuracy", "chance": 1 / 3,
             "relative_robustness": 0.71, "effective_robustness": 0.12}
    subsets = [{"present": ["image", "text"], "value": 0.81}, {"present": ["image"], "value": 0.7},
               {"present": ["text"], "value": 0.52}]
    made = {
        "confusion_matrix": figures.confusion_matrix(counts, CLASSES),
        "confusion_matrix_normalized": figures.confusion_matrix(counts, CLASSES, normalize=True),
        "per_class_f1": figures.per_class_bars(per_class_of(predictions)),
        "roc": figures.roc_curves(predictions),
        "pr": figures.pr_curves(predictions),
        "reliability": figures.reliability_diagram(calibration_of(predictions)),
        "learning_curves": figures.learning_curves(folder / "history.csv"),
        "metric_by_subset": figures.metric_by_subset(subsets, "accuracy"),
        "fusion_weights": figures.fusion_weights(weights, ["image", "text"]),
        "attribution": figures.attribution_share({"image": 0.64, "text": 0.36}),
        "robustness_image": figures.robustness_curve(curve, "image"),
    }
    names = {key: figures.save(figure, folder, key).name for key, figure in made.items()}
    report = {
        "model": {"path": "runs/demo/export", "name": "demo <model>", "task": "multiclass",
                  "class_names": CLASSES, "modalities": ["image", "text"],
                  "main_metric": "accuracy"},
        "data": {"dataset": "synthetic", "split": "test", "examples": 60},
        "created": "2025-01-01T00:00:00Z",
        "metrics": {"accuracy": 0.7166666, "f1_macro": 0.70123, "log_loss": 0.81, "mae": None},
        "per_class": per_class_of(predictions),
        "modalities": {"metric": "accuracy", "subsets": subsets,
                       "fusion_weights": {"modalities": ["image", "text"],
                                         "per_class_mean": {c: [0.4, 0.6] for c in CLASSES}},
                       "attribution": {"method": "integrated gradients", "examples": 32,
                                       "steps": 16, "share": {"image": 0.64, "text": 0.36}}},
        "robustness": {"image": curve, "text": "skipped: the text tower has no noise model"},
        "cost": {"parameters": [{"part": "image_tower", "trainable": 1200, "frozen": 250000},
                                {"part": "head", "trainable": 99}],
                 "latency_ms": {"batch_size": 1, "p50": 3.21}, "measured": "CPU, 2 cores"},
        "figures": names,
        "skipped": {"learning_rate_schedule": "not recorded"},
    }
    write_page(folder, report)
    return folder, report


def test_figures_are_png_files(report_folder):
    folder, report = report_folder
    assert len(report["figures"]) == 11
    for name in report["figures"].values():
        width, height = png_size(folder / name)
        assert width > 200 and height > 150
        assert (folder / name).stat().st_size > 1024
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp")]


def test_confusion_matrix_normalizes_rows():
    counts = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    image = figures.confusion_matrix(counts, ["a", "b", "c"], normalize=True).axes[0].images[0]
    values = np.asarray(image.get_array())
    np.testing.assert_allclose(values.sum(axis=1), [1, 0, 1])
    np.testing.assert_allclose(values[2], [0.25, 0.25, 0.5])
    with pytest.raises(ValueError, match="Received: shape"):
        figures.confusion_matrix(counts, ["a", "b"])


def test_curves_leave_out_classes_with_one_label_value():
    labels = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    outputs = np.array([[0.8, 0.1], [0.3, 0.2], [0.6, 0.4], [0.1, 0.3]])
    for draw in (figures.roc_curves, figures.pr_curves):
        figure = draw(Predictions("multilabel", ["sunny", "rain"], labels, outputs))
        legend = figure.axes[0].get_legend()
        assert "rain" in legend.get_title().get_text()
        assert [t.get_text().split()[0] for t in legend.get_texts()][0] == "sunny"
    binary = Predictions("binary", ["no", "yes"], [0, 1, 1, 0], [0.2, 0.9, 0.7, 0.4])
    legend = figures.roc_curves(binary).axes[0].get_legend()
    assert legend.get_texts()[0].get_text() == "yes (AUC 1.000)"
    with pytest.raises(ValueError, match="kind 'regression'"):
        figures.roc_curves(Predictions("regression", [], [[1.0]], [[0.5]]))


def test_learning_curves_panels(tmp_path):
    assert figures.learning_curves(tmp_path / "missing.csv") is None
    (tmp_path / "empty.csv").write_text("epoch,loss\n")
    assert figures.learning_curves(tmp_path / "empty.csv") is None
    (tmp_path / "h.csv").write_text("epoch,auc,loss,lr,val_auc,val_loss\n0,0.6,1.0,0.01,0.55,1.1\n"
                                    "1,0.7,0.8,0.01,0.6,,\n")
    titles = [ax.get_title() for ax in figures.learning_curves(tmp_path / "h.csv").axes]
    assert titles == ["loss", "auc", "lr"]


def test_bad_inputs_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="`calibration`.*Received"):
        figures.reliability_diagram({"ece": 0.1})
    with pytest.raises(ValueError, match=r"`per_class\['a'\]`.*Received: shape \(1, 3\)"):
        figures.fusion_weights({"a": [[0.1, 0.2, 0.7]]}, ["image", "text"])
    with pytest.raises(ValueError, match="`curve` needs as many values"):
        figures.robustness_curve(
            {"noise": "std", "levels": [0, 1], "values": [1], "metric": "mae"}, "x")
    with pytest.raises(ValueError, match="`name`"):
        figures.save(figures.attribution_share({"a": 1.0}), tmp_path, "../escape")


def test_page_is_self_contained(report_folder):
    folder, report = report_folder
    text = (folder / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    sources = re.findall(r"<img [^>]*src=\"([^\"]*)\"", text)
    assert len(sources) == len(report["figures"])
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert len(re.findall(r"<img [^>]*alt=\"[^\"]+\"", text)) == len(sources)
    for key in ("metrics", "modalities", "robustness", "cost", "skipped"):
        assert f'href="#{key}"' in text and f'id="{key}"' in text


def test_page_escapes_text_and_shows_numbers(report_folder):
    folder, _ = report_folder
    text = (folder / "index.html").read_text()
    assert "<b>&" not in text and html.escape("<b>&") in text
    assert "demo &lt;model&gt;" in text
    assert ">0.7167<" in text and ">n/a<" in text and ">251,299<" in text   # 4 decimals, total
    assert "64.0%" in text and "3.2100" in text and "CPU, 2 cores" in text


def test_page_shows_skip_reasons(tmp_path, report_folder):
    _, full = report_folder
    text = (report_folder[0] / "index.html").read_text()
    assert "the text tower has no noise model" in text and "not recorded" in text
    report = {"model": {"name": "m"}, "metrics": "skipped: no labels in the split",
              "skipped": {"cost": "--no-cost was given"}, "figures": {"roc": "absent.png"},
              "robustness": {}}
    text = write_page(tmp_path, report).read_text()
    assert "Skipped: no labels in the split" in text and "Skipped: --no-cost was given" in text
    assert 'id="modalities"' not in text and "<img" not in text


@pytest.mark.slow
def test_page_renders_in_chromium(report_folder, tmp_path):
    """Headless Chromium draws the page (not blank) and decodes every embedded figure."""
    folder, report = report_folder
    assert_renders(folder, len(report["figures"]), tmp_path)


def assert_renders(folder, figures, tmp_path):
    """Renders `folder/index.html` in headless Chromium: the screenshot is not blank
    and all `figures` images are decoded. Skips when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: `make test-slow` installs it "
                    "(Debian package chromium)")
    folder = pathlib.Path(folder)
    probe = tmp_path / "probe.html"   # a copy with a script that counts the decoded images
    script = ("<script>addEventListener('load',function(){var n=0,i=document.images;"
              "for(var k=0;k<i.length;k++)if(i[k].complete&&i[k].naturalWidth>0)n++;"
              "var p=document.createElement('p');p.id='probe';"
              "p.textContent='images '+n+' of '+i.length;"
              "document.body.appendChild(p);});</script>")
    probe.write_text((folder / "index.html").read_text().replace("</body>", script + "</body>"))

    def chromium(*args, profile):
        command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                   "--no-first-run", "--disable-background-networking",
                   "--disable-component-update",
                   "--disable-sync", f"--user-data-dir={tmp_path / profile}", "--hide-scrollbars",
                   "--window-size=1200,3000", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    shot = tmp_path / "shot.png"
    done = chromium(f"--screenshot={shot}", f"file://{folder / 'index.html'}", profile="a")
    assert shot.is_file(), f"no screenshot; chromium said: {done.stderr[-2000:]}"
    shutil.copy(shot, folder / "screenshot.png")   # kept beside the page for a look
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype="float64")
    assert pixels.shape[:2] == (3000, 1200)
    non_white = (pixels < 245).any(axis=-1).mean()
    colours = len(np.unique(pixels.reshape(-1, 3)[::7], axis=0))
    assert non_white > 0.05 and colours > 100 and pixels.std() > 20, (non_white, colours)

    dom = chromium("--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000",
                   "--dump-dom", f"file://{probe}", profile="b").stdout
    found = re.search(r"images (\d+) of (\d+)", dom)
    assert found, f"the probe did not run; chromium printed: {dom[-2000:]}"
    assert found.groups() == (str(figures),) * 2
