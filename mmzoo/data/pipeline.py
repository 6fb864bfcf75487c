"""The shared tail of every mmzoo input pipeline: shard, cache, shuffle, map, batch.

Every source (numpy arrays, a manifest, TFDS) turns into a dataset of unbatched
`(features, label)` pairs; `finish_pipeline` then applies the same steps in the same
order, so all sources behave alike:

1. `shard` for multi-worker input (each worker reads a distinct part);
2. `shuffle` with a seed: the same seed gives the same batches, and each epoch gets a
   different, still deterministic, order. Without a cache the light rows (file paths,
   texts) are shuffled before `decode`, so the buffer never holds decoded examples;
3. `decode`, the deterministic loading (files to tensors), in parallel with AUTOTUNE;
   with `cache` it runs once, before the cache and the shuffle;
4. the training-only map (random crops, augmentation), in parallel with AUTOTUNE;
5. `batch` (`drop_remainder=True` gives static batch shapes, as TPUs need) and
   `prefetch`.

>>> import numpy as np, tensorflow as tf
>>> from mmzoo.data.pipeline import finish_pipeline
>>> examples = tf.data.Dataset.from_tensor_slices(({"x": np.arange(10.0)}, np.arange(10)))
>>> batches = finish_pipeline(examples, batch_size=4, shuffle=False)
>>> [int(y.shape[0]) for _, y in batches]
[4, 4, 2]
"""

import tensorflow as tf

from mmzoo.checks import check_positive_int

AUTOTUNE = tf.data.AUTOTUNE


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
):
    """Shards, caches, shuffles, maps, batches and prefetches `(features, label)` pairs.

    Args:
        examples: unbatched dataset of `(features_dict, label)` pairs.
        batch_size: examples per batch.
        shuffle: shuffle each epoch (seeded; a different order every epoch).
        seed: shuffle and augmentation seed.
        shuffle_buffer: buffer size; the whole dataset when None and its size is known.
        drop_remainder: drop the last partial batch (static shapes for TPU).
        cache: `True` to cache in memory, a path to cache on disk, `False` for none.
        num_shards, shard_index: this worker's part of the input.
        train_map: optional `fn(features, label, seed) -> (features, label)` run after
            shuffling, for random crops and augmentation; `seed` is a `(2,)` int64
            tensor distinct for each example of each epoch.
        decode: optional `fn(features, label) -> (features, label)` turning the rows
            of `examples` into model tensors (reading and decoding files).
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("num_shards", num_shards)
    if not 0 <= shard_index < num_shards:
        raise ValueError(
            f"`shard_index` must be in [0, num_shards={num_shards}). "
            f"Received: shard_index={shard_index!r}"
        )
    if num_shards > 1:
        examples = examples.shard(num_shards, shard_index)
    if cache:
        examples = _decoded(examples, decode)
        examples = examples.cache() if cache is True else examples.cache(str(cache))
    if shuffle:
        if shuffle_buffer is None:
            size = int(examples.cardinality())
            shuffle_buffer = size if size > 0 else 10_000
        examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if not cache:
        examples = _decoded(examples, decode)
    if train_map is not None:
        # One seed per example and epoch: a seeded random stream zipped alongside.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        examples = tf.data.Dataset.zip(examples, seeds).map(
            lambda example, example_seed: train_map(*example, example_seed),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    return prefetched(examples.batch(batch_size, drop_remainder=drop_remainder))


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
