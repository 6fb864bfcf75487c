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

from mmzoo.data.manifest import read_manifest
from mmzoo.data.pipeline import AUTOTUNE, finish_pipeline
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
        examples = examples.map(
            lambda x, y: ({k: preprocess.get(k, _identity)(v) for k, v in x.items()}, y),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
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
        path: the manifest.
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
        (class names, skipped rows).
    """
    kinds = {name: _spec_kind(name, spec) for name, spec in inputs.items()}
    manifest = read_manifest(path, kinds, label_column, class_names, skip_bad_rows)
    examples = tf.data.Dataset.from_tensor_slices(
        ({name: manifest.columns[name] for name in inputs}, np.asarray(manifest.labels, "int64"))
    )

    def load(row, label):
        return {name: _load(inputs[name], value) for name, value in row.items()}, label

    def crop(features, label, seed):
        cropped = dict(features)
        for name, spec in inputs.items():
            if spec["kind"] == "audio":
                cropped[name] = fix_length(features[name], spec["num_samples"], "random", seed)
        return cropped, label

    examples = examples.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    has_audio = any(spec["kind"] == "audio" for spec in inputs.values())
    train_map = crop if training and has_audio else None
    if not train_map:
        examples = examples.map(
            lambda x, y: (_center_audio(x, inputs), y), num_parallel_calls=AUTOTUNE
        )
    return finish_pipeline(examples, train_map=train_map, **pipeline_options), manifest


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
