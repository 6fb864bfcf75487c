"""`mmzoo.report`: the evaluation report of a trained model, written to one folder.

    report/
      index.html      one self-contained page (figures embedded), readable offline
      report.json     every number on the page
      *.png           the figures

Sections: metrics (scikit-learn, `mmzoo.evaluation.metrics`) with their figures;
modality contribution (`mmzoo.evaluation.contribution`); robustness to noise
(`mmzoo.evaluation.robustness`); cost (`mmzoo.evaluation.cost`).

>>> import mmzoo
>>> result = mmzoo.report("saved_models/demo")  # doctest: +SKIP
>>> result["metrics"]["accuracy"], result["path"]  # doctest: +SKIP
(0.86, 'saved_models/demo/report')
"""

import datetime
import math
import pathlib
import time

from mmzoo import artifacts
from mmzoo.evaluation import contribution, figures, metrics, page
from mmzoo.evaluation.metrics import MAIN_METRIC
from mmzoo.evaluation.predictions import collect
from mmzoo.io import atomic_write_json
from mmzoo.model import MultimodalModel

REPORT_FORMAT = "mmzoo.report/1"
REPORT_FILE = "report.json"
SECTIONS = ("metrics", "modalities", "robustness", "cost")


def report(path, out=None, split="test", data=None, label=None, encoding=None,
           dataset=None, data_dir=None, options=None, seed=None, batch_size=64,
           sections=SECTIONS, attribution_examples=64, noise_levels=10, noise_seed=0,
           examples=None, history=None, log=None):
    """Evaluates a run, an export or a model in memory and writes the report folder.

    Args:
        path: an export folder (`saved_models/NAME/`), a run folder (`runs/NAME/`,
            its best checkpoint), a `.keras` file, or a `mmzoo.MultimodalModel` in
            memory (then `examples` and `out` are needed).
        out: the report folder (default: `<path>/report/`, beside the model).
        examples: for a model in memory: a `tf.data.Dataset` of unbatched example
            dicts, one entry per model input (raw, as its preprocessor takes them)
            and `"label"`.
        history: for a model in memory: its `history.csv` (a Keras `CSVLogger` or
            `mmzoo.training.callbacks.HistoryCSV` file), for the learning curves.
        split: the dataset split to evaluate on: `"test"`, `"validation"`, `"train"`.
        data: a CSV/JSONL manifest to evaluate on instead of a split (a column per
            model input and a label column, as in training).
        label, encoding: `data`'s label column and text encoding.
        dataset, data_dir, options, seed: the dataset (default: the training run's).
        batch_size: evaluation batch size.
        sections: which of `SECTIONS` to compute besides the metrics.
        attribution_examples: examples attributed by integrated gradients.
        noise_levels: noise levels of each robustness curve (besides clean).
        noise_seed: seed of the robustness noise.
        log: a line printer for progress (e.g. `print`); None is quiet.

    Returns:
        The report dict (also in `report.json`), with `path` the report folder.

    Raises:
        FileNotFoundError: no model at `path`, or `data` missing.
        ValueError: an unknown section, split or dataset; bad manifest rows.
    """
    from mmzoo.training import inputs as pipeline
    from mmzoo.training.evaluate import load_examples

    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"Unknown report section(s) {unknown}; valid sections: "
                         f"{', '.join(SECTIONS)}. Received: sections={list(sections)}")
    log = log or (lambda line: None)
    started = time.perf_counter()
    if isinstance(path, MultimodalModel):
        model, folder = path, None
        if examples is None or out is None:
            raise ValueError("A model in memory needs `examples` (a tf.data.Dataset of "
                             "example dicts with a 'label') and `out` (the report folder). "
                             f"Received: examples={examples!r}, out={out!r}")
        source = {"dataset": "examples", "split": "given",
                  "examples": pipeline.count_examples(examples)}
        history = pathlib.Path(history) if history else None
    else:
        folder = artifacts.find_model(path)[1]
        model = artifacts.load_model(path)
        examples, source = load_examples(model, path, split=split, data=data, label=label,
                                         encoding=encoding, dataset=dataset,
                                         data_dir=data_dir, options=options, seed=seed)
        history = _history_file(folder)
    out = pathlib.Path(out) if out else folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    head = model.head
    path = "(in memory)" if folder is None else path
    log(f"mmzoo report: {path} on {source['dataset']} ({source['split']}, "
        f"{source['examples']} examples) -> {out}/")
    result = {
        "format": REPORT_FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"path": str(path), "name": model.name, "task": head.kind,
                  "class_names": list(head.class_names or []), "modalities": model.modalities,
                  "main_metric": MAIN_METRIC[head.kind]},
        "data": source,
        "figures": {},
        "skipped": {},
    }
    plots = {}
    seconds = {}

    def timed(name):
        seconds[name] = round(time.perf_counter() - started - sum(seconds.values()), 1)

    # Metrics, on the predictions with every modality present.
    if "modalities" in sections:
        log("  modality subsets ...")
        subset_rows, predictions = contribution.subset_metrics(model, examples, batch_size)
    else:
        predictions = collect(model, pipeline.eval_dataset(examples, model.preprocessor,
                                                           batch_size))
    scores = metrics.compute(predictions)
    result.update(scores)
    plots.update(_metric_figures(predictions, scores, history))
    timed("metrics")

    dataset_batches = pipeline.eval_dataset(examples, model.preprocessor, batch_size)
    if "modalities" in sections:
        result["modalities"] = _modalities(model, dataset_batches, subset_rows, predictions,
                                           attribution_examples, plots, result["skipped"], log)
        timed("modalities")
    if "robustness" in sections:
        from mmzoo.evaluation import robustness

        log(f"  robustness: {noise_levels} noise levels per modality ...")
        curves = robustness.curves(model, dataset_batches, levels=noise_levels,
                                   seed=noise_seed)
        result["robustness"] = curves
        for name, curve in curves.items():
            plots[f"robustness_{name}"] = figures.robustness_curve(curve, name)
        timed("robustness")
    if "cost" in sections:
        from mmzoo.evaluation import cost

        log("  cost: parameters, FLOPs, latency and memory ...")
        export_dir = None if folder is None else (
            folder if (folder / "saved_model.pb").is_file() else _export_of(folder))
        result["cost"] = cost.cost(model, export_dir=export_dir)
        timed("cost")

    for name, figure in plots.items():
        if figure is not None:
            result["figures"][name] = figures.save(figure, out, name).name
    result["seconds"] = seconds
    result["path"] = str(out)
    result = _strict_json(result)
    atomic_write_json(out / REPORT_FILE, result)
    index = page.write_page(out, result)
    log(f"  wrote {index} ({len(result['figures'])} figures) and {out / REPORT_FILE} "
        f"in {time.perf_counter() - started:.0f} s")
    return result


