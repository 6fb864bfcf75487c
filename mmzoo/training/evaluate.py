"""Evaluate a trained model (a run or a saved model) on a dataset split, and predict.

`evaluate` reports the head's metrics with every modality present and, for a model
with several modalities, with one modality at a time (the others masked out through
the `modality_mask` input): how much the fusion gains over each modality alone.
`predict` runs a saved model on files and texts, preprocessed exactly as in training
(`preprocessing.json`).

>>> import mmzoo.training.evaluate as ev
>>> ev.find_model("saved_models/demo")  # doctest: +SKIP
(PosixPath('saved_models/demo/model.keras'), PosixPath('saved_models/demo'))
"""

import pathlib

import numpy as np
import yaml

from mmzoo.training import inputs as pipeline
from mmzoo.training.preprocessing_bundle import (
    build_preprocessors,
    build_tokenizers,
    load_bundle,
    read_example,
)


def find_model(path):
    """`(model_file, folder)` for a saved model folder, a run folder or a `.keras` file.

    A run folder (`runs/<name>/`) gives its best checkpoint; its preprocessing and
    config sit in the run folder itself.
    """
    path = pathlib.Path(path)
    if path.is_file() and path.suffix == ".keras":
        folder = path.parent
        if folder.name == "checkpoints":
            folder = folder.parent
        return path, folder
    if path.is_dir():
        for candidate in (path / "model.keras", path / "checkpoints" / "best.keras"):
            if candidate.is_file():
                return candidate, path
    raise FileNotFoundError(
        f"No model at {path}: give a saved model folder (saved_models/<name>/ with "
        f"model.keras), a run folder (runs/<name>/ with checkpoints/best.keras) or a "
        f".keras file. Received: {str(path)!r}"
    )


def load(path):
    """`(model, bundle, config)` of a saved model or run; `config` may be None."""
    import keras

    import mmzoo  # noqa: F401  (registers the serializable layers)

    model_file, folder = find_model(path)
    model = keras.saving.load_model(model_file, safe_mode=True)
    bundle = load_bundle(folder)
    config_file = folder / "config.yaml"
    config = None
    if config_file.is_file():
        config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    return model, bundle, config


def metric_name(model):
    """The name of the head's main metric: `"accuracy"` or `"mae"`."""
    return "mae" if model.head.kind == "regression" else "accuracy"


def evaluate_examples(model, examples, tokenizers, batch_size=64, per_modality=True,
                      verbose=0):
    """Metrics of `model` on unbatched example dicts, all modalities and each alone.

    Returns:
        `{"all": {metric: value}, "only_<modality>": {...}, ...}` (per-modality
        entries only for models with a modality mask).
    """
    input_names = list(model.modalities)
    results = {}
    dataset = pipeline.eval_dataset(examples, input_names, tokenizers, batch_size)
    results["all"] = _evaluate(model, dataset, verbose)
    if per_modality and len(model.modalities) > 1:
        for index, name in enumerate(model.modalities):
            mask = [1.0 if i == index else 0.0 for i in range(len(model.modalities))]
            dataset = pipeline.eval_dataset(examples, input_names, tokenizers, batch_size,
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
    model, bundle, config = load(path)
    data = (config or {}).get("dataset", {})
    name = dataset or data.get("name") or (bundle.get("dataset") or {}).get("name")
    if name is None:
        raise ValueError("Name the dataset to evaluate on. Received: dataset=None")
    if options is None:
        options = data.get("options", {}) if name == data.get("name") else {}
    if seed is None:
        seed = data.get("seed", 0) if name == data.get("name") else 0
    data_dir = data_dir or data.get("data_dir")
    examples = pipeline.load_splits(name, options, data_dir, seed, splits=(split,))[split]
    tokenizers = build_tokenizers(bundle)
    metrics = evaluate_examples(model, examples, tokenizers, batch_size, per_modality, verbose)
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
    import os

    model, bundle, _ = load(path)
    names = bundle["inputs"]
    unknown = sorted(set(inputs) - set(names))
    if unknown:
        raise ValueError(
            f"The model has no input(s) {unknown}; its inputs are {sorted(names)}. "
            f"Received: {', '.join(unknown)}"
        )
    texts = {k: v for k, v in inputs.items() if names[k]["modality"] == "text"}
    files = {k: v for k, v in inputs.items() if names[k]["modality"] != "text"}
    for name, file in files.items():
        if not os.path.isfile(file):
            raise FileNotFoundError(f"No such file for input {name!r}. Received: {name}={file!r}")
    example = read_example(bundle, files, texts, build_preprocessors(bundle))
    if "modality_mask" not in [tensor.name for tensor in model.inputs]:
        example.pop("modality_mask", None)
    outputs = np.asarray(model.predict(example, verbose=0))[0]
    result = {
        "inputs": sorted(inputs),
        "masked_out": sorted(set(names) - set(inputs)),
        "outputs": [float(v) for v in outputs],
    }
    classes = bundle.get("class_names")
    if model.head.kind == "multiclass":
        order = np.argsort(-outputs)[: max(1, top)]
        result["top"] = [[classes[i] if classes else str(i), float(outputs[i])] for i in order]
    return result
