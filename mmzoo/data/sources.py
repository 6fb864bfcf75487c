"""Input pipelines from numpy arrays, manifests and TFDS, all ending in `finish_pipeline`.

Each returns a `tf.data.Dataset` of `(features, label)` batches whose feature keys are
the model's input names, ready for `model.fit`.

>>> import numpy as np
>>> from mmzoo.data import from_numpy
>>> ds = from_numpy({"image": np.zeros((6, 8, 8, 1), "float32")}, np.arange(6), batch_size=4)
>>> [tuple(x["image"].shape) for x, _ in ds]
[(4, 8, 8, 1), (2, 8, 8, 1)]
"""

import numpy as np
import tensorflow as tf

from mmzoo.data.manifest import Manifest, read_manifest
from mmzoo.data.pipeline import finish_pipeline
from mmzoo.preprocessing.audio import decode_wav, fix_length, resample
from mmzoo.preprocessing.image import preprocess_image

INPUT_KINDS = ("image", "audio", "text")


def from_numpy(features, labels, preprocess=None, **pipeline_options):
    """A pipeline over in-memory arrays.

    Args:
        features: dict from input name to an array with one row per example.
        labels: array of labels, one per example.
        preprocess: optional dict from input name to a function applied to one
            example's value in the pipeline (e.g. a `TextTokenizer` for raw strings).
        **pipeline_options: `finish_pipeline` options (`batch_size`, `shuffle`, `seed`,
            `drop_remainder`, `cache`, `num_shards`, `shard_index`).

    Returns:
        A `tf.data.Dataset` of `(features, labels)` batches: `features[name]` has shape
        `(batch, *row_shape)` of its array, `labels` `(batch,)`.

    Raises:
        ValueError: `features` is not a non-empty dict, an input's row count differs
            from the labels', or `preprocess` names an input not in `features`.

    >>> import numpy as np
    >>> ds = from_numpy({"text": np.array(["a b", "c", "d e f"])}, np.array([0, 1, 0]),
    ...                 preprocess={"text": lambda s: tf.strings.length(s)},
    ...                 batch_size=3, shuffle=False)
    >>> x, y = next(iter(ds))
    >>> x["text"].numpy().tolist(), y.numpy().tolist()
    ([3, 1, 5], [0, 1, 0])
    >>> from_numpy({"image": np.zeros((2, 4, 4, 1))}, [0, 1, 1])
    Traceback (most recent call last):
    ...
    ValueError: Every input needs one row per label (3); input 'image' has 2. ...
    """
    if not isinstance(features, dict) or not features:
        raise ValueError(
            "`features` must be a non-empty dict from input name to array. "
            f"Received: features of type {type(features).__name__}"
        )
    count = len(labels)
    for name, values in features.items():
        if len(values) != count:
            raise ValueError(
                f"Every input needs one row per label ({count}); input {name!r} has "
                f"{len(values)}. Received: features[{name!r}] with shape {np.shape(values)}"
            )
    examples = tf.data.Dataset.from_tensor_slices((dict(features), np.asarray(labels)))
    if preprocess:
        unknown = sorted(set(preprocess) - set(features))
        if unknown:
            raise ValueError(
                f"`preprocess` names inputs that are not in `features`: {unknown}. "
                f"Received: preprocess keys {sorted(preprocess)}"
            )
        pipeline_options["decode"] = lambda x, y: (
            {k: preprocess.get(k, _identity)(v) for k, v in x.items()}, y
        )
    return finish_pipeline(examples, **pipeline_options)


def from_manifest(
    path,
    inputs,
    label_column="label",
    class_names=None,
    skip_bad_rows=False,
    training=False,
    **pipeline_options,
):
    """A pipeline over the files and texts a CSV/JSONL manifest lists.

    Every row is checked before the pipeline is built (see `read_manifest`).

    Args:
        path: the manifest file, or a `Manifest` already returned by `read_manifest`
            (e.g. to adapt a tokenizer on its texts first), which is not read again.
        inputs: dict from input name (= manifest column) to its spec:
            `{"kind": "image", "size": (H, W), "channels": 3, "resize": "pad"}`,
            `{"kind": "audio", "sample_rate": 8000, "num_samples": 8000}` or
            `{"kind": "text", "tokenizer": <TextTokenizer>}` (omit the tokenizer to get
            raw strings).
        label_column, class_names, skip_bad_rows: see `read_manifest`.
        training: random audio crops instead of centred ones.
        **pipeline_options: `finish_pipeline` options.

    Returns:
        `(dataset, manifest)`: the batched pipeline and the checked `Manifest`
        (class names, skipped rows). Per batch: images `(batch, H, W, channels)`
        float32 in [0, 1]; audio `(batch, num_samples)` float32 at `sample_rate` Hz;
        text token ids of the tokenizer's shape, or `(batch,)` strings; labels
        `(batch,)` int64 class indices.

    Raises:
        ValueError: a spec lacks a valid `kind`, a given `Manifest` lacks an input
            column, or the manifest cannot be read (see `read_manifest`).
        ManifestError: the manifest has broken rows and `skip_bad_rows` is False.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "m.csv").write_text("caption,label\\na cat,cat\\na dog,dog\\n")
    >>> ds, manifest = from_manifest(folder / "m.csv", {"caption": {"kind": "text"}},
    ...                              batch_size=2, shuffle=False)
    >>> x, y = next(iter(ds))
    >>> x["caption"].numpy().tolist(), y.numpy().tolist(), manifest.class_names
    ([b'a cat', b'a dog'], [0, 1], ['cat', 'dog'])
    """
    kinds = {name: _spec_kind(name, spec) for name, spec in inputs.items()}
    if isinstance(path, Manifest):  # already read and checked: no second pass over the files
        manifest = path
        missing = sorted(set(inputs) - set(manifest.columns))
        if missing:
            raise ValueError(
                f"The manifest was read without the input(s) {missing}. Received: a Manifest "
                f"with columns {sorted(manifest.columns)}"
            )
    else:
        manifest = read_manifest(path, kinds, label_column, class_names, skip_bad_rows)
    examples = tf.data.Dataset.from_tensor_slices(
        ({name: manifest.columns[name] for name in inputs}, np.asarray(manifest.labels, "int64"))
    )

    def load(row, label):
        features = {name: _load(inputs[name], value) for name, value in row.items()}
        return (features if training else _center_audio(features, inputs)), label

    def crop(features, label, seed):
        cropped = dict(features)
        for name, spec in inputs.items():
            if spec["kind"] == "audio":
                cropped[name] = fix_length(features[name], spec["num_samples"], "random", seed)
        return cropped, label

    has_audio = any(spec["kind"] == "audio" for spec in inputs.values())
    train_map = crop if training and has_audio else None
    pipeline = finish_pipeline(examples, train_map=train_map, decode=load, **pipeline_options)
    return pipeline, manifest


