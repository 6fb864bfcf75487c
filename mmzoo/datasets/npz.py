"""The `npz` dataset: arrays you already have, saved with `numpy.savez`.

Each `.npz` file holds one array per model input (one row per example) and a label
array:

    np.savez("train.npz", image=images, text=np.array(captions), label=labels)

    dataset:
      name: npz
      options:
        train: train.npz                 # required
        validation: val.npz              # optional: else cut from train
        test: test.npz                   # optional: else cut from train
        split: {validation: 0.1, test: 0.1}
        label: label                     # the label array
        inputs: {image: image, feats: null}   # override a kind; null leaves it out
        sample_rate: 16000               # of waveform inputs

Kinds are told from the arrays: strings are text; `(n, H, W)` and `(n, H, W, C)`
arrays with C of 1 or 3 are images (uint8 scaled to [0, 1], floats kept); `(n, T)`
float arrays are waveforms (audio, at `sample_rate`). The task comes from the labels
as for manifests (`mmzoo.data.tasks`); an optional `class_names` array names the
classes of integer labels 0..K-1.

>>> import numpy as np, pathlib, tempfile
>>> file = pathlib.Path(tempfile.mkdtemp()) / "train.npz"
>>> np.savez(file, image=np.zeros((20, 8, 8), "uint8"), label=np.arange(20) % 3)
>>> fields = info(train=str(file))
>>> fields["modalities"]["image"], fields["task"], fields["class_names"]
({'modality': 'image', 'shape': (8, 8, 1)}, 'multiclass', ('0', '1', '2'))
"""

import functools
import os

import numpy as np

from mmzoo.datasets.manifest import DEFAULT_SPLIT, planned

OPTIONS = ("train", "validation", "test", "split", "label", "task", "inputs", "sample_rate",
           "text_length")
DESCRIPTION = "Arrays saved with numpy.savez (options train, validation, test, label ...)"


def info(**options):
    """Fields of the `DatasetInfo`: the inputs, task and classes of the arrays."""
    plan = _plan(**options)
    return {"description": DESCRIPTION, "modalities": plan["modalities"],
            "class_names": tuple(plan["encoder"].class_names), "task": plan["encoder"].task}


def is_available(data_dir=None):
    """The options name the files: always usable once they are given."""
    return True


def load(split="train", data_dir=None, seed=0, **options):
    """One split as an unbatched `tf.data.Dataset` of example dicts (module docstring)."""
    import tensorflow as tf

    plan = _plan(seed=seed, **options)
    file, rows = plan["splits"][split]
    arrays = _read(file)
    take = slice(None) if rows is None else np.asarray(rows, np.int64)
    columns = {}
    for name, spec in plan["modalities"].items():
        values = arrays[name][take]
        if spec["modality"] == "image":
            values = values.reshape((len(values), *spec["shape"]))
            values = values / 255.0 if values.dtype == np.uint8 else values
            values = values.astype("float32")
        elif spec["modality"] == "audio":
            values = values.astype("float32")
        else:
            values = values.astype(str).astype(object)
        columns[name] = values
    labels = arrays[plan["label"]][take]
    if plan["index_names"] is not None:  # integer labels named by a class_names array
        labels = [plan["index_names"][int(i)] for i in labels]
    try:
        targets = plan["encoder"].encode_all(labels)
    except ValueError as error:
        raise ValueError(f"{file}, array {plan['label']!r}: {error}") from None
    return tf.data.Dataset.from_tensor_slices({**columns, "label": targets})


@functools.lru_cache(maxsize=4)
def _read(file):
    with np.load(file, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _make_plan(seed, train=None, validation=None, test=None, split=None, label="label",
               task="auto", inputs=None, sample_rate=None, text_length=None):
    from mmzoo.data import profile
    from mmzoo.data.splits import split_rows
    from mmzoo.data.tasks import LabelEncoder

    if not train:
        raise ValueError("The npz dataset needs a train file: dataset.options.train. "
                         "Received: train=None")
    files = {}
    for name, given in (("train", train), ("validation", validation), ("test", test)):
        if given:
            files[name] = os.path.abspath(os.path.expanduser(str(given)))
            if not os.path.isfile(files[name]):
                raise ValueError(f"The {name} file does not exist. Received: {name}={given!r}")
    arrays = _read(files["train"])
    if label not in arrays:
        raise ValueError(f"{files['train']} has no label array {label!r}; its arrays are "
                         f"{sorted(arrays)}. Received: label={label!r}")
    count = len(arrays[label])
    kinds = {key: _kind(array) for key, array in arrays.items()
             if key not in (label, "class_names")}
    kinds.update(inputs or {})
    modalities = {}
    for name, kind in kinds.items():
        if kind is None:
            continue
        if name not in arrays:
            raise ValueError(f"{files['train']} has no array {name!r}. Received: inputs={inputs}")
        array = arrays[name]
        if len(array) != count:
            raise ValueError(f"Array {name!r} of {files['train']} has {len(array)} rows but "
                             f"{label!r} has {count}: one row per example.")
        if kind == "image":
            shape = array.shape[1:] if array.ndim == 4 else (*array.shape[1:], 1)
            modalities[name] = {"modality": "image", "shape": tuple(int(s) for s in shape)}
        elif kind == "audio":
            modalities[name] = {"modality": "audio", "sample_rate": int(sample_rate or 16000),
                                "num_samples": int(array.shape[1])}
        elif kind == "text":
            length = text_length or profile.text_length(array.astype(str).tolist(), seed)
            modalities[name] = {"modality": "text", "sequence_length": int(length)}
        else:
            raise ValueError(f"Array {name!r} (shape {array.shape}, {array.dtype}) is no image, "
                             f"waveform or text: name its kind with dataset.options.inputs, or "
                             f"null to leave it out. Received: kind={kind!r}")
    names = arrays.get("class_names")
    labels = arrays[label]
    if names is not None and np.issubdtype(labels.dtype, np.integer):
        names = [str(n) for n in names.tolist()]
        encoder = LabelEncoder.fit([], "binary" if len(names) == 2 else "multiclass",
                                   class_names=names)
    else:
        names = None
        encoder = LabelEncoder.fit(labels.tolist(), task)
    fractions = dict(DEFAULT_SPLIT if split is None else split)
    missing = {n: fractions.get(n, 0.0) for n in ("validation", "test") if n not in files}
    cut = split_rows(count, missing, seed) if missing else {"train": None}
    splits = {"train": (files["train"], cut["train"])}
    for name in ("validation", "test"):
        splits[name] = (files[name], None) if name in files else (files["train"], cut[name])
    return {"splits": splits, "modalities": modalities, "encoder": encoder, "label": label,
            "index_names": names}


_plan = planned(_make_plan)


def _kind(array):
    """`"image"`, `"audio"`, `"text"` or `"unknown"` for an array of examples."""
    if array.dtype.kind in "US":
        return "text"
    if array.dtype.kind not in "uif":
        return "unknown"
    if array.ndim == 3 or (array.ndim == 4 and array.shape[-1] in (1, 3)):
        return "image"
    if array.ndim == 2 and array.dtype.kind == "f":
        return "audio"
    return "unknown"
