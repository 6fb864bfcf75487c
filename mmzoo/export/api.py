"""`export_model`, `export` and `verify`: one exported folder from raw inputs to predictions.

An export is one folder (written to a temporary folder beside it, then renamed into
place, so an interrupted export never leaves a half-written model and never damages
an existing one):

    saved_models/NAME/
      saved_model.pb, variables/, assets/, fingerprint.pb   # the SavedModel (raw inputs)
      model.keras              # the numeric model; loads with safe_mode=True
      model.tflite             # LiteRT numeric model (formats=(..., "litert"))
      preprocessor.json        # the mmzoo.Preprocessor: vocabularies, image size, audio rate
      parity_examples.npz      # a few raw inputs and the outputs they must give
      model_card.json          # inputs, classes, data, metrics, versions, SHA-256s

>>> import mmzoo, tempfile
>>> model = mmzoo.build_model(
...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}}, num_outputs=2)
>>> card = export_model(model, tempfile.mkdtemp() + "/tiny")  # doctest: +SKIP
>>> sorted(card["signatures"])  # doctest: +SKIP
['metadata', 'serving_default', 'serving_preprocessed']
"""

import json
import pathlib

import numpy as np

from mmzoo import artifacts
from mmzoo.export import card as model_card
from mmzoo.export import litert, parity, saved_model
from mmzoo.export.inputs import mask_columns, resolve_inputs
from mmzoo.export.verification import check_parity
from mmzoo.io import atomic_directory, atomic_write_bytes
from mmzoo.model import MODALITY_MASK
from mmzoo.preprocessing.preprocessor import Preprocessor

FORMATS = ("saved_model", "keras", "litert")
DEFAULT_FORMATS = ("saved_model", "keras")
KERAS_FILE = artifacts.KERAS_FILE
_MODEL_MARKERS = (model_card.FILENAME, "saved_model.pb", KERAS_FILE)


def export_model(model, path, preprocessor=None, class_names=None, metadata=None,
                 metrics=None, formats=DEFAULT_FORMATS, parity_examples=None, check=True,
                 extra_files=None):
    """Exports a model with its preprocessing: SavedModel, `.keras`, LiteRT, model card.

    Args:
        model: a model from `mmzoo.build_model` / `create_model` (dict inputs named
            after the modalities, a `"head"` `TaskHead`).
        path: the export folder. An existing export there is replaced atomically; a
            non-empty folder that is not an exported model is refused.
        preprocessor: the `mmzoo.Preprocessor` turning raw serving tensors into the
            model's tensors, or a dict from input name to a layer
            (`TextTokenizer`, `ImagePreprocessing`, `AudioPreprocessing`) replacing
            that input's layer of `model.preprocessor`. Default: `model.preprocessor`
            (text tokenizers must be adapted). Saved as `preprocessor.json` and in
            `model.keras`.
        class_names: class names (default: the head's `class_names`, else
            `"0"`, `"1"`, ...).
        metadata: JSON-ready description of the training data (dataset, splits,
            sizes...), stored in the card as `training_data`.
        metrics: JSON-ready test metrics, stored in the card.
        formats: any of `"saved_model"`, `"keras"`, `"litert"`.
        parity_examples: raw inputs (dict by input name, plus an optional
            `modality_mask`) to store with the export; default: made-up examples.
        check: run the stored parity examples through every exported format before
            the export is put in place (fails if any differs by more than 1e-5).
        extra_files: dict from file name to content (bytes, str, or a JSON-ready
            dict) to write into the export.

    Returns:
        The model card (a dict, as written to `model_card.json`).

    Raises:
        ValueError: bad arguments, a preprocessor that does not fit the model, or
            a target that is a file or a non-empty folder holding no export.
        mmzoo.export.card.VerificationError: an exported format's outputs differ
            from the Keras model's by more than 1e-5 (nothing is put in place).
    """
    formats = _check_formats(formats)
    target = pathlib.Path(path)
    _check_target(target)
    head = _head(model)
    names = _class_names(head, class_names)
    inputs = resolve_inputs(model, preprocessor)
    columns = mask_columns(model)
    resolved = Preprocessor({spec.name: spec.layer for spec in inputs},
                            modalities=columns or [spec.name for spec in inputs])
    # WordPiece and SentencePiece tokenizers run tensorflow-text ops.
    requires = sorted({
        "tensorflow_text" for spec in inputs
        if spec.kind == "text" and spec.layer.kind != "vectorization"
    })
    described = [spec.describe() for spec in inputs]
    module = saved_model.ServingModule(
        model, inputs, columns, head.kind, names,
        metadata={
            "name": model.name,
            "task": head.kind,
            "inputs": described,
            "modality_mask_columns": columns,
            "class_names": names,
            "requires": requires,
        },
    )
    raw = _parity_inputs(parity_examples, inputs, columns)
    preprocessed, expected = parity.keras_reference(model, inputs, raw)
    extra_files = {_extra_name(name): content for name, content in (extra_files or {}).items()}

    with atomic_directory(target) as folder:
        written = {}
        if "saved_model" in formats:
            signatures = saved_model.save(module, folder)
            written["saved_model"] = {"path": ".", "signatures": signatures}
        if "keras" in formats:
            _save_keras(model, resolved, folder / KERAS_FILE)
            written["keras"] = {"path": KERAS_FILE, "safe_mode": True}
        if "litert" in formats:
            content, info = litert.convert(module)
            atomic_write_bytes(folder / litert.FILENAME, content)
            written["litert"] = {"path": litert.FILENAME, **info, **_litert_io(content)}
            if info["ops"] != "builtins":
                written["litert"]["parity"] = "not checked: needs the Flex delegate"
        for name, content in extra_files.items():
            _write_extra(folder / name, content)
        artifacts.save_preprocessor(folder, resolved)
        parity.save_examples(folder / parity.FILENAME, raw, preprocessed, expected)
        errors = check_parity(folder, written, requires) if check else None
        card = model_card.write_card(folder, model_card.build_card(
            name=model.name,
            task=head.kind,
            inputs=described,
            modalities=columns,
            signatures=(
                saved_model.describe_signatures(module) if "saved_model" in formats else None
            ),
            class_names=names,
            formats=written,
            training_data=metadata,
            metrics=metrics,
            requires=requires,
            parity={
                "file": parity.FILENAME,
                "examples": len(expected),
                "atol": parity.ATOL,
                "max_abs_error": errors,
            },
        ))
    return card


