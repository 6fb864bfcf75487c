"""The cost section of the evaluation report: parameters, FLOPs, latency, throughput, memory.

- `parameters(model)`: trainable and frozen parameters per tower, the fusion and the
  head, then the total (`MultimodalModel.parameter_counts`, the rows of `summary()`).
- `flops_per_example(model)`: floating-point operations of one forward pass at batch 1,
  counted by TensorFlow's profiler on the graph of the Keras model (a multiply-add
  counts 2; see the function for what is and is not counted).
- `serving_cost(export_dir)`: latency p50/p95 at batch 1, throughput at batch 64 and
  peak resident memory of the exported SavedModel, loaded with plain
  `tf.saved_model.load` in a fresh Python process and called on raw inputs (the
  export's own `parity_examples.npz`: image bytes, strings, waveforms).
- `cost(model, export_dir)`: the whole section; without an export the Keras model is
  timed in this process (`predict_on_batch` on preprocessed tensors) and no peak
  memory is given.

Nothing here imports TensorFlow or mmzoo at module level: the serving measurement loads
this file alone in its subprocess, so the peak memory it reports is that of TensorFlow
and the SavedModel, not of Keras or mmzoo.

>>> import mmzoo
>>> model = mmzoo.build_model(
...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
...     num_outputs=2)
>>> parameters(model)[-1]
{'part': 'total', 'trainable': 17178, 'frozen': 4}
>>> cost(model, repeats=3, warmup=1)["measured"]  # doctest: +SKIP
'Keras model in this process (predict_on_batch on preprocessed random tensors), ...'
"""

import contextlib
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

PARITY_FILE = "parity_examples.npz"  # mmzoo.export.parity.FILENAME
CARD_FILE = "model_card.json"  # mmzoo.export.card.FILENAME
MODALITY_MASK = "modality_mask"  # mmzoo.model.MODALITY_MASK
SERVING_DEFAULT = "serving_default"
SERVING_MASKED = "serving_masked"
BATCH_SIZES = (1, 64)
REPEATS = 50
WARMUP = 5
TIMEOUT = 600

#: What `flops_per_example` counts, for the report.
FLOPS_COUNTED = (
    "TensorFlow profiler float_operation count of one forward pass at batch 1 "
    "(tf.compat.v1.profiler): MatMul/BatchMatMul and convolutions at 2 FLOPs per "
    "multiply-add, plus 1 per output element of BiasAdd, element-wise arithmetic "
    "(Add, Sub, Mul, RealDiv, Maximum, ...), pooling, Mean/Sum, Rsqrt, Log, and 5 per "
    "Softmax element; activations without a registered count (Relu, Sigmoid, Tanh, "
    "Exp, ...) count 0; recurrent layers are unrolled for the count"
)
# Ops that do real arithmetic the profiler gives no count for; named in the note.
_UNCOUNTED_HEAVY = {
    "RFFT": "FFT (log-mel spectrogram)", "FFT": "FFT", "IRFFT": "FFT", "IFFT": "FFT",
    "RFFT2D": "FFT", "FFT2D": "FFT", "Einsum": "Einsum (attention, EinsumDense)",
    "While": "while-loop bodies", "StatelessWhile": "while-loop bodies",
    "CudnnRNN": "cuDNN RNN", "CudnnRNNV3": "cuDNN RNN",
    "PartitionedCall": "nested function calls",
    "StatefulPartitionedCall": "nested function calls",
}
_RESULT_MARKER = "MMZOO_SERVING_COST "


def parameters(model):
    """Trainable and frozen parameters per tower, the fusion and the head, then the total.

    The rows of `MultimodalModel.parameter_counts` (what `model.summary()` prints
    below Keras' summary); any other Keras model gets the same rows per top-level
    layer with weights.

    Args:
        model: a `mmzoo.MultimodalModel` (or any built `keras.Model`).

    Returns:
        list of dicts `{"part": str, "trainable": int, "frozen": int}` (parameter
        counts, not bytes), the last one `part == "total"`; its two counts add up to
        `model.count_params()`. "frozen" counts non-trainable weights (a frozen
        pretrained backbone, BatchNorm's moving statistics).

    >>> import keras
    >>> inputs = keras.Input((3,))
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    >>> parameters(model)
    [{'part': 'dense', 'trainable': 8, 'frozen': 0}, {'part': 'total', 'trainable': 8, 'frozen': 0}]
    """
    from mmzoo.model import MultimodalModel

    if isinstance(model, MultimodalModel):
        return model.parameter_counts()
    # The counting lives in one place; it needs only `model.layers`.
    return MultimodalModel.parameter_counts(model)


