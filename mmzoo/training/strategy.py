"""Distribution strategy and speed settings picked for the hardware at hand.

`select_strategy("auto")` looks for a TPU (cluster resolver) first, then a multi-worker
cluster (`TF_CONFIG`), then several GPUs (`MirroredStrategy`), else TensorFlow's default
strategy. `resolve_speed` turns the `speed` section of a config into concrete
settings: mixed precision, XLA and `steps_per_execution`, where `"auto"` is what is
fast and safe on the detected hardware:

| hardware | mixed precision | XLA (`jit_compile`) | steps_per_execution |
|---|---|---|---|
| TPU | `mixed_bfloat16` | always (TPUs compile) | 32 |
| GPU, compute capability >= 7.0 | `mixed_float16` | Keras' `"auto"` (on where every layer allows it) | 8 |
| older GPU | `float32` | Keras' `"auto"` | 8 |
| CPU | `float32` | off | 1 |

On CPU, measured on 2 cores (`benchmarks/train_throughput.py`), XLA and larger
`steps_per_execution` change the embedded preset's training speed by no more than the
measurement noise, so the safe settings are kept.

>>> from mmzoo.training.strategy import select_strategy, resolve_speed
>>> strategy, kind = select_strategy("default")
>>> kind, strategy.num_replicas_in_sync
('default', 1)
>>> speed = resolve_speed({"mixed_precision": "auto", "jit_compile": "auto",
...                        "steps_per_execution": "auto"}, kind)
>>> speed["mixed_precision"], speed["jit_compile"], speed["steps_per_execution"]
('float32', False, 1)
"""

import glob
import json
import os

import tensorflow as tf

from mmzoo.checks import check_positive_int

#: The strategies `select_strategy` (and the config's `distribution.strategy`) take.
STRATEGY_KINDS = ("auto", "default", "mirrored", "multi_worker", "tpu")

#: The `speed.mixed_precision` settings `resolve_speed` takes: "auto" or a Keras
#: dtype policy name.
MIXED_PRECISION_POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def configure_cpu_devices(count):
    """Splits the first CPU into `count` logical devices (before TensorFlow starts).

    Lets `MirroredStrategy` run over several CPU "devices", e.g. to test distributed
    training on a laptop. Must run before any TensorFlow op; afterwards it raises a
    `RuntimeError` unless the same split is already in place.

    Args:
        count: the number of logical CPU devices, a positive int.

    Raises:
        ValueError: `count` is not a positive int.
        RuntimeError: TensorFlow is already initialised with another split.

    >>> have = len(tf.config.list_logical_devices("CPU"))  # initialises TensorFlow
    >>> configure_cpu_devices(have)  # the split in place: nothing to do
    >>> configure_cpu_devices(have + 1)
    Traceback (most recent call last):
    ...
    RuntimeError: Cannot split the CPU into ... logical devices: TensorFlow is already ...
    """
    count = check_positive_int("cpu_devices", count)
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have == count:
            return
        raise RuntimeError(
            f"Cannot split the CPU into {count} logical devices: TensorFlow is already "
            f"initialised with {have}. Set distribution.cpu_devices in a fresh process "
            f"(e.g. the `mmzoo train` command). Received: cpu_devices={count}"
        ) from None