def export(model_or_run, path, **kwargs):
    """Exports a model object, a training run or a saved model folder.

    Args:
        model_or_run: a Keras model (see `export_model`), a run folder
            (`runs/NAME/`: its best checkpoint), a saved model folder
            (`saved_models/NAME/` with `model.keras`) or a `.keras` file.
        path: the export folder.
        **kwargs: `export_model` arguments; for a run or folder the preprocessor,
            training data and test metrics are read from its files unless given.

    Returns:
        The model card dict.

    Raises:
        FileNotFoundError: no model (or no preprocessor) at `model_or_run`.
    """
    import keras

    if isinstance(model_or_run, keras.Model):
        return export_model(model_or_run, path, **kwargs)
    source = pathlib.Path(model_or_run)
    model = artifacts.load_model(source)
    _, folder = artifacts.find_model(source)
    config = artifacts.read_config(folder)
    if kwargs.get("metadata") is None:
        kwargs["metadata"] = _training_data(source, config)
    if kwargs.get("metrics") is None:
        kwargs["metrics"] = _kept_metrics(artifacts.read_metrics(folder))
    extra = {}
    if config is not None:
        extra[artifacts.CONFIG_FILE] = (folder / artifacts.CONFIG_FILE).read_text(encoding="utf-8")
    extra.update(kwargs.pop("extra_files", None) or {})
    return export_model(model, path, extra_files=extra, **kwargs)


