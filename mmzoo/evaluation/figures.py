"""The figures of the evaluation report, drawn with matplotlib's object API.

Every function returns a `matplotlib.figure.Figure` on an Agg canvas (no pyplot
global state: thread-safe, never opens a window); `save` writes it as a PNG
atomically. Colours: "Blues" for matrices, tab10 (tab20 beyond 10 series) for lines.

>>> import pathlib, tempfile
>>> import numpy as np
>>> figure = confusion_matrix(np.array([[5, 1], [2, 7]]), ["cat", "dog"])
>>> save(figure, tempfile.mkdtemp(), "confusion_matrix").read_bytes()[:4]
b'\\x89PNG'
"""

import csv
import math
import os
import pathlib

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mmzoo.io import atomic_path

DPI = 110


def _new(width, height, **kwargs):
    figure = Figure(figsize=(width, height), layout="constrained", **kwargs)
    FigureCanvasAgg(figure)
    return figure


def _colours(count):
    palette = colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(count)]


def _require(value, keys, argument):
    missing = [key for key in keys if not isinstance(value, dict) or key not in value]
    if missing:
        raise ValueError(f"`{argument}` must be a dict with the keys {list(keys)}. "
                         f"Received: {value!r:.200}")


def save(figure, folder, name):
    """Writes `figure` to `folder/name.png` atomically (temporary file, then
    `os.replace`) at `DPI` dots per inch, and clears the figure to free its memory.

    Args:
        figure: a `matplotlib.figure.Figure`.
        folder: the destination folder (created if missing).
        name: the file name without `.png`; no path separators.

    Returns:
        pathlib.Path: the PNG file.

    Raises:
        ValueError: `name` is empty or holds a path separator.
    """
    if not name or "/" in name or os.sep in name:
        raise ValueError(f"`name` must be a plain file name. Received: {name!r}")
    path = pathlib.Path(folder) / f"{name}.png"
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI, facecolor="white")
    figure.clear()
    return path


def confusion_matrix(counts, class_names, normalize=False):
    """A confusion matrix as a heat map ("Blues"), cells annotated up to 20 classes.

    Args:
        counts: `(C, C)` integer counts, rows the true classes, columns the predicted.
        class_names: the `C` class names.
        normalize: divide each row by its sum (the recall of each class on the
            diagonal); rows without examples stay 0.

    Returns:
        matplotlib.figure.Figure

    Raises:
        ValueError: `counts` is not square or does not match `class_names`.

    >>> len(confusion_matrix([[3, 1], [0, 4]], ["a", "b"], normalize=True).axes)
    2
    """
    counts = np.asarray(counts)
    size = len(class_names)
    if counts.shape != (size, size):
        raise ValueError(f"`counts` must have shape (C, C) = ({size}, {size}) for "
                         f"{size} class names. Received: shape {counts.shape}")
    values = counts.astype("float64")
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    side = min(4.0 + 0.4 * size, 12.0)
    figure = _new(side + 1.2, side)
    ax = figure.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    figure.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class"
                    if normalize else "examples")
    if size <= 50:  # beyond, the names would overlap: matplotlib's numeric ticks
        names = [str(name) for name in class_names]
        ax.set_xticks(np.arange(size), names, rotation=45 if size > 4 else 0,
                      ha="right" if size > 4 else "center")
        ax.set_yticks(np.arange(size), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix" + (" (row-normalised)" if normalize else ""))
    if size <= 20:
        threshold = values.max() / 2 if values.size else 0
        for (row, column), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalize else f"{int(counts[row, column])}"
            ax.text(column, row, text, ha="center", va="center", fontsize=8 if size > 10 else 10,
                    color="white" if value > threshold else "black")
    return figure


def _one_vs_rest(predictions):
    """(name, 0/1 truth, score) per class: one-vs-rest, one for binary's positive."""
    kind, names = predictions.kind, list(predictions.class_names)
    if kind == "binary":
        name = names[1] if len(names) > 1 else "positive"
        return [(name, predictions.labels, predictions.y_pred)]
    if kind == "multiclass":
        return [(name, (predictions.labels == c).astype(int), predictions.y_pred[:, c])
                for c, name in enumerate(names)]
    if kind == "multilabel":
        return [(name, predictions.labels[:, c], predictions.y_pred[:, c])
                for c, name in enumerate(names)]
    raise ValueError("ROC and precision-recall curves need class scores (multiclass, "
                     f"binary or multilabel predictions). Received: kind {kind!r}")


def _curves(predictions, roc):
    from sklearn import metrics

    series = _one_vs_rest(predictions)
    figure = _new(7.5 if len(series) > 10 else 6, 5)
    ax = figure.add_subplot()
    left_out = []
    for (name, truth, score), colour in zip(series, _colours(len(series))):
        if np.min(truth) == np.max(truth):
            left_out.append(str(name))
        elif roc:
            x, y, _ = metrics.roc_curve(truth, score)
            area = metrics.roc_auc_score(truth, score)
            ax.plot(x, y, color=colour, label=f"{name} (AUC {area:.3f})")
        else:
            y, x, _ = metrics.precision_recall_curve(truth, score)
            average = metrics.average_precision_score(truth, score)
            ax.plot(x, y, color=colour, drawstyle="steps-post", label=f"{name} (AP {average:.3f})")
    if roc:
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate" if roc else "recall",
           ylabel="true positive rate" if roc else "precision",
           title=("ROC curves" if roc else "Precision-recall curves") + " (one-vs-rest)")
    ax.grid(alpha=0.3)
    title = None
    if left_out:
        more = f", … ({len(left_out)} in all)" if len(left_out) > 6 else ""
        title = f"left out (one class only): {', '.join(left_out[:6])}{more}"
    if len(series) > 10:
        ax.legend(title=title, fontsize="x-small", title_fontsize="x-small",
                  loc="upper left", bbox_to_anchor=(1.02, 1))
    else:
        ax.legend(title=title, fontsize="small", title_fontsize="small",
                  loc="lower right" if roc else "lower left")
    return figure