def cluster_spec():
    """The parsed `TF_CONFIG` environment variable, or None.

    Returns:
        The decoded dict (`cluster`, `task`), or None when `TF_CONFIG` is unset or empty.

    Raises:
        ValueError: `TF_CONFIG` is not valid JSON.

    >>> from unittest import mock
    >>> config = '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    >>> with mock.patch.dict(os.environ, {"TF_CONFIG": config}):
    ...     cluster_spec()["task"]
    {'type': 'worker', 'index': 1}
    >>> with mock.patch.dict(os.environ, {"TF_CONFIG": ""}):
    ...     cluster_spec() is None
    True
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}). Received: TF_CONFIG={raw!r}")
    return config


def _cluster_size(config):
    if not config:
        return 0
    cluster = config.get("cluster", {})
    return sum(len(cluster.get(job, [])) for job in ("chief", "worker"))


def _tpu_hint(tpu):
    return bool(
        tpu
        or os.environ.get("TPU_NAME")
        or os.environ.get("COLAB_TPU_ADDR")
        or glob.glob("/dev/accel*")
        or glob.glob("/dev/vfio/[0-9]*")
    )


def _tpu_strategy(tpu):
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _mirrored():
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy()
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=cpus)


def select_strategy(name="auto", tpu=None):
    """Returns `(strategy, kind)` for `name`; see the module docstring for `"auto"`.

    Args:
        name: `"auto"`, `"default"`, `"mirrored"` (all GPUs, else all logical CPUs),
            `"multi_worker"` (`MultiWorkerMirroredStrategy`, cluster from `TF_CONFIG`)
            or `"tpu"`.
        tpu: TPU name or address for `TPUClusterResolver` (default: from the
            environment).

    `kind` is the strategy actually chosen (never `"auto"`).

    Returns:
        `(strategy, kind)`: a `tf.distribute.Strategy` and its kind.

    Raises:
        ValueError: `name` is not one of `STRATEGY_KINDS`.
        tf.errors.OpError, ValueError, RuntimeError: `"tpu"` was asked for and no TPU
            could be initialised (with `"auto"`, the next option is tried instead).

    >>> strategy, kind = select_strategy("default")
    >>> kind, strategy.num_replicas_in_sync
    ('default', 1)
    >>> select_strategy("gpus")
    Traceback (most recent call last):
    ...
    ValueError: Unknown strategy; valid strategies: auto, default, ... Received: strategy='gpus'
    """
    if name not in STRATEGY_KINDS:
        raise ValueError(
            f"Unknown strategy; valid strategies: {', '.join(STRATEGY_KINDS)}. "
            f"Received: strategy={name!r}"
        )
    if name == "tpu":
        return _tpu_strategy(tpu), "tpu"
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy(), "multi_worker"
    if name == "mirrored":
        return _mirrored(), "mirrored"
    if name == "default":
        return tf.distribute.get_strategy(), "default"
    # auto
    if _tpu_hint(tpu):
        try:
            return _tpu_strategy(tpu), "tpu"
        except (ValueError, RuntimeError, tf.errors.OpError) as error:
            print(f"mmzoo: no usable TPU ({type(error).__name__}: {error}); looking further.")
    if _cluster_size(cluster_spec()) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy(), "multi_worker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy(), "mirrored"
    return tf.distribute.get_strategy(), "default"


def worker_info(strategy, kind):
    """`(task_index, num_workers, is_chief)` of this process in its cluster.

    Args:
        strategy: the strategy from `select_strategy`.
        kind: its kind; anything but `"multi_worker"` is a single worker.

    Returns:
        `(task_index, num_workers, is_chief)`: int, int, bool. With a chief in the
        cluster, the chief is task 0 and worker `i` is task `i + 1`.

    >>> worker_info(tf.distribute.get_strategy(), "default")
    (0, 1, True)
    """
    if kind != "multi_worker":
        return 0, 1, True
    resolver = strategy.cluster_resolver
    spec = resolver.cluster_spec().as_dict()
    num_workers = sum(len(spec.get(job, [])) for job in ("chief", "worker"))
    task_type, task_id = resolver.task_type, resolver.task_id
    is_chief = task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in spec
    )
    index = task_id + (1 if "chief" in spec and task_type == "worker" else 0)
    return int(index), int(num_workers), bool(is_chief)


def hardware(kind):
    """`"tpu"`, `"gpu"` or `"cpu"`: what the model trains on.

    Args:
        kind: the strategy kind from `select_strategy`.

    Returns:
        str: `"tpu"` for a TPU strategy, else `"gpu"` if TensorFlow sees a GPU,
        else `"cpu"`.

    >>> hardware("tpu"), hardware("default") in ("gpu", "cpu")
    ('tpu', True)
    """
    if kind == "tpu":
        return "tpu"
    if tf.config.list_physical_devices("GPU"):
        return "gpu"
    return "cpu"


def _gpu_supports_float16():
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return False
    for gpu in gpus:
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if not capability or tuple(capability) < (7, 0):
            return False
    return True


def resolve_speed(speed, kind):
    """Concrete speed settings for `speed` (the config section) on this hardware.

    Args:
        speed: dict with `mixed_precision` (`"auto"` or a policy of
            `MIXED_PRECISION_POLICIES`), `jit_compile` (`"auto"` or bool) and
            `steps_per_execution` (`"auto"` or a positive int).
        kind: the strategy kind from `select_strategy`.

    Returns:
        dict with `mixed_precision` (a Keras dtype policy name), `jit_compile`
        (`True`, `False` or `"auto"`, passed to `compile`), `steps_per_execution`
        (int), `hardware` and `reasons` (why each `"auto"` became what it is).

    Raises:
        KeyError: `speed` lacks one of the three settings.

    >>> speed = resolve_speed({"mixed_precision": "float32", "jit_compile": False,
    ...                        "steps_per_execution": 4}, "tpu")
    >>> speed["steps_per_execution"], speed["hardware"], speed["reasons"]
    (4, 'tpu', {})
    >>> resolve_speed({"mixed_precision": "auto", "jit_compile": "auto",
    ...                "steps_per_execution": "auto"}, "tpu")["mixed_precision"]
    'mixed_bfloat16'
    """
    device = hardware(kind)
    reasons = {}
    policy = speed["mixed_precision"]
    if policy == "auto":
        if device == "tpu":
            policy, why = "mixed_bfloat16", "TPU"
        elif device == "gpu" and _gpu_supports_float16():
            policy, why = "mixed_float16", "GPU with compute capability >= 7.0"
        else:
            policy, why = "float32", device.upper()
        reasons["mixed_precision"] = f"auto: {why}"
    jit = speed["jit_compile"]
    if jit == "auto":
        if device == "cpu":
            jit = False
            reasons["jit_compile"] = "auto: CPU, where XLA measured slower"
        else:
            reasons["jit_compile"] = f"auto: Keras decides on {device.upper()}"
    steps = speed["steps_per_execution"]
    if steps == "auto":
        steps = {"tpu": 32, "gpu": 8, "cpu": 1}[device]
        reasons["steps_per_execution"] = f"auto: {device.upper()}"
    return {
        "mixed_precision": policy,
        "jit_compile": jit,
        "steps_per_execution": int(steps),
        "hardware": device,
        "reasons": reasons,
    }