def _parity_inputs(examples, inputs, columns):
    if examples is None:
        return parity.default_examples(inputs, columns)
    if not isinstance(examples, dict):
        raise ValueError(
            "`parity_examples` must be a dict of raw inputs keyed by input name. "
            f"Received: parity_examples of type {type(examples).__name__}"
        )
    names = [spec.name for spec in inputs]
    allowed = set(names) | ({MODALITY_MASK} if columns else set())
    if not set(names) <= set(examples) <= allowed:
        raise ValueError(
            f"`parity_examples` must hold the inputs {names}"
            + (f" and optionally {MODALITY_MASK!r}" if columns else "")
            + f". Received: parity_examples with keys {sorted(examples)}"
        )
    raw = {}
    for spec in inputs:
        value = examples[spec.name]
        if spec.kind == "audio":
            raw[spec.name] = np.asarray(value, "float32")
        else:
            raw[spec.name] = parity.object_array(list(np.asarray(value, dtype=object).reshape(-1)))
    if columns:
        batch = len(raw[names[0]])
        raw[MODALITY_MASK] = np.asarray(
            examples.get(MODALITY_MASK, np.ones((batch, len(columns)))), "float32"
        )
    sizes = {name: len(value) for name, value in raw.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(
            f"`parity_examples` inputs must have the same batch size. Received: sizes {sizes}"
        )
    return raw


# Helpers --------------------------------------------------------------------------------


def _check_formats(formats):
    if isinstance(formats, str):
        formats = [formats]
    formats = tuple(formats or ())
    unknown = [f for f in formats if f not in FORMATS]
    if not formats or unknown:
        raise ValueError(
            f"`formats` must be a non-empty list of {', '.join(FORMATS)}. "
            f"Received: formats={formats!r}"
        )
    return formats


def _check_target(target):
    if target.exists() and not target.is_dir():
        raise ValueError(
            f"The export path is a file, not a folder. Received: path={str(target)!r}"
        )
    is_model = any((target / marker).exists() for marker in _MODEL_MARKERS)
    if target.is_dir() and any(target.iterdir()) and not is_model:
        raise ValueError(
            "The export path is a non-empty folder that holds no exported model "
            f"({', '.join(_MODEL_MARKERS)}); refusing to replace it. "
            f"Received: path={str(target)!r}"
        )


def _head(model):
    from mmzoo.heads import TaskHead

    try:
        head = model.get_layer("head")
    except ValueError:
        head = None
    if not isinstance(head, TaskHead):
        raise ValueError(
            "export_model takes a model built by mmzoo (a TaskHead layer named 'head' "
            f"gives its task and classes). Received: model {getattr(model, 'name', model)!r}"
        )
    return head


def _class_names(head, class_names):
    if head.kind == "regression":
        if class_names is not None:
            raise ValueError(
                f"A regression model has no classes. Received: class_names={class_names!r}"
            )
        return None
    count = 2 if head.kind == "binary" else head.num_outputs
    if class_names is None:
        class_names = head.class_names
    if class_names is None:
        return [str(i) for i in range(count)]
    names = [str(c) for c in class_names]
    if len(names) != count or len(set(names)) != count:
        raise ValueError(
            f"`class_names` must hold {count} distinct names for this {head.kind} head. "
            f"Received: class_names={list(class_names)!r}"
        )
    return names


def _save_keras(model, preprocessor, path):
    """Saves `model` as `.keras` carrying `preprocessor` (the model is left unchanged)."""
    previous = getattr(model, "preprocessor", None)
    if not hasattr(type(model), "preprocessor"):  # not a MultimodalModel
        model.save(path)
        return
    model.preprocessor = preprocessor
    try:
        model.save(path)
    finally:
        model.preprocessor = previous


_RESERVED = {model_card.FILENAME, parity.FILENAME, KERAS_FILE, litert.FILENAME, "saved_model.pb",
             "fingerprint.pb", "variables", "assets", artifacts.PREPROCESSOR_FILE}


def _extra_name(name):
    if not isinstance(name, str) or "/" in name or "\\" in name or name in _RESERVED or name in (
        "", ".", ".."
    ):
        raise ValueError(
            "`extra_files` keys must be plain file names other than "
            f"{', '.join(sorted(_RESERVED))}. Received: {name!r}"
        )
    return name


def _write_extra(path, content):
    if isinstance(content, (dict, list)):
        content = json.dumps(content, indent=2) + "\n"
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, bytes):
        raise ValueError(
            "`extra_files` values must be bytes, str or JSON-ready dicts. "
            f"Received: {path.name} of type {type(content).__name__}"
        )
    atomic_write_bytes(path, content)


def _litert_io(content):
    inputs, outputs = litert.describe(litert.interpreter(content=content))
    return {"inputs": inputs, "outputs": outputs}


def _training_data(source, config):
    dataset = (config or {}).get("dataset") or {}
    data = {"source": str(source),
            "dataset": {key: dataset[key] for key in ("name", "options", "seed") if key in dataset}
            or None}
    name = dataset.get("name")
    if name:
        try:
            from mmzoo import datasets

            data["description"] = datasets.info(name).description
        except Exception:  # an unknown or unavailable dataset: no description
            pass
    return data


def _kept_metrics(metrics):
    if not metrics:
        return None
    kept = {key: metrics[key] for key in ("test", "per_modality") if key in metrics}
    return kept or metrics
