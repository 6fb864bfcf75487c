"""Work-arounds for Keras 3 `fit`/`evaluate` under `MultiWorkerMirroredStrategy`.

Keras 3 (checked up to 3.15.1 with TensorFlow 2.21) cannot train under
`tf.distribute.MultiWorkerMirroredStrategy` out of the box (keras-team/keras#20585,
#20329; tensorflow/tensorflow#72388), for two reasons, both in
`keras/src/backend/tensorflow/trainer.py`:

1. Before the first step, `Trainer._maybe_symbolic_build` averages one whole input
   batch across workers with `strategy.reduce("MEAN", batch)`; the collective
   reduce of a nested batch (a dict of features) fails with `ValueError: Attempt to
   convert a value ({...: PerReplica}) ... to a Tensor`. The batch only gives the
   symbolic build its shapes, so `patch_model` makes the model use the worker's
   first local replica batch instead.
2. After each step, `reduce_per_replica` averages the replicas' logs with
   `strategy.reduce("MEAN", value, axis=0)`, which fails for the scalar losses and
   metrics (`Invalid reduction dimension 0 for input with 0 dimensions`).
   `multi_worker_reductions()` reduces scalars with `axis=None` (the mean over all
   replicas of all workers) while it is active.

Both apply only to multi-worker runs; single-worker strategies use Keras unchanged.

>>> from mmzoo.training.keras_compat import multi_worker_reductions
>>> with multi_worker_reductions():
...     pass
"""

import contextlib


def patch_model(model, strategy):
    """Makes `model`'s pre-training symbolic build use a local replica batch.

    Replaces the model's `_maybe_symbolic_build` (in place); the model then builds
    from the first local replica's batch instead of a cross-worker mean.

    Args:
        model: the Keras model, to be trained under `strategy`.
        strategy: the `tf.distribute` strategy (e.g. `MultiWorkerMirroredStrategy`).

    >>> import keras, tensorflow as tf
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> patch_model(model, tf.distribute.get_strategy())
    >>> callable(model._maybe_symbolic_build)
    True
    """
    import tensorflow as tf

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(local, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = maybe_symbolic_build


@contextlib.contextmanager
def multi_worker_reductions():
    """While active, Keras reduces scalar step outputs across workers with `axis=None`.

    Patches `keras.src.backend.tensorflow.trainer.reduce_per_replica` and restores it
    on exit; single-worker strategies still use Keras' own reduction. With another
    Keras layout (no `_collective_all_reduce_multi_worker`) it changes nothing.

    Yields:
        None.

    >>> from keras.src.backend.tensorflow import trainer
    >>> original = trainer.reduce_per_replica
    >>> with multi_worker_reductions():
    ...     patched = trainer.reduce_per_replica is not original
    >>> patched, trainer.reduce_per_replica is original
    (True, True)
    """
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    is_multi_worker = getattr(tf_trainer, "_collective_all_reduce_multi_worker", None)
    if is_multi_worker is None:  # another Keras layout: leave it alone
        yield
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not is_multi_worker(strategy):
            return original(values, strategy, reduction)

        def reduce(value):
            local = value
            if isinstance(value, tf.distribute.DistributedValues):
                local = strategy.experimental_local_results(value)[0]
            rank = getattr(getattr(local, "shape", None), "rank", None)
            return strategy.reduce("MEAN", value, axis=0 if rank else None)

        return tree.map_structure(reduce, values)

    tf_trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original