def roc_curves(predictions):
    """ROC curves, one per class one-vs-rest (binary: the positive class; multilabel:
    per label), with the area under each (`sklearn.metrics.roc_curve`,
    `roc_auc_score`). Classes without positive or negative examples are left out
    and named in the legend title.

    Args:
        predictions: a `mmzoo.evaluation.predictions.Predictions`, not regression.

    Returns:
        matplotlib.figure.Figure

    Raises:
        ValueError: the predictions are a regression's.

    >>> from mmzoo.evaluation.predictions import Predictions
    >>> p = Predictions("binary", ["no", "yes"], [0, 1, 1, 0], [0.2, 0.7, 0.4, 0.1])
    >>> len(roc_curves(p).axes)
    1
    """
    return _curves(predictions, roc=True)


def pr_curves(predictions):
    """Precision-recall curves per class, as `roc_curves`, with the average precision
    of each (`sklearn.metrics.precision_recall_curve`, `average_precision_score`).

    Args:
        predictions: a `mmzoo.evaluation.predictions.Predictions`, not regression.

    Returns:
        matplotlib.figure.Figure

    Raises:
        ValueError: the predictions are a regression's.
    """
    return _curves(predictions, roc=False)


def reliability_diagram(calibration):
    """Accuracy against confidence per confidence bin, with the diagonal of perfect
    calibration and the examples per bin beneath (Guo et al. 2017, "On Calibration
    of Modern Neural Networks").

    Args:
        calibration: `{"ece": float or None, "bin_edges": [B + 1], "confidence": [B],
            "accuracy": [B], "count": [B]}`; empty bins hold `None`.

    Returns:
        matplotlib.figure.Figure: two axes.

    Raises:
        ValueError: keys are missing or the lists do not have B + 1 and B entries.

    >>> len(reliability_diagram({"ece": 0.1, "bin_edges": [0, 0.5, 1], "count": [0, 4],
    ...     "confidence": [None, 0.8], "accuracy": [None, 0.75]}).axes)
    2
    """
    _require(calibration, ("ece", "bin_edges", "confidence", "accuracy", "count"), "calibration")
    edges = np.asarray(calibration["bin_edges"], dtype="float64")
    bins = len(edges) - 1
    if bins < 1 or any(len(calibration[k]) != bins for k in ("confidence", "accuracy", "count")):
        raise ValueError("`calibration` needs B + 1 bin edges and B confidence, accuracy and "
                         f"count values. Received: {calibration!r:.300}")
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    accuracy, confidence = (np.array([np.nan if v is None else v for v in calibration[key]],
                                     dtype="float64") for key in ("accuracy", "confidence"))
    figure = _new(5.5, 6)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.bar(centres, np.nan_to_num(accuracy), width=widths, color="tab:blue", alpha=0.8,
            edgecolor="white", label="accuracy")
    top.plot(confidence, accuracy, "o", color="tab:orange", markersize=4,
             label="bin (mean confidence, accuracy)")
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ece = calibration["ece"]
    top.set(ylim=(0, 1), ylabel="accuracy", title="Reliability diagram (ECE "
            + ("n/a" if ece is None else f"{ece:.4f}") + ")")
    top.legend(loc="upper left", fontsize="small")
    top.grid(alpha=0.3)
    bottom.bar(centres, calibration["count"], width=widths, color="tab:grey", edgecolor="white")
    bottom.set(xlim=(edges[0], edges[-1]), xlabel="confidence", ylabel="examples")
    return figure


