"""Input validation at the serving boundary, inside the exported graph.

Every check is a graph op (`tf.ensure_shape`, `tf.debugging.Assert`), so a SavedModel
refuses bad input wherever it is loaded (plain TensorFlow, TF Serving,
`saved_model_cli`), before any prediction is made. A failed check raises
`tf.errors.InvalidArgumentError` whose message names the input, what was expected and
what was received, e.g. `audio: expected finite float32 waveforms; received NaN or
inf at batch positions [1]`.

Why `tf.ensure_shape` for ranks: a loaded signature function does not check the
shapes of its arguments (only their dtypes), and a rank check written with
`tf.rank`/`tf.shape` is constant-folded from the traced input signature, so it never
fires. `EnsureShape` compares the runtime shape.

>>> import tensorflow as tf
>>> from mmzoo.export.checks import finite_check
>>> try:
...     finite_check("audio", tf.constant([[0.0, float("nan")]]), "waveforms")
... except tf.errors.InvalidArgumentError as error:
...     print("audio: expected finite float32 waveforms" in error.message)
True
"""

import tensorflow as tf

from mmzoo.model import MODALITY_MASK

# The first bytes of each format `tf.io.decode_image` reads.
IMAGE_SIGNATURES = (
    ("PNG", b"\x89PNG\r\n\x1a\n"),
    ("JPEG", b"\xff\xd8\xff"),
    ("GIF", b"GIF8"),
    ("BMP", b"BM"),
)


def ensure_shape(name, tensor, shape):
    """`tensor`, checked at run time to have a shape compatible with `shape`.

    The error reads `Shape of tensor <name> [2,1] is not compatible with expected
    shape [?]` (the tensor is the signature input named after the model input).

    Args:
        name: the input name, used in the op name.
        tensor: the tensor to check.
        shape: the expected shape, `None` for any size (e.g. `[None, 8000]`).

    Returns:
        `tensor`, with the static shape refined.

    Raises:
        tf.errors.InvalidArgumentError: at run time (eagerly: at once), when the
            shapes do not fit.

    >>> ensure_shape("audio", tf.zeros((2, 5)), [None, 5]).shape
    TensorShape([2, 5])
    >>> ensure_shape("image", tf.zeros((2, 1)), [None])
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...
    """
    return tf.ensure_shape(tensor, shape, name=f"check_{_op_name(name)}_shape")


def batch_size_check(tensors):
    """An op asserting that every tensor of the dict has the same batch size.

    Args:
        tensors: dict from input name to a tensor `(batch, ...)`.

    Returns:
        The assert op (None when run eagerly and the check passes).

    Raises:
        tf.errors.InvalidArgumentError: at run time, when the batch sizes differ.

    >>> batch_size_check({"image": tf.zeros((2, 3)), "audio": tf.zeros((3, 4))})
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...same batch size...
    """
    names = list(tensors)
    sizes = tf.stack([tf.shape(tensors[name], out_type=tf.int64)[0] for name in names])
    data = [
        f"Inputs {', '.join(names)}: expected the same batch size for every input (one row "
        "per example); received batch sizes"
    ]
    for index, name in enumerate(names):
        data += [f"{name}:", sizes[index]]
    return tf.debugging.Assert(tf.reduce_all(tf.equal(sizes, sizes[0])), data, summarize=16)


def image_bytes_checks(name, data, present=None):
    """Ops asserting non-empty bytes of a known image format where `present`.

    Args:
        name: input name, for the messages.
        data: `(batch,)` `tf.string` of encoded images.
        present: optional `(batch,)` bool: rows whose modality is present (masked-out
            rows are not decoded, so they may hold anything, e.g. empty bytes).

    Returns:
        list of two assert ops (the format check runs after the emptiness check).

    Raises:
        tf.errors.InvalidArgumentError: at run time, when a wanted row is empty or
            not PNG/JPEG/GIF/BMP bytes.

    >>> png = tf.io.encode_png(tf.zeros((1, 1, 1), tf.uint8))
    >>> _ = image_bytes_checks("image", tf.stack([png, b""]), present=tf.constant([True, False]))
    >>> _ = image_bytes_checks("image", tf.constant([b"not an image"]))
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...no known image format...
    """
    wanted = tf.ones_like(data, tf.bool) if present is None else present
    non_empty = tf.strings.length(data) > 0
    empty_rows = tf.logical_and(wanted, tf.logical_not(non_empty))
    empty = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(empty_rows)),
        [
            f"{name}: expected non-empty encoded image bytes (PNG, JPEG, GIF or BMP) for "
            "every example whose modality is present; received empty bytes at batch "
            "positions",
            _positions(empty_rows),
        ],
        summarize=32,
    )
    known = tf.zeros_like(data, tf.bool)
    for _, magic in IMAGE_SIGNATURES:
        head = tf.strings.substr(data, 0, len(magic))
        known = tf.logical_or(known, tf.equal(head, magic))
    unknown_rows = tf.logical_and(wanted, tf.logical_not(known))
    with tf.control_dependencies([empty]):
        unknown = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(unknown_rows)),
            [
                f"{name}: expected encoded images (PNG, JPEG, GIF or BMP); received bytes "
                "of no known image format at batch positions",
                _positions(unknown_rows),
            ],
            summarize=32,
        )
    return [empty, unknown]


