"""The `tfds` dataset: any TensorFlow Datasets dataset prepared in a local data dir.

Nothing is downloaded: the dataset must be prepared in the data folder
(`dataset.data_dir`, else `$MMZOO_DATA_DIR`, else TFDS's default; with internet,
`tfds.load(name, data_dir=...)` prepares it once).

    dataset:
      name: tfds
      data_dir: ../shared/data
      options:
        name: spoken_digit                    # the TFDS name (optionally name:version)
        features: {audio: audio}              # model input -> TFDS feature key
        label: label                          # the label feature
        splits: {train: "train[:80%]", validation: "train[80%:90%]", test: "train[90%:]"}

By default every image, audio and text feature becomes an input under its own name
(made a valid identifier; keys with a "/", such as `audio/filename`, describe another
feature and are left out), and the splits are the dataset's `train`, `validation` and
`test`, with missing ones cut from the end of `train` (80/10/10 when only `train`
exists). A `ClassLabel` label gives the class names; two classes make a binary task.

Examples: images float32 `(H, W, C)` in [0, 1] (`image_size` resizes images whose
size varies), audio float32 `(num_samples,)` in [-1, 1] at the feature's sample rate
(centred; `duration` in seconds sets the length, default one covering 95% of a sample
of recordings), text raw strings.

The example needs MNIST prepared in a local TFDS folder:

>>> info(name="mnist", data_dir="../shared/data")["modalities"]  # doctest: +SKIP
{'image': {'modality': 'image', 'shape': (28, 28, 1)}}
"""

import functools

import numpy as np

OPTIONS = ("name", "features", "label", "splits", "image_size", "sample_rate", "duration",
           "text_length")
DESCRIPTION = ("Any TFDS dataset prepared in the data folder (options name, features, "
               "label, splits)")
_SAMPLE = 200


def info(data_dir=None, **options):
    """Fields of the `DatasetInfo`: the inputs, sizes and classes of the TFDS dataset."""
    plan = _plan(data_dir, **options)
    return {"description": DESCRIPTION, "modalities": plan["modalities"],
            "class_names": tuple(plan["encoder"].class_names), "task": plan["encoder"].task}


def is_available(data_dir=None):
    """Whether a TFDS data folder exists (each dataset is checked when loaded)."""
    from mmzoo.datasets import find_data_dir

    return find_data_dir(data_dir).is_dir()


def load(split="train", data_dir=None, seed=0, **options):
    """One split as an unbatched `tf.data.Dataset` of example dicts (module docstring).

    Raises:
        DataNotFoundError: the dataset is not prepared in the data folder.
        ValueError: an unknown dataset, feature or split.
    """
    import tensorflow as tf

    from mmzoo.preprocessing.audio import fix_length
    from mmzoo.preprocessing.image import resize_image

    plan = _plan(data_dir, **options)
    builder = plan["builder"]
    try:
        examples = builder.as_dataset(split=plan["splits"][split], shuffle_files=False)
    except (ValueError, KeyError) as error:
        raise ValueError(f"TFDS dataset {builder.name!r} has no split "
                         f"{plan['splits'][split]!r}: {error}") from None
    scalar_float = plan["encoder"].task in ("binary", "regression")

    def convert(example):
        out = {}
        for name, key in plan["features"].items():
            spec, value = plan["modalities"][name], example[key]
            if spec["modality"] == "image":
                value = resize_image(value, spec["shape"][:2])
            elif spec["modality"] == "audio":
                value = tf.cast(value, tf.float32)
                if example[key].dtype.is_integer:
                    value = value / 32768.0
                value = fix_length(value, spec["num_samples"], "center")
            out[name] = value
        label = example[plan["label"]]
        out["label"] = tf.cast(tf.reshape(label, [1]), tf.float32) if scalar_float else label
        return out

    return examples.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


@functools.lru_cache(maxsize=8)
def _cached(data_dir, key):
    import ast

    return _make_plan(data_dir, **{k: ast.literal_eval(v) for k, v in key})


def _plan(data_dir, **options):
    return _cached(None if data_dir is None else str(data_dir),
                   tuple(sorted((k, repr(v)) for k, v in options.items())))


