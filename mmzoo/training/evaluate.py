"""Evaluate a trained model (a run or a saved model) on a dataset split, and predict.

`evaluate` reports the head's metrics with every modality present and, for a model
with several modalities, with one modality at a time (the others masked out through
the `modality_mask` input): how much the fusion gains over each modality alone.
`predict` runs a saved model on files and texts, preprocessed exactly as in training
(the model's `mmzoo.Preprocessor`, `mmzoo.artifacts.load_model`).

>>> from mmzoo.training.evaluate import predict
>>> predict("saved_models/demo", {"text": "a red square"})  # doctest: +SKIP
{'inputs': ['text'], 'masked_out': ['audio', 'image'], 'outputs': [...], 'top': [...]}
"""

import os

import numpy as np
import tensorflow as tf

from mmzoo import artifacts
from mmzoo.data.manifest import check_file, decode_error_reason
from mmzoo.preprocessing.preprocessor import read_example
from mmzoo.training import inputs as pipeline


def evaluate_examples(model, examples, batch_size=64, per_modality=True, verbose=0):
    """Metrics of `model` on unbatched example dicts, all modalities and each alone.

    The examples go through `model.preprocessor` (raw texts are tokenized).

    Returns:
        `{"all": {metric: value}, "only_<modality>": {...}, ...}` (per-modality
        entries only for models with a modality mask).
    """
    preprocessor = model.preprocessor
    results = {}
    dataset = pipeline.eval_dataset(examples, preprocessor, batch_size)
    results["all"] = _evaluate(model, dataset, verbose)
    if per_modality and len(model.modalities) > 1:
        for index, name in enumerate(model.modalities):
            mask = [1.0 if i == index else 0.0 for i in range(len(model.modalities))]
            dataset = pipeline.eval_dataset(examples, preprocessor, batch_size,
                                            modality_mask=mask)
            results[f"only_{name}"] = _evaluate(model, dataset, verbose)
    return results


def _evaluate(model, dataset, verbose):
    metrics = model.evaluate(dataset, verbose=verbose, return_dict=True)
    return {key: float(value) for key, value in metrics.items()}


def evaluate(path, dataset=None, split="test", data_dir=None, options=None, seed=None,
             batch_size=64, per_modality=True, verbose=0, data=None, label=None,
             encoding=None):
    """Evaluates a saved model or a run on a dataset split, or on a manifest file.

    Args:
        path: saved model folder, run folder or `.keras` file (see `find_model`).
        data: a CSV/JSONL manifest to evaluate on instead of a dataset split: one
            column per model input (named as in training) and a label column.
        label: the manifest's label column (default: the training manifest's, else
            "label").
        encoding: the manifest's text encoding (default UTF-8, BOM or not).
        dataset: dataset name; default the one the model was trained on.
        split: `"train"`, `"validation"` or `"test"`.
        data_dir: data folder (default: the training config's, else
            `$MMZOO_DATA_DIR`).
        options: dataset options; default the training config's.
        seed: dataset seed; default the training config's.
        batch_size: evaluation batch size.
        per_modality: also evaluate each modality alone.

    Returns:
        `{"model": ..., "dataset": ..., "split": ..., "examples": n, "metrics": {...}}`
        with `metrics` as returned by `evaluate_examples`.
    """
    model = artifacts.load_model(path)
    examples, source = load_examples(model, path, split=split, data=data, label=label,
                                     encoding=encoding, dataset=dataset, data_dir=data_dir,
                                     options=options, seed=seed)
    metrics = evaluate_examples(model, examples, batch_size, per_modality, verbose)
    return {"model": str(path), **source, "metrics": metrics}


def load_examples(model, path, split="test", data=None, label=None, encoding=None,
                  dataset=None, data_dir=None, options=None, seed=None):
    """The labelled examples a model is evaluated on: a manifest, or a dataset split.

    Args:
        model: the model loaded from `path` (its preprocessor and head).
        path: its saved model folder, run folder or `.keras` file (for the config).
        split, data, label, encoding, dataset, data_dir, options, seed: as for
            `evaluate`.

    Returns:
        `(unbatched example dicts, {"dataset": name or file, "split": split or
        "file", "examples": n})`.

    Raises:
        ValueError: no dataset named and none in the model's config.
    """
    if data is not None:
        examples, manifest = read_file(model, path, data, label=label, encoding=encoding)
        return examples, {"dataset": str(data), "split": "file", "examples": len(manifest)}
    config = (artifacts.read_config(artifacts.find_model(path)[1]) or {}).get("dataset", {})
    name = dataset or config.get("name")
    if name is None:
        raise ValueError("Name the dataset to evaluate on. Received: dataset=None")
    if options is None:
        options = config.get("options", {}) if name == config.get("name") else {}
    if seed is None:
        seed = config.get("seed", 0) if name == config.get("name") else 0
    data_dir = data_dir or config.get("data_dir")
    examples = pipeline.load_splits(name, options, data_dir, seed, splits=(split,))[split]
    return examples, {"dataset": name, "split": split,
                      "examples": pipeline.count_examples(examples)}