def utf8_check(name, texts):
    """An op asserting that every string is valid UTF-8.

    Args:
        name: input name, for the message.
        texts: `(batch,)` `tf.string` tensor.

    Returns:
        The assert op.

    Raises:
        tf.errors.InvalidArgumentError: at run time, naming the invalid rows.

    >>> utf8_check("text", tf.constant(["ok", b"\\xff"]))
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...invalid UTF-8...
    """
    repaired = tf.strings.unicode_transcode(
        texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    invalid = tf.not_equal(repaired, texts)
    return tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(invalid)),
        [
            f"{name}: expected UTF-8 text; received invalid UTF-8 at batch positions",
            _positions(invalid),
        ],
        summarize=32,
    )


def finite_check(name, values, what="values"):
    """An op asserting that a float tensor holds no NaN or infinity.

    Args:
        name: input name, for the message.
        values: float tensor `(batch, ...)`.
        what: what the values are, for the message (e.g. `"waveforms"`).

    Returns:
        The assert op.

    Raises:
        tf.errors.InvalidArgumentError: at run time, naming the rows with NaN or inf.

    >>> finite_check("audio", tf.constant([[0.0], [float("inf")]]))
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...NaN or inf...
    """
    values = tf.convert_to_tensor(values)
    flat = tf.reshape(values, [tf.shape(values)[0], -1])
    bad_rows = tf.logical_not(tf.reduce_all(tf.math.is_finite(flat), axis=1))
    return tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(bad_rows)),
        [
            f"{name}: expected finite float32 {what}; received NaN or inf at batch positions",
            _positions(bad_rows),
        ],
        summarize=32,
    )


def token_range_check(name, ids, vocab_size):
    """An op asserting token ids in `[0, vocab_size)`.

    Args:
        name: input name, for the message.
        ids: integer tensor `(batch, sequence_length)`.
        vocab_size: the number of token ids the embedding has.

    Returns:
        The assert op.

    Raises:
        tf.errors.InvalidArgumentError: at run time, naming the rows out of range.

    >>> token_range_check("text", tf.constant([[1, 2], [3, 9]]), vocab_size=5)
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...expected token ids in [0, 5)...
    """
    bad = tf.logical_or(ids < 0, ids >= vocab_size)
    bad_rows = tf.reduce_any(tf.reshape(bad, [tf.shape(ids)[0], -1]), axis=1)
    return tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(bad_rows)),
        [
            f"{name}: expected token ids in [0, {vocab_size}); received ids out of range "
            "at batch positions",
            _positions(bad_rows),
        ],
        summarize=32,
    )


def mask_checks(mask, columns):
    """Ops asserting a `(batch, M)` mask of 0/1 with at least one 1 per row.

    Args:
        mask: the `modality_mask` tensor (its shape is checked by `ensure_shape`).
        columns: the input names of its columns, for the messages.

    Returns:
        list of two assert ops (values in {0, 1}; at least one 1 per row).

    Raises:
        tf.errors.InvalidArgumentError: at run time, naming the bad rows.

    >>> _ = mask_checks(tf.constant([[1.0, 0.0], [0.0, 1.0]]), ["image", "audio"])
    >>> _ = mask_checks(tf.constant([[0.0, 0.0]]), ["image", "audio"])
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...one present modality...
    """
    layout = ", ".join(columns)
    binary = tf.logical_or(tf.equal(mask, 0.0), tf.equal(mask, 1.0))
    not_binary = tf.logical_not(tf.reduce_all(binary, axis=1))
    values = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(not_binary)),
        [
            f"{MODALITY_MASK}: expected 0 (absent) or 1 (present) for each modality "
            f"(columns: {layout}); received other values at batch positions",
            _positions(not_binary),
        ],
        summarize=32,
    )
    none_present = tf.logical_not(tf.reduce_any(tf.equal(mask, 1.0), axis=1))
    with tf.control_dependencies([values]):
        rows = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(none_present)),
            [
                f"{MODALITY_MASK}: expected at least one present modality (a 1) per example "
                f"(columns: {layout}); received rows without any at batch positions",
                _positions(none_present),
            ],
            summarize=32,
        )
    return [values, rows]


def _positions(rows):
    return tf.reshape(tf.where(rows), [-1])


def _op_name(name):
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in name)
