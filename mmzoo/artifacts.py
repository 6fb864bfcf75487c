"""Run folders and export folders: finding, reading and writing what they hold.

`mmzoo.training` writes run folders, `mmzoo.export` writes export folders, and both
(and the command line) read them through this module, so neither imports the other.

    runs/NAME/                      saved_models/NAME/
      config.yaml                     saved_model.pb, variables/, assets/
      preprocessor.json               model.keras
      checkpoints/best.keras          preprocessor.json, config.yaml, metrics.json
      history.csv, logs/, metrics.json  model_card.json, parity_examples.npz

`preprocessor.json` holds the model's `mmzoo.Preprocessor` (tokenizer vocabularies,
image sizes, audio rates and lengths). Folders written before it existed hold a
`preprocessing.json` instead; `load_preprocessor` reads both.

>>> import tempfile
>>> from mmzoo.preprocessing.preprocessor import Preprocessor
>>> folder = tempfile.mkdtemp()
>>> path = save_preprocessor(folder, Preprocessor.from_specs(
...     {"audio": {"input_shape": (800,), "sample_rate": 16000}}))
>>> path.name, load_preprocessor(folder).layers["audio"].sample_rate
('preprocessor.json', 16000)
"""

import json
import pathlib

from mmzoo.io import atomic_write_json, read_format_json

KERAS_FILE = "model.keras"
PREPROCESSOR_FILE = "preprocessor.json"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
BEST_CHECKPOINT = pathlib.Path("checkpoints") / "best.keras"
PREPROCESSOR_FORMAT = "mmzoo.preprocessor/1"
LEGACY_PREPROCESSING_FILE = "preprocessing.json"  # mmzoo 0.1 runs and exports


def find_model(path):
    """`(model_file, folder)` of an export folder, a run folder or a `.keras` file.

    Args:
        path: `saved_models/NAME/` (its `model.keras`), `runs/NAME/` (its best
            checkpoint) or a `.keras` file (its folder; a checkpoint's run folder).

    Returns:
        `(pathlib.Path of the .keras file, pathlib.Path of the folder holding the
        config and preprocessor)`.

    Raises:
        FileNotFoundError: no model there.

    >>> find_model("saved_models/demo")  # doctest: +SKIP
    (PosixPath('saved_models/demo/model.keras'), PosixPath('saved_models/demo'))
    """
    path = pathlib.Path(path)
    if path.is_file() and path.suffix == ".keras":
        folder = path.parent
        if folder.name == BEST_CHECKPOINT.parent.name:
            folder = folder.parent
        return path, folder
    if path.is_dir():
        for candidate in (path / KERAS_FILE, path / BEST_CHECKPOINT):
            if candidate.is_file():
                return candidate, path
    raise FileNotFoundError(
        f"No model at {path}: give a saved model folder (saved_models/<name>/ with "
        f"{KERAS_FILE}), a run folder (runs/<name>/ with {BEST_CHECKPOINT}) or a "
        f".keras file. Received: {str(path)!r}"
    )


def load_model(path):
    """The model of an export or run folder (or `.keras` file), with its preprocessor.

    Loads with `safe_mode=True`. `model.preprocessor` comes from the `.keras` file,
    else from the folder's `preprocessor.json` (or a legacy `preprocessing.json`).

    Raises:
        FileNotFoundError: no model, or a model with no preprocessor anywhere.
    """
    import keras

    import mmzoo  # noqa: F401  (registers the serializable layers)

    model_file, folder = find_model(path)
    model = keras.saving.load_model(model_file, safe_mode=True)
    if getattr(model, "preprocessor", None) is None:
        model.preprocessor = load_preprocessor(folder)
    return model


def save_preprocessor(folder, preprocessor):
    """Writes `preprocessor` to `folder/preprocessor.json` atomically; returns the path."""
    import keras

    path = pathlib.Path(folder) / PREPROCESSOR_FILE
    atomic_write_json(path, {
        "format": PREPROCESSOR_FORMAT,
        "preprocessor": keras.saving.serialize_keras_object(preprocessor),
    })
    return path


def load_preprocessor(path):
    """The `mmzoo.Preprocessor` in a folder (or of a `preprocessor.json` file).

    Raises:
        FileNotFoundError: neither `preprocessor.json` nor `preprocessing.json` there.
        ValueError: the file is not an mmzoo preprocessor.
    """
    import keras

    path = pathlib.Path(path)
    folder = path if path.is_dir() else path.parent
    file = path if path.is_file() else folder / PREPROCESSOR_FILE
    if not file.is_file() and (folder / LEGACY_PREPROCESSING_FILE).is_file():
        return _from_legacy(folder / LEGACY_PREPROCESSING_FILE)
    if not file.is_file():
        raise FileNotFoundError(
            f"No preprocessor at {folder}: runs and exports of `mmzoo train` hold "
            f"{PREPROCESSOR_FILE} beside the model. Received: path={str(path)!r}"
        )
    content = read_format_json(file, PREPROCESSOR_FORMAT, "mmzoo preprocessor")
    return keras.saving.deserialize_keras_object(content["preprocessor"])


def read_config(folder):
    """The run config saved in `folder` (`config.yaml`) as a dict, or None."""
    import yaml

    file = pathlib.Path(folder) / CONFIG_FILE
    if not file.is_file():
        return None
    return yaml.safe_load(file.read_text(encoding="utf-8"))


def read_metrics(folder):
    """The `metrics.json` of `folder` as a dict, or None."""
    file = pathlib.Path(folder) / METRICS_FILE
    if not file.is_file():
        return None
    return json.loads(file.read_text(encoding="utf-8"))


def _from_legacy(file):
    """A `Preprocessor` from a `preprocessing.json` of mmzoo 0.1."""
    from mmzoo.preprocessing.audio import AudioPreprocessing
    from mmzoo.preprocessing.image import ImagePreprocessing
    from mmzoo.preprocessing.preprocessor import Preprocessor
    from mmzoo.preprocessing.text import TextTokenizer

    bundle = json.loads(file.read_text(encoding="utf-8"))
    layers = {}
    for name, entry in bundle["inputs"].items():
        if entry["modality"] == "text":
            layers[name] = TextTokenizer.from_config(entry["tokenizer"])
        elif entry["modality"] == "image":
            layers[name] = ImagePreprocessing(size=tuple(entry["size"]),
                                              channels=entry["channels"],
                                              mode=entry.get("resize", "pad"))
        else:
            layers[name] = AudioPreprocessing(entry["sample_rate"], entry["num_samples"])
    return Preprocessor(layers, modalities=bundle.get("modalities"))
