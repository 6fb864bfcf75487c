"""The one tail of every mmzoo input pipeline: shard, cache, shuffle, map, batch.

Every source (numpy arrays, a manifest, TFDS, the datasets of `mmzoo train`) turns
into a dataset of unbatched `(features, label)` pairs; `finish_pipeline` then applies
the same steps in the same order, so all sources behave alike:

1. `shard` for multi-worker input (each worker reads a distinct part);
2. `cache` (optional), after `decode`;
3. `shuffle` by the **one seeding rule**: epoch `e` reads the examples in the order
   of `shuffle(seed=epoch_seed(seed, e))`. The same seed gives the same batches,
   each epoch its own order, and a run resumed at epoch `e` (`BackupAndRestore`
   restarts an interrupted epoch from its first batch) sees exactly the batches an
   uninterrupted run sees. Without a cache the light rows (file paths, texts) are
   shuffled before `decode`, so the buffer never holds decoded examples;
4. `decode`, the deterministic loading (files to tensors), in parallel;
5. the training-only map (random crops, augmentation), seeded per example by
   `(epoch_seed(seed, e), index in the epoch)`: also resume-exact;
6. `batch` (`drop_remainder=True` gives static batch shapes, as TPUs need), the
   batch-level `preprocess` (the model's `mmzoo.Preprocessor`), and `prefetch`.

Epochs are read one of two ways. By default each pass over the dataset (each
`model.fit` epoch) is the next epoch, from `initial_epoch`. With `epochs=N` the
dataset holds the epochs `initial_epoch .. N-1` back to back, each `steps_per_epoch`
batches long, for `model.fit(..., steps_per_epoch=...)` (which then keeps one
iterator), as `mmzoo train` does.

>>> import numpy as np, tensorflow as tf
>>> from mmzoo.data.pipeline import finish_pipeline
>>> examples = tf.data.Dataset.from_tensor_slices(({"x": np.arange(10.0)}, np.arange(10)))
>>> batches = finish_pipeline(examples, batch_size=4, shuffle=False)
>>> [int(y.shape[0]) for _, y in batches]
[4, 4, 2]
>>> run = finish_pipeline(examples, batch_size=5, seed=1, epochs=3, initial_epoch=1)
>>> resumed = finish_pipeline(examples, batch_size=5, seed=1, epochs=3, initial_epoch=2)
>>> [y.numpy().tolist() for _, y in run][2:] == [y.numpy().tolist() for _, y in resumed]
True
"""

import tensorflow as tf

from mmzoo.checks import check_positive_int

AUTOTUNE = tf.data.AUTOTUNE
_EPOCH_PRIME = 1_000_003
DEFAULT_SHUFFLE_BUFFER = 10_000


def epoch_seed(seed, epoch):
    """The shuffle seed of `epoch` under `seed` (ints or int64 tensors).

    >>> epoch_seed(3, 2)
    3000011
    """
    return seed * _EPOCH_PRIME + epoch


