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

from mmzoo import artifacts
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
             batch_size=64, per_modality=True, verbose=0):
    """Evaluates a saved model or a run on a dataset split.

    Args:
        path: saved model folder, run folder or `.keras` file (see `find_model`).
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
    data = (artifacts.read_config(artifacts.find_model(path)[1]) or {}).get("dataset", {})
    name = dataset or data.get("name")
    if name is None:
        raise ValueError("Name the dataset to evaluate on. Received: dataset=None")
    if options is None:
        options = data.get("options", {}) if name == data.get("name") else {}
    if seed is None:
        seed = data.get("seed", 0) if name == data.get("name") else 0
    data_dir = data_dir or data.get("data_dir")
    examples = pipeline.load_splits(name, options, data_dir, seed, splits=(split,))[split]
    metrics = evaluate_examples(model, examples, batch_size, per_modality, verbose)
    return {
        "model": str(path),
        "dataset": name,
        "split": split,
        "examples": pipeline.count_examples(examples),
        "metrics": metrics,
    }


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
    example = read_example(preprocessor, files, texts)
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