def flops_per_example(model):
    """Floating-point operations of one forward pass at batch 1 (TF profiler count).

    The model is traced as `tf.function(lambda x: model(x, training=False))` with a
    `tf.TensorSpec` of batch 1 per input, and `tf.compat.v1.profiler.profile` with
    `ProfileOptionBuilder.float_operation()` sums the registered `flops` statistic
    of the graph's ops (source: TensorFlow profiler docs,
    https://www.tensorflow.org/api_docs/python/tf/compat/v1/profiler/profile).

    What counts (`FLOPS_COUNTED`): a multiply-add is 2 FLOPs (a Dense layer of `n`
    inputs and `m` units: `2*n*m` for the matmul plus `m` for its bias add);
    element-wise arithmetic, BiasAdd, pooling, Mean/Sum count 1 per output element,
    Softmax 5 per element; Relu, Sigmoid, Tanh and other ops without a registered
    count count 0. Keras recurrent layers (LSTM, GRU) are traced unrolled, so every
    time step is counted (their `unroll` is set back afterwards). Not counted: FFTs
    (the log-mel tower's spectrogram), `Einsum` (attention layers), the body of any
    remaining while loop: the count is then a lower bound (`cost` names them).
    Preprocessing (decoding, tokenization) is outside the Keras model and not counted.

    Args:
        model: a built functional `keras.Model` (e.g. a `mmzoo.MultimodalModel`).

    Returns:
        int FLOPs per example, or None when the profiler or the trace fails (a model
        without symbolic inputs, an op the profiler cannot shape).

    >>> import keras
    >>> inputs = keras.Input((10,))
    >>> model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    >>> flops_per_example(model)  # 2 * 10 * 4 (matmul) + 4 (bias)
    84
    """
    return _profile_flops(model)[0]


