"""Export: one SavedModel from raw inputs to predictions, plus `.keras`, LiteRT and a card.

- `mmzoo.export(model_or_run, path, ...)` (this module is callable; the same as
  `mmzoo.export.export`): a model object, a training run or a saved model folder;
- `mmzoo.export.export_model(model, path, preprocessor=..., ...)`: the core API;
- `mmzoo.export.verify(path)`: file hashes against the model card, then the stored
  parity examples through every exported format.

The SavedModel's signatures (`mmzoo.export.saved_model`): `serving_default` (raw
inputs, every modality present), `serving_masked` (the same plus `modality_mask`),
`serving_preprocessed` (the model's own tensors) and `metadata`. Plain TensorFlow
loads it without mmzoo:

    import tensorflow as tf
    # import tensorflow_text   # first, only if the card's "requires" lists it
    #                          # (WordPiece / SentencePiece tokenizers)
    model = tf.saved_model.load("saved_models/demo")
    out = model.signatures["serving_default"](
        image=tf.constant([png_bytes]), text=tf.constant(["a red square"]),
        audio=tf.constant(waveform[None], tf.float32))
    out["class_name"], out["probabilities"]

>>> import mmzoo
>>> callable(mmzoo.export), mmzoo.export.export_model.__name__
(True, 'export_model')
"""

import sys
import types

from mmzoo.export.api import DEFAULT_FORMATS, FORMATS, export, export_model
from mmzoo.export.card import VerificationError
from mmzoo.export.verification import verify

__all__ = ["DEFAULT_FORMATS", "FORMATS", "VerificationError", "export", "export_model", "verify"]


class _CallableModule(types.ModuleType):
    """`mmzoo.export(...)` calls `mmzoo.export.export(...)`; attributes stay the module's."""

    def __call__(self, model_or_run, path, **kwargs):
        return export(model_or_run, path, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