def learning_curves(history_csv):
    """Training curves from a Keras `CSVLogger`-style `history.csv`: one panel for
    the losses, one per other metric (training and `val_` lines together).

    Args:
        history_csv: the CSV path (`mmzoo.training.callbacks.HistoryCSV` writes it).

    Returns:
        matplotlib.figure.Figure, or None if the file is missing or has no rows.
    """
    path = pathlib.Path(history_csv)
    if not path.is_file():
        return None
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    if not rows:
        return None

    def column(name):
        values = []
        for row in rows:
            try:
                values.append(float(row.get(name) or "nan"))
            except ValueError:
                values.append(math.nan)
        return np.array(values)

    names = [name for name in rows[0] if name and name != "epoch"]
    epochs = column("epoch") if "epoch" in rows[0] else np.arange(len(rows), dtype="float64")
    bases = sorted({name.removeprefix("val_") for name in names},
                   key=lambda name: (name != "loss", name))
    columns = min(len(bases), 3)
    lines = max(1, math.ceil(len(bases) / 3))
    figure = _new(4.2 * max(columns, 1), 3.3 * lines)
    for index, base in enumerate(bases):
        ax = figure.add_subplot(lines, max(columns, 1), index + 1)
        for name, label, colour in ((base, "training", "tab:blue"),
                                    (f"val_{base}", "validation", "tab:orange")):
            if name in names:
                ax.plot(epochs, column(name), marker="o", markersize=3, color=colour, label=label)
        if base in ("lr", "learning_rate") and np.nanmin(column(base)) > 0:
            ax.set_yscale("log")
        ax.set(title=base.replace("_", " "), xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return figure


def _bars(labels, values, title, xlabel, height_per_bar=0.32):
    figure = _new(6.5, max(2.2, 1.2 + height_per_bar * len(labels)))
    ax = figure.add_subplot()
    finite = np.nan_to_num(np.asarray(values, dtype="float64"))
    ax.barh(np.arange(len(labels)), finite, color="tab:blue", alpha=0.85)
    ax.set_yticks(np.arange(len(labels)), labels)
    for position, value in enumerate(values):
        ax.text(max(finite[position], 0), position, " n/a" if np.isnan(value) else f" {value:.3f}",
                va="center", fontsize=8)
    upper = 1.12 if np.all((finite >= 0) & (finite <= 1)) else None
    ax.set(xlim=(min(0, finite.min(initial=0)), upper or finite.max(initial=1) * 1.15),
           xlabel=xlabel, title=title)
    ax.grid(axis="x", alpha=0.3)
    return figure


def per_class_bars(per_class, value="f1"):
    """Horizontal bars of one per-class metric, sorted, the best on top.

    Args:
        per_class: `[{"class": name, "precision", "recall", "f1", "support"}, ...]`.
        value: the key to draw (`"f1"`, `"precision"`, `"recall"`, ...).

    Returns:
        matplotlib.figure.Figure

    Raises:
        ValueError: an entry lacks `"class"` or `value`.

    >>> len(per_class_bars([{"class": "a", "f1": 0.5, "support": 3}]).axes)
    1
    """
    for entry in per_class:
        _require(entry, ("class", value), "per_class entries")
    ordered = sorted(per_class, key=lambda e: -1 if e[value] is None else e[value])
    labels = [f"{e['class']} (n={e.get('support', '?')})" for e in ordered]
    values = [math.nan if e[value] is None else float(e[value]) for e in ordered]
    return _bars(labels, values, f"{value.replace('_', ' ')} per class", value)


def metric_by_subset(subsets, metric):
    """The metric with each subset of the modalities present (the others masked).

    Args:
        subsets: `[{"present": ["image", "text"], "value": float}, ...]`; the first is
            drawn on top.
        metric: the metric's name, for the title and axis.

    Returns:
        matplotlib.figure.Figure

    >>> len(metric_by_subset([{"present": ["image"], "value": 0.5}], "accuracy").axes)
    1
    """
    for entry in subsets:
        _require(entry, ("present", "value"), "subsets entries")
    labels = [" + ".join(e["present"]) or "none" for e in subsets][::-1]
    values = [math.nan if e["value"] is None else float(e["value"]) for e in subsets][::-1]
    return _bars(labels, values, f"{metric} by modalities present", metric)


def fusion_weights(per_class, modalities):
    """Box plots of the fusion's per-example modality weights, grouped by class.

    Args:
        per_class: `{class_name: [[w_0, ..., w_M-1], ...]}`, one row per example.
        modalities: the `M` modality names.

    Returns:
        matplotlib.figure.Figure

    Raises:
        ValueError: a class's rows do not have `M` columns.

    >>> len(fusion_weights({"a": [[0.2, 0.8], [0.4, 0.6]]}, ["image", "text"]).axes)
    1
    """
    count = len(modalities)
    colours = _colours(count)
    figure = _new(min(3 + 0.25 * count * len(per_class) + 0.5 * len(per_class), 16), 4.5)
    ax = figure.add_subplot()
    for group, (name, rows) in enumerate(per_class.items()):
        rows = np.asarray(rows, dtype="float64")
        if rows.size == 0:
            continue
        if rows.ndim != 2 or rows.shape[1] != count:
            raise ValueError(f"`per_class[{name!r}]` must be rows of {count} weights. "
                             f"Received: shape {rows.shape}")
        positions = group * (count + 1) + np.arange(count)
        boxes = ax.boxplot(list(rows.T), positions=positions, widths=0.75, patch_artist=True,
                           showfliers=False, medianprops={"color": "black"})
        for box, colour in zip(boxes["boxes"], colours):
            box.set(facecolor=colour, alpha=0.8)
    ax.set_xticks([g * (count + 1) + (count - 1) / 2 for g in range(len(per_class))],
                  [str(name) for name in per_class], rotation=45 if len(per_class) > 6 else 0)
    ax.set(xlabel="true class", ylabel="fusion weight", title="Fusion weights per class")
    ax.legend([Patch(color=c) for c in colours], modalities, fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return figure


def attribution_share(share):
    """The share of the total attribution each modality gets, as bars.

    Args:
        share: `{modality: fraction}`, the fractions summing to 1.

    Returns:
        matplotlib.figure.Figure

    >>> len(attribution_share({"image": 0.7, "text": 0.3}).axes)
    1
    """
    if not isinstance(share, dict) or not share:
        raise ValueError("`share` must be a non-empty dict {modality: fraction}. "
                         f"Received: {share!r}")
    figure = _new(max(3.5, 1.2 * len(share) + 1.5), 3.8)
    ax = figure.add_subplot()
    values = [float(v) for v in share.values()]
    bars = ax.bar(list(share), values, color=_colours(len(share)))
    ax.bar_label(bars, [f"{100 * v:.1f}%" for v in values], fontsize=9)
    ax.set(ylim=(0, max(1.0, max(values)) * 1.1), ylabel="share of attribution",
           title="Attribution by modality")
    ax.grid(axis="y", alpha=0.3)
    return figure


def robustness_curve(curve, modality):
    """The metric against the noise level on one modality, with the chance level.

    Args:
        curve: `{"noise", "levels", "values", "metric", "chance", "relative_robustness",
            "effective_robustness"}`; `levels[0]` is the clean data. The levels are
            shown evenly spaced, the noise growing to the right (falling SNR too).
        modality: the noisy modality's name.

    Returns:
        matplotlib.figure.Figure

    Raises:
        ValueError: keys are missing or levels and values differ in length.

    >>> len(robustness_curve({"noise": "std", "levels": [0, 1], "values": [0.9, 0.5],
    ...     "metric": "accuracy", "chance": 0.5, "relative_robustness": 0.7,
    ...     "effective_robustness": 0.1}, "image").axes)
    1
    """
    _require(curve, ("noise", "levels", "values", "metric"), "curve")
    if len(curve["levels"]) != len(curve["values"]):
        raise ValueError("`curve` needs as many values as levels. Received: "
                         f"{len(curve['levels'])} levels, {len(curve['values'])} values")
    figure = _new(6, 4)
    ax = figure.add_subplot()
    levels = curve["levels"]
    ax.plot(range(len(levels)), [math.nan if v is None else v for v in curve["values"]],
            marker="o", color="tab:blue", label=curve["metric"])
    ax.set_xticks(range(len(levels)), ["clean"] + [f"{float(v):g}" for v in levels[1:]])
    if curve.get("chance") is not None:
        ax.axhline(curve["chance"], color="grey", linestyle="--", linewidth=1, label="chance")
    text = "\n".join(f"{kind} robustness: " + ("n/a" if value is None else f"{value:.3f}")
                     for kind in ("relative", "effective")
                     for value in [curve.get(f"{kind}_robustness")])
    ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#bbbbbb"})
    ax.set(xlabel=curve["noise"], ylabel=curve["metric"],
           title=f"Robustness to noise on {modality}")
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(alpha=0.3)
    return figure
