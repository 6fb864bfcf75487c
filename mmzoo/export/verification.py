"""`verify` and `check_parity`: does an exported folder still do what its card says?

An export stores a few raw inputs with the outputs the Keras model gave for them
(`parity_examples.npz`); every exported format (the SavedModel's raw-input and
preprocessed signatures, `.keras`, LiteRT) must reproduce them within 1e-5, and every
file must match the SHA-256 in `model_card.json`.

>>> from mmzoo.export.verification import verify
>>> verify("saved_models/demo")  # doctest: +SKIP
{'path': 'saved_models/demo', 'files': 9, 'parity': {'saved_model': 4.2e-07, ...}}
"""

import pathlib

import numpy as np

from mmzoo.export import card as model_card
from mmzoo.export import litert, parity
from mmzoo.model import MODALITY_MASK


def verify(path, parity_check=True, atol=parity.ATOL):
    """Checks an exported model against its card: file hashes, then parity outputs.

    Args:
        path: the export folder.
        parity_check: also run the stored parity examples through every exported
            format (SavedModel raw and preprocessed signatures, `.keras`, LiteRT).
        atol: largest absolute difference allowed.

    Returns:
        `{"path": ..., "files": n, "parity": {format: max abs error}}`.

    Raises:
        VerificationError: naming each changed/missing/extra file, or each format
            whose outputs differ.
        FileNotFoundError: no `model_card.json` at `path`.
    """
    folder = pathlib.Path(path)
    card = model_card.read_card(folder)
    count = model_card.check_files(folder, card)
    errors = None
    if parity_check and (folder / parity.FILENAME).is_file():
        errors = check_parity(folder, card.get("formats") or {}, card.get("requires") or [], atol)
    return {"path": str(folder), "files": count, "parity": errors}


def check_parity(folder, formats, requires, atol=parity.ATOL):
    """Runs the stored parity examples through each format; raises if any differs.

    Args:
        folder: the export folder (holding `parity_examples.npz`).
        formats: the card's `formats` dict (which formats to run, their files).
        requires: the card's `requires` (`"tensorflow_text"` is imported first).
        atol: largest absolute difference allowed.

    Returns:
        `{format: max abs error}`.

    Raises:
        VerificationError: naming each format whose outputs differ.
    """
    examples = parity.load_examples(folder / parity.FILENAME)
    expected = examples["outputs"]
    raw, preprocessed = examples["raw"], examples["preprocessed"]
    errors = {}
    if "saved_model" in formats:
        import tensorflow as tf

        if "tensorflow_text" in requires:
            import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
        loaded = tf.saved_model.load(str(folder))
        key = "serving_masked" if MODALITY_MASK in raw else "serving_default"
        signature = loaded.signatures[key]
        out = signature(**parity.as_tensors(raw, _signature_specs(signature)))
        errors["saved_model"] = parity.max_error(_main_output(out), expected)
        signature = loaded.signatures["serving_preprocessed"]
        out = signature(**parity.as_tensors(preprocessed, _signature_specs(signature)))
        errors["saved_model_preprocessed"] = parity.max_error(_main_output(out), expected)
    if "keras" in formats:
        import keras

        restored = keras.saving.load_model(folder / formats["keras"]["path"], safe_mode=True)
        errors["keras"] = parity.max_error(restored.predict(preprocessed, verbose=0), expected)
    if "litert" in formats and formats["litert"].get("ops") == "builtins":
        info = formats["litert"]
        runner = litert.interpreter(path=folder / info["path"])
        out = litert.run(runner, preprocessed, info.get("batch_size"))
        errors["litert"] = parity.max_error(_main_output(out), expected)
    bad = {name: error for name, error in errors.items() if not error <= atol}
    if bad:
        raise model_card.VerificationError(
            f"Parity check failed for {folder}: outputs differ from the stored ones by more "
            f"than {atol}: " + ", ".join(f"{name} {error:.3g}" for name, error in bad.items())
            + f". Received: max abs errors {errors}"
        )
    return errors


def _signature_specs(signature):
    return signature.structured_input_signature[1]


def _main_output(outputs):
    key = "values" if "values" in outputs else "probabilities"
    return np.asarray(outputs[key])
