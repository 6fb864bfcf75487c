"""Modality dropout: randomly hide whole modalities during training."""

import keras
from keras import ops

from mmzoo.checks import check_rate


@keras.saving.register_keras_serializable(package="mmzoo")
class ModalityDropout(keras.layers.Layer):
    """Drops whole modalities at random in training, producing a modality mask.

    A regulariser that teaches a fusion model to predict from any subset of its
    modalities (as in the ModDrop of Neverova et al., "ModDrop: Adaptive
    Multi-Modal Gesture Recognition", TPAMI 2016): in training, each present
    modality of each example is dropped with probability `rate`, except that an
    example never loses all its present modalities (if a draw would drop them
    all, that example keeps its original mask). At inference the mask passes
    through unchanged. Feed the result to a fusion layer as its `mask`.

    Args:
        rate: probability of dropping each modality, in [0, 1) (default 0.1).
        seed: optional integer seed of the layer's `keras.random.SeedGenerator`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        A list of M tensors whose first axis is the batch; optional `mask`
        `(batch, M)` (None means every modality is present).

    Output shape:
        `(batch, M)` float mask, 1 = present.

    Raises:
        ValueError: `rate` is not in [0, 1) or `seed` is neither None nor an int; at
            call time, `embeddings` that are not a list.

    Example:

    >>> import numpy as np
    >>> dropout = ModalityDropout(rate=0.5, seed=1)
    >>> mask = dropout([np.ones((4, 3)), np.ones((4, 5))], training=True)
    >>> tuple(mask.shape), bool(np.all(np.asarray(mask).sum(axis=1) >= 1))
    ((4, 2), True)
    """

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_rate("rate", rate)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="seed_generator")

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError(
                "`ModalityDropout` expects a list of tensors, one per modality. "
                f"Received: input_shape={input_shape!r}"
            )
        self.built = True

    def call(self, embeddings, mask=None, training=None):
        num = len(embeddings)
        if mask is None or isinstance(mask, (list, tuple)):
            batch = ops.shape(embeddings[0])[0]
            mask = ops.ones((batch, num), dtype=self.compute_dtype)
        else:
            mask = ops.cast(ops.greater(ops.convert_to_tensor(mask), 0), self.compute_dtype)
        if not training or self.rate == 0:
            return mask
        draws = keras.random.uniform(ops.shape(mask), seed=self.seed_generator, dtype="float32")
        kept = mask * ops.cast(ops.greater_equal(draws, self.rate), self.compute_dtype)
        any_left = ops.greater(ops.sum(kept, axis=-1, keepdims=True), 0)
        return ops.where(any_left, kept, mask)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], len(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
