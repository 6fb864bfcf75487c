"""LiteRT (TensorFlow Lite) conversion of the numeric model: preprocessed tensors in.

The converted function is the model alone (`ServingModule.numeric_function`): token ids, float
images in [0, 1], fixed-length waveforms and `modality_mask` in; `probabilities` (or
`values`) out. String processing (image decoding, tokenization) stays in the
SavedModel; an app runs its own decoder and tokenizer (the model card records their
settings) before the interpreter.

`convert` tries, in order: TFLite builtin ops with a dynamic batch axis (skipped for
models with recurrent layers); builtins with a batch of 1 (recurrent layers such as
the LSTM text tower only lower to builtins with a static batch); builtins plus
TensorFlow ops (`SELECT_TF_OPS`, needs the Flex delegate at run time). It reports
which one worked. Conv, CNN and transformer towers convert with builtins and any
batch; LSTM towers with builtins and a batch of 1.

The interpreter is `ai_edge_litert.interpreter.Interpreter` when that package is
installed, else the `tf.lite.Interpreter` TensorFlow 2.21 still ships.

>>> import numpy as np, mmzoo
>>> from mmzoo.export.inputs import resolve_inputs
>>> from mmzoo.export.saved_model import ServingModule
>>> model = mmzoo.build_model(
...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}}, num_outputs=2)
>>> module = ServingModule(model, resolve_inputs(model), [], "multiclass")
>>> content, info = convert(module)  # doctest: +SKIP
>>> info["ops"], info["batch_size"]  # doctest: +SKIP
('builtins', None)

`interpreter`, `run` and `describe` on a small converted function:

>>> import tensorflow as tf
>>> double = tf.Module()
>>> double.call = tf.function(lambda x: {"y": 2.0 * x},
...     input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
>>> flat = tf.lite.TFLiteConverter.from_concrete_functions(
...     [double.call.get_concrete_function()], double).convert()
>>> describe(interpreter(flat))
({'x': {'dtype': 'float32', 'shape': [None, 3]}}, {'y': {'dtype': 'float32', 'shape': [None, 3]}})
>>> run(interpreter(flat), {"x": np.ones((2, 3), "float32")}, batch_size=1)["y"].tolist()
[[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
"""

import contextlib
import os
import warnings

import numpy as np

FILENAME = "model.tflite"


def convert(module):
    """Converts `module.numeric_function()` to a LiteRT flatbuffer.

    Args:
        module: a `mmzoo.export.saved_model.ServingModule`.

    Returns:
        `(content, info)`: the flatbuffer bytes and a dict with `ops` (`"builtins"` or
        `"builtins+select_tf"`), `batch_size` (`None`: any) and `bytes`.

    Raises:
        RuntimeError: when no attempt converts, with the last converter error.

    Converting takes about two seconds even for a tiny model:

    >>> import mmzoo
    >>> from mmzoo.export.inputs import resolve_inputs
    >>> from mmzoo.export.saved_model import ServingModule
    >>> model = mmzoo.build_model(
    ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
    ...     num_outputs=2)
    >>> content, info = convert(ServingModule(model, resolve_inputs(model), [], "multiclass"))
    >>> info["ops"], info["batch_size"], info["bytes"] == len(content)
    ('builtins', None, True)
    """
    import tensorflow as tf

    attempts = [("builtins", None), ("builtins", 1), ("builtins+select_tf", None)]
    if _has_recurrent_layer(module.model):
        attempts = attempts[1:]  # known to fail, with pages of converter errors
    errors = []
    for ops, batch_size in attempts:
        function = module.numeric_function(batch_size)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], module)
        if ops == "builtins+select_tf":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS,
                tf.lite.OpsSet.SELECT_TF_OPS,
            ]
            converter._experimental_lower_tensor_list_ops = False
        try:
            with _quiet():
                content = converter.convert()
        except Exception as error:  # the converter raises several error types
            errors.append(f"{ops}, batch {batch_size or 'any'}: {_last_line(error)}")
            continue
        return content, {"ops": ops, "batch_size": batch_size, "bytes": len(content)}
    raise RuntimeError(
        "LiteRT conversion failed for every option:\n  " + "\n  ".join(errors)
    )


def interpreter(content=None, path=None):
    """A LiteRT interpreter for a flatbuffer (bytes) or a `.tflite` file.

    Args:
        content: the flatbuffer bytes (used when `path` is None).
        path: a `.tflite` file (str or path-like).

    Returns:
        An `ai_edge_litert` (or `tf.lite`) `Interpreter`, tensors not yet allocated.

    Raises:
        ValueError: neither `content` nor `path` is given, or the bytes are not a
            LiteRT model (raised by the interpreter).

    Example: see the module docstring.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        if path is not None:
            return Interpreter(model_path=os.fspath(path))
        return Interpreter(model_content=content)


def run(model_interpreter, inputs, batch_size=None):
    """Runs the interpreter's signature on a dict of numpy inputs; returns a dict.

    With `batch_size=1` (a static-batch conversion) the examples run one at a time
    and the outputs are stacked.

    Args:
        model_interpreter: an interpreter from `interpreter` with one signature.
        inputs: dict from input name to a numpy array `(batch, ...)`.
        batch_size: None (the whole batch at once) or 1 (one example per call).

    Returns:
        dict from output name to a numpy array `(batch, ...)`.

    Raises:
        ValueError: the model does not have exactly one signature, or an input does
            not fit it (raised by the interpreter).

    Example: see the module docstring.
    """
    runner = model_interpreter.get_signature_runner()
    inputs = {name: np.asarray(value) for name, value in inputs.items()}
    if batch_size is None:
        return {key: np.asarray(value) for key, value in runner(**inputs).items()}
    count = len(next(iter(inputs.values())))
    results = [
        runner(**{name: value[i : i + 1] for name, value in inputs.items()}) for i in range(count)
    ]
    return {key: np.concatenate([r[key] for r in results]) for key in results[0]}


def describe(model_interpreter):
    """Inputs and outputs of the interpreter's signature: name -> dtype and shape.

    Args:
        model_interpreter: an interpreter from `interpreter` with one signature.

    Returns:
        `(inputs, outputs)`: dicts from name to `{"dtype": str, "shape": list}`, with
        `None` for a dynamic axis.

    Raises:
        ValueError: the model does not have exactly one signature.

    Example: see the module docstring.
    """
    details = model_interpreter.get_signature_runner()
    inputs = details.get_input_details()
    outputs = details.get_output_details()

    def entry(detail):
        shape = [None if d < 0 else int(d) for d in detail["shape_signature"]]
        return {"dtype": np.dtype(detail["dtype"]).name, "shape": shape}

    return (
        {name: entry(d) for name, d in sorted(inputs.items())},
        {name: entry(d) for name, d in sorted(outputs.items())},
    )


def _has_recurrent_layer(model):
    import keras

    stack = [model]
    while stack:
        layer = stack.pop()
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
            return True
        stack.extend(getattr(layer, "layers", None) or ())
    return False


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _last_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[-1] if lines else type(error).__name__
    return text[:300]