def finish_pipeline(
    examples,
    batch_size=32,
    shuffle=True,
    seed=0,
    shuffle_buffer=None,
    drop_remainder=False,
    cache=False,
    num_shards=1,
    shard_index=0,
    train_map=None,
    decode=None,
    preprocess=None,
    initial_epoch=0,
    epochs=None,
    steps_per_epoch=None,
):
    """Shards, caches, shuffles, maps, batches and prefetches `(features, label)` pairs.

    Args:
        examples: unbatched dataset of `(features_dict, label)` pairs.
        batch_size: examples per batch.
        shuffle: shuffle each epoch (the seeding rule of the module docstring).
        seed: shuffle and augmentation seed (an int).
        shuffle_buffer: buffer size; the whole dataset when None and its size is
            known (else 10,000).
        drop_remainder: drop the last partial batch (static shapes for TPU).
        cache: `True` to cache in memory, a path to cache on disk, `False` for none.
        num_shards, shard_index: this worker's part of the input.
        train_map: optional `fn(features, label, seed) -> (features, label)` run after
            shuffling, for random crops and augmentation; `seed` is a `(2,)` int64
            tensor distinct for each example of each epoch.
        decode: optional `fn(features, label) -> (features, label)` turning the rows
            of `examples` into model tensors (reading and decoding files).
        preprocess: optional `fn(features) -> features` on batches, e.g. the model's
            `mmzoo.Preprocessor` (tokenizes raw strings).
        initial_epoch: the first epoch read (a resumed run's epoch).
        epochs: None: each pass over the dataset is the next epoch; an int: the
            dataset holds epochs `initial_epoch .. epochs - 1` back to back.
        steps_per_epoch: batches per epoch (default: every batch of the data).

    Returns:
        A prefetched `tf.data.Dataset` of `(features, label)` batches.

    Raises:
        ValueError: a bad batch size, shard or epoch argument.
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("num_shards", num_shards)
    if not 0 <= shard_index < num_shards:
        raise ValueError(
            f"`shard_index` must be in [0, num_shards={num_shards}). "
            f"Received: shard_index={shard_index!r}"
        )
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, int) or initial_epoch < 0:
        raise ValueError(
            f"`initial_epoch` must be an int >= 0. Received: initial_epoch={initial_epoch!r}"
        )
    if num_shards > 1:
        examples = examples.shard(num_shards, shard_index)
    if cache:
        examples = _decoded(examples, decode)
        examples = examples.cache() if cache is True else examples.cache(str(cache))
    size = int(examples.cardinality())
    if shuffle_buffer is None:
        shuffle_buffer = min(size, DEFAULT_SHUFFLE_BUFFER) if size > 0 else DEFAULT_SHUFFLE_BUFFER

    def one_epoch(epoch):
        ordered = examples
        if shuffle:
            ordered = _shuffled(ordered, shuffle_buffer, epoch_seed(seed, epoch))
        if not cache:
            ordered = _decoded(ordered, decode)
        if train_map is not None:
            ordered = ordered.enumerate().map(
                lambda index, example: train_map(
                    *example, tf.stack([epoch_seed(tf.constant(seed, tf.int64), epoch), index])
                ),
                num_parallel_calls=AUTOTUNE,
                deterministic=True,
            )
        batches = ordered.batch(batch_size, drop_remainder=drop_remainder)
        return batches if steps_per_epoch is None else batches.take(steps_per_epoch)

    if epochs is not None:
        dataset = tf.data.Dataset.range(initial_epoch, max(initial_epoch, epochs)).flat_map(
            one_epoch)
    elif shuffle or train_map is not None:
        # Each pass is the next epoch: a counter, advanced when a pass begins.
        with tf.init_scope():
            counter = tf.Variable(initial_epoch - 1, dtype=tf.int64, trainable=False)
        dataset = tf.data.Dataset.range(1).map(lambda _: counter.assign_add(1)).flat_map(
            one_epoch)
        batches = _batches_per_epoch(size, batch_size, drop_remainder, steps_per_epoch)
        if batches is not None:
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    else:
        dataset = one_epoch(tf.constant(initial_epoch, tf.int64))
    if preprocess is not None:
        dataset = dataset.map(lambda features, label: (preprocess(features), label),
                              num_parallel_calls=AUTOTUNE, deterministic=True)
    return prefetched(dataset)


def _shuffled(dataset, buffer, seed):
    """`dataset.shuffle` with an int64 tensor seed that alone decides the order.

    Called while tracing the per-epoch function. TensorFlow pairs an op seed with
    the graph's global seed, and with a global seed of 0 and a tensor op seed it
    fails on a Python comparison of a symbolic tensor; without a graph seed the op
    seed decides alone, so the order does not depend on `tf.random.set_seed` either.
    """
    graph = tf.compat.v1.get_default_graph()
    saved, graph.seed = graph.seed, None
    try:
        return dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=False)
    finally:
        graph.seed = saved


def _batches_per_epoch(size, batch_size, drop_remainder, steps_per_epoch):
    """Batches in one epoch when the size is known (so `model.fit` knows it too)."""
    if size < 0:
        return None
    batches = size // batch_size if drop_remainder else -(-size // batch_size)
    return batches if steps_per_epoch is None else min(batches, steps_per_epoch)


def prefetched(dataset):
    """`dataset` prefetched, with tf.data's autotuning model turned off.

    With autotuning on, `model.fit` waits when it ends for the autotuning thread's next
    wake-up, and that thread's period doubles from 10 ms: measured with TF 2.21 and
    Keras 3.15, a fit of 12.4 s returned after 20.5 s and a 4.5 s epoch took 5.1 s.
    Without it, `AUTOTUNE` maps still run in parallel and the pipelines here were as
    fast or faster (`benchmarks/pipeline_overhead.py`, `train_throughput.py`).

    >>> import tensorflow as tf
    >>> prefetched(tf.data.Dataset.range(3)).options().autotune.enabled
    False
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(AUTOTUNE).with_options(options)


def _decoded(examples, decode):
    if decode is None:
        return examples
    return examples.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