def _metric_figures(predictions, scores, history):
    plots = {}
    if scores["confusion_matrix"]:
        counts, names = scores["confusion_matrix"]["counts"], scores["confusion_matrix"]["labels"]
        plots["confusion_matrix"] = figures.confusion_matrix(counts, names)
        plots["confusion_matrix_normalized"] = figures.confusion_matrix(counts, names,
                                                                        normalize=True)
    if scores["per_class"]:
        plots["per_class_f1"] = figures.per_class_bars(scores["per_class"])
        plots["roc"] = figures.roc_curves(predictions)
        plots["pr"] = figures.pr_curves(predictions)
    if scores["calibration"]:
        plots["reliability"] = figures.reliability_diagram(scores["calibration"])
    if history is not None:
        plots["learning_curves"] = figures.learning_curves(history)
    return plots


def _modalities(model, dataset, subset_rows, predictions, attribution_examples, plots,
                skipped, log):
    from mmzoo.interpret import has_modality_weights

    section = {"metric": MAIN_METRIC[model.head.kind], "subsets": subset_rows,
               "fusion_weights": None, "attribution": None}
    if len(subset_rows) > 1:
        plots["metric_by_subset"] = figures.metric_by_subset(subset_rows, section["metric"])
    if len(model.modalities) < 2:
        skipped["modalities"] = "the model has one modality"
        return section
    if has_modality_weights(model) and model.head.kind in ("multiclass", "binary"):
        log("  fusion weights per class ...")
        names = predictions.class_names or [str(i) for i in
                                            range(predictions.probabilities.shape[1])]
        weights = contribution.fusion_weights(model, dataset, names)
        plots["fusion_weights"] = figures.fusion_weights(weights["per_class"],
                                                         weights["modalities"])
        section["fusion_weights"] = {"modalities": weights["modalities"],
                                     "per_class_mean": weights["per_class_mean"]}
    else:
        skipped["fusion_weights"] = (f"the {type(model.get_layer('fusion')).__name__} does "
                                     "not weigh the modalities")
    if attribution_examples:
        log(f"  integrated gradients on {attribution_examples} examples ...")
        section["attribution"] = contribution.attribution(model, dataset,
                                                          examples=attribution_examples)
        plots["attribution"] = figures.attribution_share(section["attribution"]["share"])
    return section


def _strict_json(value):
    """`value` with every non-finite float (the clean level of an SNR curve is
    infinite) as None: strict JSON has no Infinity or NaN."""
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _history_file(folder):
    """The run's `history.csv`: in the folder, else in the run folder of its config."""
    if (folder / "history.csv").is_file():
        return folder / "history.csv"
    config = artifacts.read_config(folder) or {}
    runs = config.get("output", {}).get("runs_dir")
    if runs and config.get("name"):
        candidate = pathlib.Path(runs) / config["name"] / "history.csv"
        if candidate.is_file():
            return candidate
    return None


def _export_of(folder):
    """The export folder of a run folder (from its config), if there is one."""
    config = artifacts.read_config(folder) or {}
    exports = config.get("output", {}).get("saved_models_dir")
    if exports and config.get("name"):
        candidate = pathlib.Path(exports) / config["name"]
        if (candidate / "saved_model.pb").is_file():
            return candidate
    return None