def from_tfds(
    name, split="train", data_dir=None, features=None, label_key="label", preprocess=None,
    **pipeline_options,
):
    """A pipeline over a TensorFlow Datasets dataset already prepared in `data_dir`.

    Nothing is downloaded: the dataset must have been prepared there (with internet,
    `tfds.load(name, data_dir=...)` does it once). uint8 images become float32 in
    [0, 1], as the image towers expect.

    Args:
        name: TFDS name, e.g. `"mnist"` (optionally with a version, `"mnist:3.0.1"`).
        split: TFDS split string, e.g. `"train"` or `"test[:10%]"`.
        data_dir: the TFDS data dir (see `mmzoo.datasets.find_data_dir`: the argument,
            else `$MMZOO_DATA_DIR`, else TFDS's default).
        features: dict from model input name to TFDS feature key; by default every
            feature except `label_key`, under its own name.
        label_key: the TFDS feature holding the label.
        preprocess: optional dict from input name to a function of one example's value.
        **pipeline_options: `finish_pipeline` options.

    Returns:
        A `tf.data.Dataset` of `(features, labels)` batches keyed by model input name
        (images `(batch, H, W, C)` float32 in [0, 1] when stored as uint8).

    Raises:
        DataNotFoundError: the dataset is not prepared in the data dir (or no data
            dir is found).
        ValueError: `name` is not a TFDS dataset, or `label_key`/`features` name a
            feature the dataset lacks.

    The example needs MNIST prepared in a local TFDS folder:

    >>> import mmzoo  # doctest: +SKIP
    >>> ds = mmzoo.data.from_tfds("mnist", "test[:8]", data_dir="../shared/data",
    ...                           batch_size=4)  # doctest: +SKIP
    """
    from mmzoo.datasets.tfds import prepared_builder

    builder = prepared_builder(name, data_dir)
    available = sorted(builder.info.features.keys())
    if label_key not in available:
        raise ValueError(
            f"TFDS dataset {name!r} has no feature {label_key!r}; its features are "
            f"{available}. Received: label_key={label_key!r}"
        )
    if features is None:
        features = {key: key for key in available if key != label_key}
    unknown = sorted(key for key in features.values() if key not in available)
    if unknown:
        raise ValueError(
            f"TFDS dataset {name!r} has no feature(s) {unknown}; its features are "
            f"{available}. Received: features={features!r}"
        )
    preprocess = dict(preprocess or {})

    def to_example(example):
        inputs = {}
        for input_name, key in features.items():
            value = example[key]
            if value.dtype == tf.uint8 and value.shape.rank == 3:
                value = tf.image.convert_image_dtype(value, tf.float32)
            inputs[input_name] = preprocess.get(input_name, _identity)(value)
        return inputs, example[label_key]

    examples = builder.as_dataset(split=split, shuffle_files=False)
    return finish_pipeline(examples, decode=to_example, **pipeline_options)


def _spec_kind(name, spec):
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in INPUT_KINDS:
        raise ValueError(
            f"The spec of input {name!r} needs a 'kind' among {', '.join(INPUT_KINDS)}. "
            f"Received: inputs[{name!r}]={spec!r}"
        )
    return kind


def _load(spec, value):
    if spec["kind"] == "image":
        return preprocess_image(
            tf.io.read_file(value),
            size=spec["size"],
            channels=spec.get("channels", 3),
            mode=spec.get("resize", "pad"),
        )
    if spec["kind"] == "audio":
        waveform, rate = decode_wav(tf.io.read_file(value))
        return resample(waveform, rate, spec["sample_rate"])
    tokenizer = spec.get("tokenizer")
    return tokenizer(value) if tokenizer is not None else value


def _center_audio(features, inputs):
    return {
        name: fix_length(value, inputs[name]["num_samples"], "center")
        if inputs[name]["kind"] == "audio"
        else value
        for name, value in features.items()
    }


def _identity(value):
    return value