def serving_cost(export_dir, batch_sizes=BATCH_SIZES, repeats=REPEATS, warmup=WARMUP,
                 timeout=TIMEOUT):
    """Latency, throughput and peak memory of an exported SavedModel on raw inputs.

    A fresh Python process (`sys.executable`, this file alone: no Keras, no mmzoo)
    imports TensorFlow (and `tensorflow_text` when the model card requires it),
    loads `export_dir` with `tf.saved_model.load` and calls a serving signature on
    the export's raw parity examples (`parity_examples.npz`: image bytes, strings,
    waveforms), repeated row by row to each batch size: `serving_default` on the
    examples with every modality present, else `serving_masked` with their mask.
    Each call decodes, checks, preprocesses and runs the model; its outputs are
    fetched (`.numpy()`) inside the timing. Per batch size: `warmup` untimed calls,
    then `repeats` timed calls. The process' peak resident set size covers Python,
    TensorFlow, the loaded SavedModel and all calls (Linux: `VmHWM` of
    `/proc/self/status`, since `ru_maxrss` survives `execve` and would start at the
    calling process' size; elsewhere `resource.getrusage(RUSAGE_SELF).ru_maxrss`).
    TensorFlow keeps its default threading (all cores the process may use); a visible
    GPU is used.

    Args:
        export_dir: an export folder `saved_models/NAME/` (SavedModel and
            `parity_examples.npz`).
        batch_sizes: the batch sizes to time (examples per call).
        repeats: timed calls per batch size.
        warmup: untimed calls per batch size before (tracing, graph optimization).
        timeout: seconds the subprocess may take.

    Returns:
        On success: `{"export": str, "signature": str, "batches": {batch_size:
        {"p50_ms", "p95_ms", "mean_ms" (milliseconds per call), "examples_per_second"
        (batch size / median seconds per call), "calls", "output_rows"}},
        "peak_memory_mb": float (peak RSS, MB of 2**20 bytes),
        "rss_after_import_mb": float (after importing TensorFlow, before loading),
        "load_seconds": float, "device": str, "threads": str, "tensorflow": str,
        "measured": str}`. On failure: `{"export": str, "error": one line}` (no
        traceback): no SavedModel or parity examples, a failing call, the timeout.

    >>> serving_cost("saved_models/demo")["batches"][1]["p50_ms"]  # doctest: +SKIP
    4.5
    """
    folder = pathlib.Path(export_dir)
    missing = [name for name in ("saved_model.pb", PARITY_FILE) if not (folder / name).is_file()]
    if missing:
        return {"export": str(folder),
                "error": f"no {' or '.join(missing)} in {folder}: not an mmzoo export folder"}
    request = {"export_dir": str(folder), "batch_sizes": [int(b) for b in batch_sizes],
               "repeats": int(repeats), "warmup": int(warmup)}
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('_mmzoo_serving_cost', {__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "module._serving_worker(sys.argv[1])\n"
    )
    env = {**os.environ}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        done = subprocess.run([sys.executable, "-c", code, json.dumps(request)], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"export": str(folder), "error": f"serving measurement timed out after {timeout} s"}
    results = [line[len(_RESULT_MARKER):] for line in done.stdout.splitlines()
               if line.startswith(_RESULT_MARKER)]
    if done.returncode != 0 or not results:
        return {"export": str(folder),
                "error": _last_line(done.stderr)
                or f"serving process exited with status {done.returncode}"}
    result = json.loads(results[-1])
    result["batches"] = {int(size): values for size, values in result["batches"].items()}
    return result


def cost(model, export_dir=None, batch_sizes=BATCH_SIZES, repeats=REPEATS, warmup=WARMUP,
         timeout=TIMEOUT, flops=True):
    """The cost section: parameters, FLOPs per example, latency, throughput, peak memory.

    With `export_dir`, latency, throughput and memory are those of the exported
    SavedModel on raw inputs (`serving_cost`, in a separate process). Without it (a
    run folder that was not exported), the Keras model is timed in this process:
    `model.predict_on_batch` on preprocessed random tensors (token ids 0, masks of
    ones), `warmup` untimed then `repeats` timed calls per batch size; no peak memory
    then (this process holds more than the model).

    Args:
        model: the Keras model (for parameters and FLOPs, and the timing when there
            is no export).
        export_dir: the export folder, or None.
        batch_sizes: the smallest gives the latency, the largest the throughput.
        repeats: timed calls per batch size.
        warmup: untimed calls per batch size before.
        timeout: seconds the serving subprocess may take.
        flops: count FLOPs (a few seconds for a trimodal model); False: None.

    Returns:
        dict: `parameters` (rows of `parameters`), `flops_per_example` (int or None),
        `flops_note` (what was counted, what was not, or why there is no count),
        `latency_ms` `{"batch_size", "p50", "p95"}` (milliseconds per call),
        `throughput` `{"batch_size", "examples_per_second"}`, `peak_memory_mb` (MB of
        2**20 bytes, or None), `device`, `tensorflow`, `measured` (one sentence: what
        was timed, how, where), `batches` (every timed batch size: `p50_ms`,
        `p95_ms`, `mean_ms`, `examples_per_second`, `calls`, `output_rows`);
        `error` (one line) instead of `batches` when the timing failed, the timing
        figures None then.

    >>> import mmzoo
    >>> model = mmzoo.build_model(
    ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
    ...     num_outputs=2)
    >>> section = cost(model, batch_sizes=(1, 8), repeats=2, warmup=1, flops=False)
    >>> section["latency_ms"]["batch_size"], section["throughput"]["batch_size"]
    (1, 8)
    >>> section["batches"][8]["output_rows"], section["peak_memory_mb"]
    (8, None)
    """
    counted, note = _profile_flops(model) if flops else (None, "FLOPs not counted (flops=False)")
    if export_dir is not None:
        timing = serving_cost(export_dir, batch_sizes, repeats, warmup, timeout)
    else:
        timing = _keras_timing(model, batch_sizes, repeats, warmup)
    small, large = min(batch_sizes), max(batch_sizes)
    section = {
        "parameters": parameters(model),
        "flops_per_example": counted,
        "flops_note": note,
        "latency_ms": {"batch_size": small, "p50": None, "p95": None},
        "throughput": {"batch_size": large, "examples_per_second": None},
        "peak_memory_mb": timing.get("peak_memory_mb"),
        "device": timing.get("device"),
        "tensorflow": timing.get("tensorflow"),
        "measured": timing.get("measured"),
    }
    if "error" in timing:
        section["error"] = timing["error"]
        section["measured"] = f"timing failed for {timing.get('export', 'the Keras model')}"
        return section
    batches = timing["batches"]
    section["latency_ms"].update(p50=batches[small]["p50_ms"], p95=batches[small]["p95_ms"])
    section["throughput"]["examples_per_second"] = batches[large]["examples_per_second"]
    section["batches"] = batches
    return section


# --- FLOPs ----------------------------------------------------------------------------


def _profile_flops(model):
    """`(flops or None, note)`: the profiler count and what it leaves out (or why none)."""
    try:
        import tensorflow as tf

        inputs = getattr(model, "input", None)
        if inputs is None:
            raise ValueError("the model has no symbolic inputs (not a functional model)")
        specs = tf.nest.map_structure(
            lambda tensor: tf.TensorSpec((1, *tensor.shape[1:]), tensor.dtype), inputs)
        try:
            with _unrolled(model):
                graph = _trace(model, specs)
        except Exception:  # e.g. an RNN over an unknown number of steps: not unrolled
            graph = _trace(model, specs)
        options = (tf.compat.v1.profiler.ProfileOptionBuilder(
            tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
            .with_empty_output().build())
        with _silenced():
            profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
        found = {op.type for op in graph.get_operations()}
        for function_def in graph.as_graph_def().library.function:
            found |= {node.op for node in function_def.node_def}
        left_out = sorted({why for op_type, why in _UNCOUNTED_HEAVY.items() if op_type in found})
    except Exception as error:  # the profiler is TF1 machinery: any failure -> no count
        return None, f"no FLOP count: the TensorFlow profiler failed: {_one_line(error)}"
    note = FLOPS_COUNTED + "."
    if left_out:
        note += (" Present but not counted, so a lower bound: " + ", ".join(left_out) + ".")
    return int(profile.total_float_ops), note


def _trace(model, specs):
    import tensorflow as tf

    function = tf.function(lambda x: model(x, training=False), autograph=False)
    return function.get_concrete_function(specs).graph


@contextlib.contextmanager
def _unrolled(model):
    """Keras RNN layers (LSTM, GRU, ...) unrolled while tracing: every step in the graph.

    Each layer's `unroll` is set back afterwards.
    """
    import keras

    changed = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
               if isinstance(layer, keras.layers.RNN) and not layer.unroll]
    try:
        for layer in changed:
            layer.unroll = True
        yield
    finally:
        for layer in changed:
            layer.unroll = False


@contextlib.contextmanager
def _silenced():
    """stdout, stderr (file descriptors too) and TensorFlow's Python log muted."""
    import logging

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = []
    try:
        with open(os.devnull, "w") as null:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(null.fileno(), fd)
                except OSError:
                    pass
            with contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
                yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        logger.setLevel(level)


# --- timing ---------------------------------------------------------------------------


def _keras_timing(model, batch_sizes, repeats, warmup):
    """Times `model.predict_on_batch` in this process on preprocessed random tensors."""
    try:
        import tensorflow as tf

        rng = np.random.default_rng(0)
        batches = {}
        for size in batch_sizes:
            data = _random_inputs(model, size, rng)
            for _ in range(warmup):
                model.predict_on_batch(data)
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                outputs = model.predict_on_batch(data)
                seconds.append(time.perf_counter() - start)
            rows = len(outputs if not isinstance(outputs, dict) else next(iter(outputs.values())))
            batches[size] = _summary(seconds, size, rows)
        device = _device_name(tf)
        return {
            "batches": batches,
            "peak_memory_mb": None,
            "device": device,
            "tensorflow": tf.__version__,
            "measured": (
                "Keras model in this process (predict_on_batch on preprocessed random "
                f"tensors: no decoding or tokenization; no SavedModel exported), {device}, "
                f"{_threads()}, TensorFlow {tf.__version__}; per batch size {warmup} warm-up "
                f"then {repeats} timed calls; no peak memory (this process holds more "
                "than the model)"
            ),
        }
    except Exception as error:
        return {"error": f"timing the Keras model failed: {_one_line(error)}"}


def _random_inputs(model, batch_size, rng):
    """Preprocessed inputs: floats uniform in [0, 1), integers 0, masks all ones."""
    import tensorflow as tf

    def make(tensor):
        shape = (batch_size, *tensor.shape[1:])
        dtype = np.dtype(tf.as_dtype(tensor.dtype).as_numpy_dtype)
        if tensor.name == MODALITY_MASK:
            return np.ones(shape, dtype)
        if np.issubdtype(dtype, np.floating):
            return rng.uniform(0, 1, shape).astype(dtype)
        return np.zeros(shape, dtype)

    return tf.nest.map_structure(make, model.input)


def _summary(seconds, batch_size, rows):
    ms = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "examples_per_second": round(batch_size / float(np.median(seconds)), 1),
        "calls": int(ms.size),
        "output_rows": int(rows),
    }


