"""The preprocessing of a trained model, saved beside it as `preprocessing.json`.

A model takes tensors (token ids, float images, waveforms); its users have strings,
image files and WAV files. The bundle records how one became the other in training,
so `mmzoo predict`, `mmzoo evaluate` and the export compute exactly the same inputs:

- per model input: its modality and shape, and for text the whole `TextTokenizer`
  config (kind, sequence length and vocabulary, adapted on the train split);
- images: the size and channels that encoded files are decoded and resized to
  (`mmzoo.preprocessing.image.ImagePreprocessing`);
- audio: the sample rate and length that WAV files are resampled and centred to
  (`mmzoo.preprocessing.audio.preprocess_audio`, `AudioPreprocessing`);
- the model's modalities (the order of the `modality_mask` columns), head kind,
  class names and the dataset it was trained on.

>>> from mmzoo.preprocessing.text import TextTokenizer
>>> from mmzoo.training.preprocessing_bundle import make_bundle, build_preprocessors
>>> tokenizer = TextTokenizer(sequence_length=4, vocabulary=["red", "square"])
>>> bundle = make_bundle(
...     inputs={"image": {"modality": "image", "shape": [32, 32, 3]},
...             "text": {"modality": "text", "shape": [4]}},
...     tokenizers={"text": tokenizer}, modalities=["image", "text"],
...     head="multiclass", class_names=["a", "b"], dataset="embedded")
>>> layers = build_preprocessors(bundle)
>>> layers["text"](["a red square"]).numpy().tolist()
[[1, 2, 3, 0]]
>>> type(layers["image"]).__name__
'ImagePreprocessing'
"""

import json
import pathlib

import numpy as np

from mmzoo.io import atomic_write_json

FORMAT = "mmzoo.preprocessing/1"
FILENAME = "preprocessing.json"


def make_bundle(inputs, tokenizers, modalities, head, class_names=None, dataset=None,
                audio=None, image_resize="pad"):
    """Builds the bundle dict.

    Args:
        inputs: dict from model input name to `{"modality": ..., "shape": [...]}`.
        tokenizers: dict from text input name to its adapted `TextTokenizer`.
        modalities: the model's modalities in mask-column order.
        head: the head kind.
        class_names: optional class names, indexed by label.
        dataset: optional dataset name (and options) the model was trained on.
        audio: optional dict from audio input name to `{"sample_rate": ...}`.
        image_resize: how image files are fitted to the model's size.
    """
    entries = {}
    for name, spec in inputs.items():
        modality = spec["modality"]
        entry = {"modality": modality, "shape": [int(d) for d in spec["shape"]]}
        if modality == "text":
            if name not in tokenizers:
                raise ValueError(
                    f"Text input {name!r} needs a tokenizer. Received: tokenizers for "
                    f"{sorted(tokenizers)}"
                )
            entry["tokenizer"] = tokenizers[name].get_config()
        elif modality == "image":
            entry.update(size=entry["shape"][:2], channels=entry["shape"][2],
                         resize=image_resize)
        elif modality == "audio":
            entry.update(num_samples=entry["shape"][0],
                         sample_rate=int((audio or {}).get(name, {}).get("sample_rate", 8000)))
        entries[name] = entry
    return {
        "format": FORMAT,
        "inputs": entries,
        "modalities": list(modalities),
        "head": head,
        "class_names": None if class_names is None else [str(c) for c in class_names],
        "dataset": dataset,
    }


def save_bundle(folder, bundle):
    """Writes `bundle` to `folder/preprocessing.json` atomically; returns the path."""
    path = pathlib.Path(folder) / FILENAME
    atomic_write_json(path, bundle)
    return path


def load_bundle(path):
    """Reads a bundle from a `preprocessing.json` file or the folder holding one."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"No preprocessing bundle at {path}: a model trained by `mmzoo train` has "
            f"{FILENAME} beside its model.keras. Received: path={str(path)!r}"
        )
    bundle = json.loads(path.read_text(encoding="utf-8"))
    if bundle.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an mmzoo preprocessing bundle (format {FORMAT!r}). "
            f"Received: format={bundle.get('format')!r}"
        )
    return bundle


def build_tokenizers(bundle):
    """`TextTokenizer` layers of the bundle's text inputs, from their saved configs."""
    from mmzoo.preprocessing.text import TextTokenizer

    return {
        name: TextTokenizer.from_config(entry["tokenizer"])
        for name, entry in bundle["inputs"].items()
        if entry["modality"] == "text"
    }