def predict(path, inputs, top=3):
    """Predicts from files and texts with a saved model (or a run's best checkpoint).

    Args:
        path: saved model folder, run folder or `.keras` file.
        inputs: dict from input name to a file path (image and audio inputs) or a
            string (text inputs). Inputs left out are masked out.
        top: number of classes returned, best first (multiclass heads).

    Returns:
        `{"inputs": [...], "masked_out": [...], "outputs": [floats],
        "top": [[class name, probability], ...]}`.
    """
    model = artifacts.load_model(path)
    preprocessor = model.preprocessor
    names = preprocessor.input_names
    unknown = sorted(set(inputs) - set(names))
    if unknown:
        raise ValueError(
            f"The model has no input(s) {unknown}; its inputs are {sorted(names)}. "
            f"Received: {', '.join(unknown)}"
        )
    texts = {k: v for k, v in inputs.items() if preprocessor.modality(k) == "text"}
    files = {k: v for k, v in inputs.items() if preprocessor.modality(k) != "text"}
    for name, file in files.items():
        if not os.path.isfile(file):
            raise FileNotFoundError(f"No such file for input {name!r}. Received: {name}={file!r}")
    for name, file in files.items():
        reason = check_file(preprocessor.modality(name), file)
        if reason:
            raise ValueError(f"Input {name!r}: {reason.rstrip('.')}. Received: {name}={file!r}")
    try:
        example = read_example(preprocessor, files, texts)
    except tf.errors.InvalidArgumentError as error:  # a file that does not decode
        raise ValueError(f"Cannot read the input file(s) {sorted(files.values())}: "
                         f"{decode_error_reason(error)}") from None
    if "modality_mask" not in [tensor.name for tensor in model.inputs]:
        example.pop("modality_mask", None)
    outputs = np.asarray(model.predict(example, verbose=0))[0]
    result = {
        "inputs": sorted(inputs),
        "masked_out": sorted(set(names) - set(inputs)),
        "outputs": [float(v) for v in outputs],
    }
    classes = model.head.class_names
    if model.head.kind == "multiclass":
        order = np.argsort(-outputs)[: max(1, top)]
        result["top"] = [[classes[i] if classes else str(i), float(outputs[i])] for i in order]
    return result


def read_file(model, path, data, label=None, encoding=None, with_labels=True):
    """The examples of manifest `data` for `model` (saved at `path`), labels encoded
    as in training (the head's task and classes)."""
    from mmzoo.data.tasks import LabelEncoder
    from mmzoo.datasets.manifest import model_examples

    options = ((artifacts.read_config(artifacts.find_model(path)[1]) or {})
               .get("dataset", {}).get("options") or {})
    if not with_labels:
        return model_examples(model.preprocessor, data, encoding=encoding)
    head = model.head
    encoder = LabelEncoder(head.kind, list(head.class_names or []),
                           options.get("label_separator") or "|")
    if head.kind != "regression" and not encoder.class_names:
        raise ValueError(f"The model at {path} has no class names, so the labels of {data} "
                         f"cannot be matched to its outputs. Received: class_names=None")
    return model_examples(model.preprocessor, data, label=label or options.get("label", "label"),
                          encoder=encoder, encoding=encoding)


def predict_file(path, data, out, batch_size=64, encoding=None, verbose=0):
    """Predicts every row of a manifest and writes the predictions as CSV, atomically.

    Args:
        path: saved model folder, run folder or `.keras` file.
        data: a CSV/JSONL manifest with a column per model input (labels not needed).
        out: the CSV file to write: `row` (the manifest's row number), the
            row's inputs (file paths resolved, texts), `prediction` (class name(s) or
            value) and, for classes, `probability`
            (of the prediction; binary: of the second class) and one
            `probability_<class>` column per class.
        batch_size: examples per batch.
        encoding: the manifest's text encoding.
        verbose: 1 shows a progress bar.

    Returns:
        `{"model", "data", "out", "rows"}`.

    Raises:
        ValueError: a model input without column, or an unreadable manifest.
        mmzoo.data.ManifestError: broken rows, naming each.
    """
    import csv
    import io

    from mmzoo.io import atomic_write_text

    model = artifacts.load_model(path)
    examples, manifest = read_file(model, path, data, encoding=encoding, with_labels=False)
    dataset = pipeline.eval_dataset(examples.map(lambda x: {**x, "label": 0}),
                                    model.preprocessor, batch_size)
    outputs = np.asarray(model.predict(dataset.map(lambda x, y: x), verbose=verbose))
    head, names = model.head, list(model.head.class_names or [])
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    probabilities = [f"probability_{n}" for n in names] if head.kind != "binary" else []
    columns = list(manifest.columns)  # the inputs, so each prediction shows what it is of
    writer.writerow(["row", *columns, "prediction"] + (["probability"] if names else [])
                    + probabilities)
    rows = [r for r in range(1, len(manifest) + len(manifest.skipped) + 1)
            if r not in {b.row for b in manifest.skipped}]
    for index, (row, output) in enumerate(zip(rows, outputs)):
        writer.writerow([row, *[manifest.columns[c][index] for c in columns],
                         *_prediction(head.kind, names, output)])
    atomic_write_text(out, table.getvalue())
    return {"model": str(path), "data": str(data), "out": str(out), "rows": len(outputs)}


def _prediction(kind, names, output):
    """The CSV cells of one prediction (see `predict_file`)."""
    output = [float(v) for v in output]
    if kind == "regression":
        return [f"{v:.6g}" for v in output]
    if kind == "binary":
        return [names[int(output[0] >= 0.5)], f"{output[0]:.6f}"]
    if kind == "multilabel":
        chosen = [n for n, v in zip(names, output) if v >= 0.5]
        return ["|".join(chosen), f"{max(output):.6f}", *[f"{v:.6f}" for v in output]]
    best = int(np.argmax(output))
    return [names[best], f"{output[best]:.6f}", *[f"{v:.6f}" for v in output]]