def _serving_worker(request_json):
    """The subprocess of `serving_cost`: prints `_RESULT_MARKER` + a JSON result line."""
    request = json.loads(request_json)
    folder = pathlib.Path(request["export_dir"])
    import tensorflow as tf

    card = {}
    if (folder / CARD_FILE).is_file():
        card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    if "tensorflow_text" in (card.get("requires") or []):
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
    after_import = _rss_mb()
    start = time.perf_counter()
    loaded = tf.saved_model.load(str(folder))
    load_seconds = time.perf_counter() - start

    raw = _read_raw_examples(folder / PARITY_FILE)
    mask = raw.pop(MODALITY_MASK, None)
    rows = np.arange(len(next(iter(raw.values()))))
    name = SERVING_DEFAULT
    if mask is not None:
        complete = rows[np.all(mask > 0.5, axis=1)]
        if len(complete):
            rows = complete
        else:
            name = SERVING_MASKED
            raw[MODALITY_MASK] = mask
    signature = loaded.signatures[name]
    specs = signature.structured_input_signature[1]
    output_key = "values" if "values" in signature.structured_outputs else "probabilities"

    batches = {}
    for size in request["batch_sizes"]:
        take = rows[np.arange(size) % len(rows)]
        inputs = {key: (tf.constant([value[i] for i in take], tf.string)
                        if specs[key].dtype == tf.string
                        else tf.constant(value[take], specs[key].dtype))
                  for key, value in raw.items()}
        for _ in range(request["warmup"]):
            signature(**inputs)[output_key].numpy()
        seconds = []
        for _ in range(request["repeats"]):
            begin = time.perf_counter()
            outputs = signature(**inputs)[output_key].numpy()
            seconds.append(time.perf_counter() - begin)
        batches[str(size)] = _summary(seconds, size, outputs.shape[0])

    device = _device_name(tf)
    kinds = {spec.get("name"): spec.get("kind") for spec in card.get("inputs") or []}
    described = {"image": "encoded image bytes", "text": "strings", "audio": "waveforms"}
    kinds = ", ".join(
        f"{key}: {described.get(kinds.get(key)) or specs[key].dtype.name}" for key in raw)
    result = {
        "export": str(folder),
        "signature": name,
        "batches": batches,
        "peak_memory_mb": _rss_mb(),
        "rss_after_import_mb": after_import,
        "load_seconds": round(load_seconds, 2),
        "device": device,
        "threads": _threads(),
        "tensorflow": tf.__version__,
        "measured": (
            f"SavedModel at {folder} loaded with tf.saved_model.load in a fresh process, "
            f"serving signature {name!r} on raw inputs ({kinds}; decoding, checks, "
            f"preprocessing and model in each call) from {PARITY_FILE}, {device}, "
            f"{_threads()}, TensorFlow {tf.__version__}; per batch size "
            f"{request['warmup']} warm-up then {request['repeats']} timed calls, outputs "
            "fetched; throughput = batch size / median call time; peak memory = peak RSS "
            "of the serving process (Python, TensorFlow, the SavedModel, the calls)"
        ),
    }
    sys.stdout.write(_RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


def _read_raw_examples(path):
    """The raw inputs of a `parity_examples.npz` (`mmzoo.export.parity.save_examples`).

    Strings (stored base64 under `raw.<name>.b64`) come back as lists of bytes.
    """
    import base64

    raw = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            if not key.startswith("raw."):
                continue
            name = key[len("raw."):]
            if name.endswith(".b64"):
                raw[name[:-len(".b64")]] = [base64.b64decode(item) for item in data[key]]
            else:
                raw[name] = data[key]
    return raw


def _rss_mb():
    """Peak resident set size of this process so far, in MB (2**20 bytes).

    Linux: `VmHWM` of `/proc/self/status`, the high-water mark of this address space.
    `ru_maxrss` is not used there: Linux carries it across `execve`, so a process
    started by a large parent (pytest, a notebook: `subprocess` forks them) would
    report at least the parent's size. Elsewhere `resource.getrusage(RUSAGE_SELF)
    .ru_maxrss` (KiB on Linux, bytes on macOS).
    """
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) * 1024 / 2**20, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bytes_ = peak if sys.platform == "darwin" else peak * 1024
    return round(bytes_ / 2**20, 1)


def _device_name(tf):
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU {details.get('device_name', gpus[0].name)}"
    name = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {name}"


def _threads():
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return f"TensorFlow default threads, {cores} CPU cores available"


def _last_line(text):
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _one_line(error):
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:300]
