"""Training and evaluation input pipelines: dataset examples -> `(features, label)` batches.

A named dataset yields unbatched dicts (`image`, `text` as raw strings, `audio`,
`label`). Here they become batches for a model:

- the model's `mmzoo.Preprocessor` is mapped over the batches: text is tokenized by
  its `TextTokenizer`s, adapted on the **train split only** (lookups stay out of the
  model, which keeps XLA available);
- keys the model does not take are dropped;
- shuffling, sharding and batching are `mmzoo.data.pipeline.finish_pipeline`'s, the
  one pipeline of every source, with its one seeding rule: epoch `e` is the train
  split shuffled with `epoch_seed(seed, e)`, so a run resumed at epoch `e` after a
  crash sees exactly the batches an uninterrupted run sees. The training dataset
  holds the epochs `initial_epoch .. epochs - 1` back to back, fed with an explicit
  `steps_per_epoch` (Keras keeps one iterator across epochs then);
- every epoch has `steps_per_epoch` full batches (`drop_remainder`, static shapes);
- with a distribution strategy, each worker reads its own shard
  (`distribute_datasets_from_function`) in batches of the per-replica size, and the
  global batch is the per-replica batch times the replicas.

>>> from mmzoo.preprocessing.preprocessor import Preprocessor
>>> from mmzoo.training.inputs import load_splits, train_dataset
>>> splits = load_splits("embedded", {"num_train": 64, "num_validation": 8,
...                                   "num_test": 8})
>>> preprocessor = Preprocessor.from_specs(
...     {"image": {"input_shape": (32, 32, 3)}, "text": {"input_shape": (8,)},
...      "audio": {"input_shape": (8000,)}})
>>> preprocessor.adapt(splits["train"])
>>> ds, steps = train_dataset(splits["train"], preprocessor, batch_size=16, seed=0,
...                           epochs=2)
>>> steps, [tuple(x["text"].shape) for x, _ in ds.take(1)]
(4, [(16, 8)])
"""

import tensorflow as tf

from mmzoo.checks import check_positive_int
from mmzoo.data.pipeline import DEFAULT_SHUFFLE_BUFFER, finish_pipeline

AUTOTUNE = tf.data.AUTOTUNE


def load_splits(name, options=None, data_dir=None, seed=0, splits=("train", "validation", "test"),
                limits=None):
    """The unbatched example datasets of `splits`, as a dict keyed by split.

    `limits` maps a split to a number of examples: only the first ones are used.
    """
    from mmzoo import datasets

    loaded = {}
    for split in splits:
        dataset = datasets.load(name, split=split, data_dir=data_dir, seed=seed, **(options or {}))
        if (limits or {}).get(split):
            dataset = dataset.take(limits[split])
        loaded[split] = dataset
    return loaded


def count_examples(examples):
    """The number of examples of a finite dataset (counted once if unknown)."""
    size = int(examples.cardinality())
    if size == tf.data.INFINITE_CARDINALITY:
        raise ValueError("The training split is infinite; mmzoo needs a finite split.")
    if size < 0:
        size = int(examples.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))
    return size


def to_pairs(examples, input_names, label_key="label"):
    """Unbatched `(features, label)` pairs holding only the model's inputs."""
    spec = examples.element_spec
    missing = [name for name in (*input_names, label_key) if name not in spec]
    if missing:
        raise ValueError(
            f"The dataset has no feature(s) {missing}; it has {sorted(spec)}. "
            f"Received: model inputs {list(input_names)}"
        )
    names = list(input_names)
    return examples.map(
        lambda example: ({name: example[name] for name in names}, example[label_key]),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )


def _preprocess(preprocessor):
    """The batch map of the pipelines: None when nothing needs preprocessing (the
    datasets' images and waveforms are model tensors already; text is not)."""
    return preprocessor if preprocessor.tokenizers else None


