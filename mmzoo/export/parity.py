"""Parity examples: a few raw inputs stored with an export, and the outputs they must give.

At export, a handful of raw examples (given, or made up from the model's inputs: random
images encoded as PNG at odd sizes, sentences of vocabulary words, waveforms longer
than the model's length, one row with a modality masked out) go through the Keras path
(the preprocessing layers called eagerly, then `model.predict`). The raw inputs, the
preprocessed tensors and the Keras outputs are stored in `parity_examples.npz`
(strings base64-encoded, so the file loads with `allow_pickle=False`). `check` runs an
exported artifact on them and compares within `atol` (1e-5 by default).

>>> import numpy as np, mmzoo
>>> from mmzoo.export.inputs import resolve_inputs
>>> from mmzoo.export.parity import default_examples
>>> model = mmzoo.build_model(
...     {"image": {"tower": "conv", "input_shape": (8, 8, 3), "filters": (2,)}}, num_outputs=2)
>>> raw = default_examples(resolve_inputs(model), columns=[], num_examples=3)
>>> raw["image"].shape, raw["image"].dtype
((3,), dtype('O'))
"""

import base64

import numpy as np

from mmzoo.model import MODALITY_MASK

FILENAME = "parity_examples.npz"
ATOL = 1e-5


def default_examples(inputs, columns, num_examples=4, seed=0):
    """Made-up raw inputs for every serving input (plus a mask if the model takes one).

    Images are random RGB/gray noise encoded as PNG, at the model's size and at other
    sizes (so resizing runs); texts are random words of the tokenizer's vocabulary
    (plus one unknown word); waveforms are random noise at the model's sample rate,
    37 samples longer than the model's length (so cropping runs). With a mask, the
    second example lacks its first modality (and holds empty bytes/text for it).

    Args:
        inputs: list of `mmzoo.export.inputs.ServingInput`.
        columns: the modality mask's columns (input names); `[]` for no mask.
        num_examples: the number of examples (batch size).
        seed: int seed of the numpy generator.

    Returns:
        dict from input name to a numpy array of `num_examples` rows: images and
        texts 1-D object arrays (PNG bytes, str), audio float32
        `(num_examples, num_samples + 37)` in [-0.5, 0.5); plus `modality_mask`
        float32 `(num_examples, M)` when `columns` is not empty.

    >>> import mmzoo
    >>> from mmzoo.export.inputs import mask_columns, resolve_inputs
    >>> model = mmzoo.create_model("avmnist_late_fusion")
    >>> raw = default_examples(resolve_inputs(model), mask_columns(model), num_examples=2)
    >>> raw["audio"].shape, raw["modality_mask"].tolist(), raw["image"][1]
    ((2, 8037), [[1.0, 1.0], [0.0, 1.0]], b'')
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    raw = {}
    for spec in inputs:
        if spec.kind == "image":
            height, width, channels = spec.model_spec.shape[1:]
            images = []
            for index in range(num_examples):
                size = (height + 3 * (index % 3), max(1, width - 2 * (index % 2)))
                pixels = rng.integers(0, 256, (*size, channels), dtype=np.uint8)
                images.append(tf.io.encode_png(pixels).numpy())
            raw[spec.name] = object_array(images)
        elif spec.kind == "text":
            vocabulary = spec.layer.get_vocabulary()[2:] or ["word"]
            texts = []
            for index in range(num_examples):
                count = int(rng.integers(1, spec.model_spec.shape[1] + 4))
                words = [vocabulary[int(i)] for i in rng.integers(0, len(vocabulary), count)]
                texts.append(" ".join(words + ["zzqx"] * (index % 2)))
            raw[spec.name] = object_array(texts)
        else:
            samples = spec.model_spec.shape[1] + 37
            raw[spec.name] = rng.uniform(-0.5, 0.5, (num_examples, samples)).astype("float32")
    if columns:
        mask = np.ones((num_examples, len(columns)), "float32")
        if num_examples > 1 and len(columns) > 1:
            mask[1, 0] = 0.0
            first = next(spec for spec in inputs if spec.name == columns[0])
            if first.kind in ("image", "text"):
                raw[first.name][1] = b"" if first.kind == "image" else ""
            else:
                raw[first.name][1] = 0.0
        raw[MODALITY_MASK] = mask
    return raw


def keras_reference(model, inputs, raw):
    """`(preprocessed, outputs)`: the raw inputs through the layers and `model.predict`.

    The preprocessing layers run eagerly, one call per input, as a `tf.data` pipeline
    or `mmzoo predict` runs them; a masked-out modality's tensor is zeros.

    Args:
        model: the Keras model.
        inputs: list of `mmzoo.export.inputs.ServingInput` (their layers are used).
        raw: dict of raw numpy inputs, as from `default_examples`.

    Returns:
        `(preprocessed, outputs)`: dict from input name to the model-input array
        (e.g. images `(batch, H, W, C)` float32 in [0, 1]), and the model's float32
        outputs `(batch, classes)`.

    >>> import mmzoo
    >>> from mmzoo.export.inputs import resolve_inputs
    >>> model = mmzoo.build_model(
    ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
    ...     num_outputs=2)
    >>> inputs = resolve_inputs(model)
    >>> raw = default_examples(inputs, [], num_examples=3)
    >>> preprocessed, outputs = keras_reference(model, inputs, raw)
    >>> preprocessed["image"].shape, outputs.shape
    ((3, 8, 8, 1), (3, 2))
    """
    import tensorflow as tf

    mask = raw.get(MODALITY_MASK)
    columns = list(getattr(model, "modalities", []))
    preprocessed = {}
    for spec in inputs:
        value = raw[spec.name]
        rows = None
        if mask is not None and spec.name in columns:
            rows = mask[:, columns.index(spec.name)] > 0.5
        if spec.kind == "audio":
            tensor = spec.layer(tf.constant(value, tf.float32))
            array = np.asarray(tensor, dtype=spec.model_spec.dtype.as_numpy_dtype)
        else:
            items = list(value)
            if rows is not None and spec.kind == "image":
                keep = [i for i in range(len(items)) if rows[i]]
                computed = np.asarray(spec.layer(tf.constant([_bytes(items[i]) for i in keep])))
                array = np.zeros((len(items), *spec.model_spec.shape[1:]), "float32")
                array[keep] = computed
            else:
                tensor = spec.layer(tf.constant([_bytes(item) for item in items]))
                array = np.asarray(tensor, dtype=spec.model_spec.dtype.as_numpy_dtype)
        if rows is not None:
            array = array.copy()
            array[~rows] = 0
        preprocessed[spec.name] = array
    if mask is not None:
        preprocessed[MODALITY_MASK] = np.asarray(mask, "float32")
    outputs = np.asarray(model.predict(preprocessed, verbose=0), "float32")
    return preprocessed, outputs


def save_examples(path, raw, preprocessed, outputs):
    """Writes the examples to an `.npz` file (no pickled objects).

    Object arrays (bytes, str) are stored base64-encoded under `<prefix>.<name>.b64`.

    Args:
        path: the `.npz` file to write (str or path-like).
        raw: dict of raw input arrays.
        preprocessed: dict of model-input arrays.
        outputs: array of the expected outputs `(batch, classes)`.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / FILENAME
    >>> save_examples(path, {"text": object_array(["a b"])}, {"text": np.ones((1, 2))},
    ...               np.array([[0.25, 0.75]]))
    >>> loaded = load_examples(path)
    >>> loaded["raw"]["text"], loaded["outputs"].tolist()
    (array([b'a b'], dtype=object), [[0.25, 0.75]])
    """
    arrays = {"outputs": np.asarray(outputs, "float32")}
    for prefix, values in (("raw", raw), ("preprocessed", preprocessed)):
        for name, value in values.items():
            value = np.asarray(value)
            if value.dtype == object:
                encoded = [base64.b64encode(_bytes(item)).decode("ascii") for item in value]
                arrays[f"{prefix}.{name}.b64"] = np.array(encoded, dtype=str)
            else:
                arrays[f"{prefix}.{name}"] = value
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def load_examples(path):
    """`{"raw": {...}, "preprocessed": {...}, "outputs": array}` from `save_examples`.

    Args:
        path: an `.npz` file written by `save_examples`.

    Returns:
        dict with `raw` and `preprocessed` (dicts of arrays; strings come back as
        bytes in object arrays) and `outputs` (float32 array).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file holds pickled objects or is not an `.npz` file.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / FILENAME
    >>> save_examples(path, {"audio": np.zeros((1, 4))}, {}, np.zeros((1, 2)))
    >>> load_examples(path)["raw"]["audio"].shape
    (1, 4)
    """
    loaded = {"raw": {}, "preprocessed": {}}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            if key == "outputs":
                loaded["outputs"] = data[key]
                continue
            prefix, rest = key.split(".", 1)
            if rest.endswith(".b64"):
                value = object_array([base64.b64decode(item) for item in data[key]])
                loaded[prefix][rest[: -len(".b64")]] = value
            else:
                loaded[prefix][rest] = data[key]
    return loaded


def max_error(actual, expected):
    """The largest absolute difference, after checking the shapes agree.

    Args:
        actual: array of the artifact's outputs.
        expected: array of the reference outputs, same shape.

    Returns:
        float: `max |actual - expected|`; `inf` if `actual` has a non-finite value,
        0.0 for empty arrays.

    Raises:
        ValueError: the shapes differ.

    >>> max_error([[0.1, 0.9]], [[0.1, 0.5]])
    0.4
    >>> max_error([[np.nan]], [[0.0]])
    inf
    """
    actual = np.asarray(actual, "float64")
    expected = np.asarray(expected, "float64")
    if actual.shape != expected.shape:
        raise ValueError(
            f"Parity outputs have shape {actual.shape}; expected {expected.shape}. "
            f"Received: outputs of shape {actual.shape}"
        )
    if not np.all(np.isfinite(actual)):
        return float("inf")
    return float(np.max(np.abs(actual - expected))) if actual.size else 0.0


def as_tensors(values, specs):
    """Numpy values -> tensors of the dtypes in `specs` (a dict of `tf.TensorSpec`).

    Args:
        values: dict from input name to a numpy array.
        specs: dict from input name to `tf.TensorSpec` (every name in `values`).

    Returns:
        dict from input name to `tf.Tensor` of the spec's dtype.

    Raises:
        KeyError: a name in `values` has no spec.

    >>> import tensorflow as tf
    >>> tensors = as_tensors({"text": object_array(["hi"])},
    ...                      {"text": tf.TensorSpec([None], tf.string)})
    >>> tensors["text"].numpy()
    array([b'hi'], dtype=object)
    """
    import tensorflow as tf

    return {
        name: tf.constant(list(value) if spec.dtype == tf.string else value, spec.dtype)
        for name, value in values.items()
        for spec in [specs[name]]
    }


def object_array(items):
    """A 1-D numpy object array of `items` (bytes or str), never a 2-D char array.

    Args:
        items: a sequence of bytes or str.

    Returns:
        numpy array of shape `(len(items),)` and dtype object.

    >>> object_array([b"ab", b"c"])
    array([b'ab', b'c'], dtype=object)
    """
    array = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        array[index] = item
    return array


def _bytes(item):
    if isinstance(item, bytes):
        return item
    if isinstance(item, np.bytes_):
        return bytes(item)
    return str(item).encode("utf-8")
