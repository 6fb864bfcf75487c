"""The model card: `model_card.json` beside an exported model, and its file hashes.

The card says what the export takes and gives (inputs with their preprocessing,
signatures, class names), where it comes from (training data, test metrics, the
mmzoo/TensorFlow/Keras/Python versions) and what it holds: `files` maps the relative
path of every exported file (the card aside) to its SHA-256, so `check_files` can
tell a changed, missing or extra file.

>>> import pathlib, tempfile
>>> from mmzoo.export.card import file_hashes, check_files
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "weights.bin").write_bytes(b"abc")
>>> hashes = file_hashes(folder)
>>> hashes
{'weights.bin': 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'}
>>> _ = (folder / "weights.bin").write_bytes(b"abd")
>>> check_files(folder, {"files": hashes})
Traceback (most recent call last):
...
mmzoo.export.card.VerificationError: ...changed: weights.bin...
"""

import datetime
import hashlib
import pathlib
import platform

from mmzoo.io import atomic_write_json, read_format_json

FILENAME = "model_card.json"
FORMAT = "mmzoo.model_card/1"
_CHUNK = 1 << 20


class VerificationError(ValueError):
    """An exported model does not match its card (files or parity outputs).

    A `ValueError`; also raised by `read_card` for a file that is not a model card.

    >>> issubclass(VerificationError, ValueError)
    True
    """


def sha256(path):
    """Hex SHA-256 of a file, read in chunks.

    Args:
        path: the file (str or path-like).

    Returns:
        str: 64 lowercase hex digits.

    Raises:
        FileNotFoundError: `path` does not exist.

    >>> import pathlib, tempfile
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = file.write_bytes(b"")
    >>> sha256(file)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(folder):
    """`{relative POSIX path: sha256}` of every file under `folder`, the card aside.

    Args:
        folder: the export folder (str or path-like); subfolders are included.

    Returns:
        dict from relative path (sorted) to hex SHA-256.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "variables").mkdir()
    >>> _ = (folder / "variables" / "data").write_bytes(b"")
    >>> _ = (folder / FILENAME).write_text("{}")
    >>> list(file_hashes(folder))
    ['variables/data']
    """
    folder = pathlib.Path(folder)
    return {
        path.relative_to(folder).as_posix(): sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() != FILENAME
    }


def versions():
    """Versions of mmzoo, TensorFlow, Keras, Python (and tensorflow-text if loaded).

    Returns:
        dict from package name (`mmzoo`, `tensorflow`, `keras`, `python`, `numpy`,
        maybe `tensorflow_text`) to its version string.

    >>> sorted(versions())[:5]
    ['keras', 'mmzoo', 'numpy', 'python', 'tensorflow']
    """
    import sys

    import keras
    import tensorflow as tf

    import mmzoo

    found = {
        "mmzoo": mmzoo.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "numpy": __import__("numpy").__version__,
    }
    if "tensorflow_text" in sys.modules:
        found["tensorflow_text"] = getattr(sys.modules["tensorflow_text"], "__version__", None)
    return found


def build_card(name, task, inputs, modalities, signatures, class_names, formats,
               training_data=None, metrics=None, requires=(), parity=None):
    """The card's content, `files` aside (added by `write_card`).

    Args:
        name: the model's name.
        task: the head kind, e.g. `"multiclass"`.
        inputs: list of JSON-ready dicts, one per serving input, with its
            preprocessing settings (image size, sample rate in Hz, vocabulary...).
        modalities: the modality mask's columns (input names); empty for no mask.
        signatures: dict from signature name to its inputs and outputs (see
            `mmzoo.export.saved_model.describe_signatures`), or None.
        class_names: list of class names, or None.
        formats: dict from format (`"saved_model"`, `"keras"`, `"litert"`) to its
            path and details.
        training_data: optional JSON-ready description of the training data.
        metrics: optional dict of test metrics.
        requires: what serving needs besides TensorFlow (e.g. `"tensorflow_text"`).
        parity: optional dict of the parity examples (file, count, `atol`, errors).

    Returns:
        A JSON-ready dict with `format` `"mmzoo.model_card/1"`, a UTC `created`
        timestamp and `versions`.

    >>> card = build_card("toy", "multiclass", [], ["image", "audio"], None, ["a", "b"], {})
    >>> card["format"], card["modality_mask"]["shape"]
    ('mmzoo.model_card/1', [None, 2])
    """
    return {
        "format": FORMAT,
        "name": name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "task": task,
        "inputs": inputs,
        "modality_mask": (
            {
                "name": "modality_mask",
                "dtype": "float32",
                "shape": [None, len(modalities)],
                "columns": list(modalities),
                "meaning": "1 = modality present, 0 = absent (its input is ignored)",
            }
            if modalities
            else None
        ),
        "signatures": signatures,
        "class_names": None if class_names is None else list(class_names),
        "formats": formats,
        "requires": list(requires),
        "training_data": training_data,
        "metrics": metrics,
        "parity": parity,
        "versions": versions(),
    }


def write_card(folder, card):
    """Hashes every file of `folder` into `card["files"]` and writes the card.

    Args:
        folder: the export folder; the card is written to `folder/model_card.json`.
        card: dict from `build_card`.

    Returns:
        A copy of `card` with `files` added.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "model.tflite").write_bytes(b"x")
    >>> card = write_card(folder, {"format": FORMAT})
    >>> list(card["files"]), read_card(folder) == card
    (['model.tflite'], True)
    """
    card = {**card, "files": file_hashes(folder)}
    atomic_write_json(pathlib.Path(folder) / FILENAME, card)
    return card


def read_card(path):
    """The card of an exported model folder (or the path of its card).

    Args:
        path: the export folder, or its `model_card.json`.

    Returns:
        The card, a dict.

    Raises:
        FileNotFoundError: there is no card.
        VerificationError: the file is not an mmzoo model card (wrong `format`).

    >>> import tempfile
    >>> read_card(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: No model_card.json at ...: not a model exported by mmzoo.export. ...
    """
    path = pathlib.Path(path)
    card_path = path / FILENAME if path.is_dir() else path
    if not card_path.is_file():
        raise FileNotFoundError(
            f"No {FILENAME} at {card_path}: not a model exported by mmzoo.export. "
            f"Received: path={str(path)!r}"
        )
    card = read_format_json(card_path, FORMAT, "mmzoo model card", VerificationError)
    return card


def check_files(folder, card):
    """Compares the files of `folder` with the card's hashes.

    Args:
        folder: the export folder.
        card: the card dict (its `files` entry is used).

    Returns:
        The number of files checked.

    Raises:
        VerificationError: naming every changed, missing and extra file.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.bin").write_bytes(b"1")
    >>> card = write_card(folder, {"format": FORMAT})
    >>> check_files(folder, card)
    1
    >>> _ = (folder / "b.bin").write_bytes(b"2")
    >>> check_files(folder, card)
    Traceback (most recent call last):
    ...
    mmzoo.export.card.VerificationError: The files of ... extra: b.bin. ...
    """
    expected = card.get("files") or {}
    actual = file_hashes(folder)
    changed = sorted(p for p in expected if p in actual and actual[p] != expected[p])
    missing = sorted(p for p in expected if p not in actual)
    extra = sorted(p for p in actual if p not in expected)
    if changed or missing or extra:
        problems = []
        for label, paths in (("changed", changed), ("missing", missing), ("extra", extra)):
            if paths:
                problems.append(f"{label}: {', '.join(paths)}")
        raise VerificationError(
            f"The files of {folder} do not match its {FILENAME}: " + "; ".join(problems)
            + f". Received: {len(actual)} files"
        )
    return len(expected)
