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
    """An exported model does not match its card (files or parity outputs)."""


def sha256(path):
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(folder):
    """`{relative POSIX path: sha256}` of every file under `folder`, the card aside."""
    folder = pathlib.Path(folder)
    return {
        path.relative_to(folder).as_posix(): sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() != FILENAME
    }


def versions():
    """Versions of mmzoo, TensorFlow, Keras, Python (and tensorflow-text if loaded)."""
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
    """The card's content, `files` aside (added by `write_card`)."""
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
    """Hashes every file of `folder` into `card["files"]` and writes the card."""
    card = {**card, "files": file_hashes(folder)}
    atomic_write_json(pathlib.Path(folder) / FILENAME, card)
    return card


def read_card(path):
    """The card of an exported model folder (or the path of its card)."""
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

    Returns:
        The number of files checked.

    Raises:
        VerificationError: naming every changed, missing and extra file.
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