def _make_plan(data_dir, name=None, features=None, label="label", splits=None,
               image_size=None, sample_rate=None, duration=None, text_length=None):
    import tensorflow_datasets as tfds

    from mmzoo.data import profile
    from mmzoo.data.tasks import LabelEncoder
    from mmzoo.datasets.manifest import input_name

    if not name:
        raise ValueError("The tfds dataset needs the TFDS name: dataset.options.name, e.g. "
                         "mnist. Received: name=None")
    builder = prepared_builder(name, data_dir)
    available = builder.info.features
    if label not in available:
        raise ValueError(f"TFDS dataset {name!r} has no feature {label!r}; its features are "
                         f"{sorted(available.keys())}. Received: label={label!r}")
    kinds = {key: _kind(feature) for key, feature in available.items() if key != label}
    if features is None:  # "audio/filename" and the like describe another feature
        features = {input_name(key): key for key, kind in kinds.items() if kind and "/" not in key}
    unknown = sorted(key for key in features.values() if key not in available)
    if unknown or not features:
        raise ValueError(f"TFDS dataset {name!r} has no usable feature(s) {unknown}; its "
                         f"features are {sorted(available.keys())}. Received: features={features}")
    split_map = _split_map(builder, splits)
    sample = list(tfds.as_numpy(builder.as_dataset(split=split_map["train"]).take(_SAMPLE)))
    modalities = {}
    for input_key, key in features.items():
        feature, kind = available[key], kinds.get(key)
        if kind == "image":
            shape = tuple(feature.shape)
            if image_size is not None:
                shape = (*[int(s) for s in image_size], shape[-1])
            if None in shape:
                raise ValueError(f"The images of {name!r} vary in size: set "
                                 f"dataset.options.image_size, e.g. [64, 64]. Received: {shape}")
            modalities[input_key] = {"modality": "image", "shape": shape}
        elif kind == "audio":
            rate = int(sample_rate or getattr(feature, "sample_rate", None) or 16000)
            lengths = [len(example[key]) for example in sample]
            seconds = duration or np.ceil(np.percentile(lengths, 95) / rate * 10) / 10
            modalities[input_key] = {"modality": "audio", "sample_rate": rate,
                                     "num_samples": max(1, int(round(rate * float(seconds))))}
        elif kind == "text":
            texts = [example[key].decode("utf-8", "replace") for example in sample]
            modalities[input_key] = {"modality": "text",
                                     "sequence_length": int(text_length or profile.text_length(texts))}
        else:
            raise ValueError(f"Feature {key!r} of {name!r} is no image, audio or text. "
                             f"Received: {feature!r}")
    label_feature = available[label]
    names = getattr(label_feature, "names", None)
    if names:
        encoder = LabelEncoder.fit(names, "binary" if len(names) == 2 else "multiclass",
                                   class_names=names)
    elif np.issubdtype(np.dtype(getattr(label_feature, "np_dtype", label_feature.dtype)),
                       np.floating):
        encoder = LabelEncoder.fit([], "regression")
    else:
        raise ValueError(f"The label {label!r} of {name!r} must be a ClassLabel (classes) or "
                         f"a float (regression). Received: {label_feature!r}")
    return {"builder": builder, "features": dict(features), "label": label,
            "modalities": modalities, "encoder": encoder, "splits": split_map}


def prepared_builder(name, data_dir=None):
    """The `tfds` builder of `name`, prepared in the data folder (nothing is downloaded).

    Args:
        name: the TFDS name, e.g. `"mnist"` or `"mnist:3.0.1"`.
        data_dir: the data folder (see `mmzoo.datasets.find_data_dir`).

    Raises:
        ValueError: no TFDS dataset has that name.
        DataNotFoundError: it is not prepared in the data folder.
    """
    import tensorflow_datasets as tfds

    from mmzoo.datasets import DataNotFoundError, find_data_dir

    path = find_data_dir(data_dir)
    try:
        builder = tfds.builder(name, data_dir=str(path))
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(f"Unknown TFDS dataset. Received: name={name!r} ({error})") from None
    if not builder.is_prepared():
        raise DataNotFoundError(
            f"TFDS dataset {name!r} is not prepared in {path}; mmzoo never downloads. "
            f"Prepare it with tfds.load({name!r}, data_dir=...) where there is internet, "
            f"or pass the folder that holds it. Received: data_dir={data_dir!r}")
    return builder


def _kind(feature):
    import tensorflow_datasets as tfds

    if isinstance(feature, tfds.features.Image):
        return "image"
    if isinstance(feature, tfds.features.Audio):
        return "audio"
    if isinstance(feature, tfds.features.Text):
        return "text"
    return None


def _split_map(builder, splits):
    have = set(builder.info.splits.keys())
    if splits:
        return {"train": splits["train"], "validation": splits.get("validation", "validation"),
                "test": splits.get("test", "test")}
    if {"validation", "test"} <= have:
        return {"train": "train", "validation": "validation", "test": "test"}
    if "test" in have:
        return {"train": "train[:90%]", "validation": "train[90%:]", "test": "test"}
    if "validation" in have:
        return {"train": "train[:90%]", "validation": "validation", "test": "train[90%:]"}
    return {"train": "train[:80%]", "validation": "train[80%:90%]", "test": "train[90%:]"}