def build_preprocessors(bundle):
    """Keras layers turning raw batches into model inputs, one per input name.

    Text: `TextTokenizer` (strings -> ids); image: `ImagePreprocessing` (encoded
    bytes -> floats in [0, 1] of the model's size); audio: `AudioPreprocessing`
    (waveforms at the model's sample rate -> the model's length).
    """
    from mmzoo.preprocessing.audio import AudioPreprocessing
    from mmzoo.preprocessing.image import ImagePreprocessing

    layers = build_tokenizers(bundle)
    for name, entry in bundle["inputs"].items():
        if entry["modality"] == "image":
            layers[name] = ImagePreprocessing(
                size=tuple(entry["size"]), channels=entry["channels"], mode=entry["resize"],
                name=f"{name}_preprocessing",
            )
        elif entry["modality"] == "audio":
            layers[name] = AudioPreprocessing(
                sample_rate=entry["sample_rate"], num_samples=entry["num_samples"],
                name=f"{name}_preprocessing",
            )
    return layers


def read_example(bundle, files=None, texts=None, preprocessors=None):
    """One model-ready example (batch of 1) from files and texts, plus its mask.

    Args:
        bundle: the preprocessing bundle.
        files: dict from image/audio input name to a file path (PNG/JPEG/BMP/GIF
            images, WAV audio: decoded, resampled and fitted exactly as in training).
        texts: dict from text input name to a string.
        preprocessors: optional result of `build_preprocessors(bundle)` (reused).

    Returns:
        A dict of numpy arrays keyed by model input name, with a `"modality_mask"`
        marking the inputs given (a missing input is zeros and masked out).
    """
    import tensorflow as tf

    from mmzoo.preprocessing.audio import preprocess_audio

    files, texts = dict(files or {}), dict(texts or {})
    layers = preprocessors or build_preprocessors(bundle)
    inputs = bundle["inputs"]
    unknown = sorted(set(files) - set(inputs)) + sorted(set(texts) - set(inputs))
    if unknown:
        raise ValueError(
            f"The model has no input(s) {unknown}; its inputs are {sorted(inputs)}. "
            f"Received: {unknown}"
        )
    for name in texts:
        if name in inputs and inputs[name]["modality"] != "text":
            raise ValueError(
                f"Input {name!r} is a {inputs[name]['modality']} input: give a file, not a "
                f"text. Received: {name}={texts[name]!r}"
            )
    for name in files:
        if name in inputs and inputs[name]["modality"] == "text":
            raise ValueError(
                f"Input {name!r} is a text input: give a string, not a file. "
                f"Received: {name}={files[name]!r}"
            )
    if not files and not texts:
        raise ValueError(
            f"Give at least one input among {sorted(inputs)}. Received: no inputs"
        )
    example, present = {}, []
    for name, entry in inputs.items():
        modality = entry["modality"]
        given = name in texts if modality == "text" else name in files
        if given and modality == "text":
            value = layers[name](tf.constant([texts[name]])).numpy()
        elif given and modality == "image":
            data = tf.io.read_file(str(files[name]))
            value = layers[name](tf.reshape(data, [1])).numpy()
        elif given and modality == "audio":
            data = tf.io.read_file(str(files[name]))
            value = preprocess_audio(
                data, sample_rate=entry["sample_rate"], num_samples=entry["num_samples"]
            ).numpy()[None]
        else:
            dtype = "int32" if modality == "text" else "float32"
            value = np.zeros((1, *entry["shape"]), dtype)
        example[name] = value
        present.append(1.0 if given else 0.0)
    if len(bundle["modalities"]) > 1:
        order = {name: i for i, name in enumerate(inputs)}
        example["modality_mask"] = np.array(
            [[present[order[name]] for name in bundle["modalities"]]], "float32"
        )
    return example