def train_dataset(
    examples,
    preprocessor,
    batch_size,
    seed,
    epochs,
    initial_epoch=0,
    shuffle_buffer=None,
    num_shards=1,
    shard_index=0,
    steps_per_epoch=None,
    batches_per_step=1,
    class_weight=None,
):
    """The training pipeline: epoch-seeded shuffles, full batches, tokenized text.

    Args:
        examples: unbatched example dicts of the train split.
        preprocessor: the model's adapted `mmzoo.Preprocessor` (its input names are
            the features kept).
        batch_size: examples per batch produced (per replica under a strategy).
        seed: training seed; epoch `e` is shuffled with `epoch_seed(seed, e)`.
        epochs: the last epoch (exclusive), as in `model.fit`.
        initial_epoch: the first epoch produced (a resumed run's epoch).
        shuffle_buffer: shuffle buffer; default the whole split up to 10,000.
        num_shards, shard_index: this input pipeline's shard.
        steps_per_epoch: batches per epoch of this pipeline; default every full batch.
        batches_per_step: batches one training step takes from this pipeline (the
            replicas it feeds); `steps_per_epoch` counts steps.
        class_weight: optional weight per class (see `class_weights`): batches then
            carry a third element, each example's weight (a multiclass or binary
            label picks it).

    Returns:
        `(dataset, steps_per_epoch)`.
    """
    check_positive_int("batch_size", batch_size)
    pairs = to_pairs(examples, preprocessor.input_names)
    if num_shards > 1:
        pairs = pairs.shard(num_shards, shard_index)
    pairs = pairs.cache()
    size = count_examples(pairs)
    if steps_per_epoch is None:
        steps_per_epoch = size // (batch_size * batches_per_step)
    _check_steps(steps_per_epoch, f"{size} examples in this shard",
                 f"{batch_size * batches_per_step}", batch_size)
    dataset = finish_pipeline(
        pairs, batch_size, shuffle=True, seed=seed,
        shuffle_buffer=shuffle_buffer or min(size, DEFAULT_SHUFFLE_BUFFER),
        drop_remainder=True, preprocess=_preprocess(preprocessor),
        initial_epoch=initial_epoch, epochs=epochs,
        steps_per_epoch=steps_per_epoch * batches_per_step,
    )
    if class_weight is not None:
        weights = tf.constant(class_weight, tf.float32)
        dataset = dataset.map(
            lambda x, y: (x, y, tf.gather(weights, tf.reshape(tf.cast(y, tf.int32), [-1]))),
            num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset, steps_per_epoch


def label_counts(examples, num_classes):
    """How many examples of each class `examples` holds (multiclass or binary labels).

    Args:
        examples: unbatched example dicts with an int class `"label"`, or a binary
            label `(1,)` of 0.0 / 1.0.
        num_classes: the number of classes (2 for binary).

    Returns:
        An int64 numpy array of length `num_classes`.
    """
    labels = examples.map(lambda example: tf.reshape(tf.cast(example["label"], tf.int64), [-1]))
    counts = labels.unbatch().reduce(
        tf.zeros([num_classes], tf.int64),
        lambda total, label: total + tf.one_hot(label, num_classes, dtype=tf.int64))
    return counts.numpy()


def class_weights(setting, class_names, counts=None):
    """The weight of each class for `setting`.

    Args:
        setting: `"balanced"`, or a dict from class name (or index) to weight; the
            classes it leaves out weigh 1.
        class_names: the classes in index order.
        counts: examples per class in the train split (for `"balanced"`).

    Returns:
        A float32 numpy array, one weight per class. `"balanced"` gives
        `n / (classes x n_class)`, scikit-learn's `compute_class_weight("balanced")`;
        a class absent from the train split weighs 1.

    >>> [round(float(w), 3) for w in class_weights("balanced", ["a", "b"], counts=[20, 1])]
    [0.525, 10.5]
    >>> class_weights({"b": 5}, ["a", "b"]).tolist()
    [1.0, 5.0]
    """
    import numpy as np

    weights = np.ones(len(class_names), np.float32)
    if setting == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        counts = np.asarray(counts)
        present = np.flatnonzero(counts > 0)
        labels = np.repeat(present, counts[present])
        weights[present] = compute_class_weight("balanced", classes=present, y=labels)
        return weights
    index = {str(name): i for i, name in enumerate(class_names)}
    for name, weight in setting.items():
        weights[index[str(name)] if str(name) in index else int(name)] = weight
    return weights


def _check_steps(steps, split, global_batch, batch_size):
    if steps < 1:
        raise ValueError(
            f"The train split ({split}) is smaller than one global batch ({global_batch}): "
            f"lower training.batch_size. Received: training.batch_size={batch_size}"
        )


def eval_dataset(examples, preprocessor, batch_size, modality_mask=None):
    """The evaluation pipeline: in order, batched, preprocessed, cached.

    Args:
        examples: unbatched example dicts.
        preprocessor: the model's adapted `mmzoo.Preprocessor`.
        batch_size: examples per batch.
        modality_mask: optional list of 0/1 per modality, added as the
            `modality_mask` input of every example (e.g. `[1, 0, 0]`: image only).
    """
    dataset = finish_pipeline(to_pairs(examples, preprocessor.input_names), batch_size,
                              shuffle=False, cache=True, preprocess=_preprocess(preprocessor))
    if modality_mask is not None:
        dataset = dataset.map(lambda x, y: (with_mask(x, modality_mask), y))
    options = tf.data.Options()
    # Every worker evaluates the whole split; the metrics' mean is unchanged.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


def calibration_dataset(examples, preprocessor, batch_size, seed, count):
    """`count` train examples in batches, the same ones in every run with `seed`.

    What `mmzoo.batch_norm.BatchNormCalibration` recomputes the BatchNorm statistics
    on: a seeded sample (not the split's first rows, which may be sorted by class),
    identical in a resumed run, so resuming stays exact.
    """
    buffer = min(count_examples(examples), 8 * count, DEFAULT_SHUFFLE_BUFFER)
    sample = examples.shuffle(buffer, seed=seed, reshuffle_each_iteration=False).take(count)
    return eval_dataset(sample, preprocessor, batch_size)


def with_mask(features, modality_mask):
    """`features` plus a `modality_mask` input repeating `modality_mask` per example."""
    first = next(iter(features.values()))
    batch = tf.shape(first)[0]
    mask = tf.constant([modality_mask], tf.float32)
    return {**features, "modality_mask": tf.tile(mask, [batch, 1])}


def distributed_train_dataset(strategy, examples, preprocessor, batch_size, seed, epochs,
                              initial_epoch=0, shuffle_buffer=None, num_workers=1,
                              class_weight=None):
    """The training pipeline under `strategy`: one shard per worker, per-replica batches.

    `batch_size` is the per-replica batch; the global batch is `batch_size *
    strategy.num_replicas_in_sync`. Each worker's pipeline feeds its local replicas,
    and every worker runs the same number of steps per epoch (set by the smallest
    shard). `num_workers` is the number of worker processes (one input pipeline each).
    Returns `(distributed_dataset, steps_per_epoch)`.
    """
    replicas = strategy.num_replicas_in_sync
    pipelines = max(1, int(num_workers))
    size = count_examples(examples)
    smallest_shard = size // pipelines
    local_replicas = max(1, replicas // pipelines)
    steps = smallest_shard // (batch_size * local_replicas)
    _check_steps(steps, f"{size} examples",
                 f"{batch_size * replicas} = {batch_size} per replica x {replicas} replicas",
                 batch_size)

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(batch_size * replicas)
        dataset, _ = train_dataset(
            examples, preprocessor, per_replica, seed, epochs, initial_epoch,
            shuffle_buffer, num_shards=context.num_input_pipelines,
            shard_index=context.input_pipeline_id, steps_per_epoch=steps,
            batches_per_step=local_replicas, class_weight=class_weight,
        )
        return dataset

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(dataset_fn, options), steps
