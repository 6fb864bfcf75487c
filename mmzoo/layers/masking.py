"""Masking layers: padding masks from token ids, and applying masks to sequences.

A padding mask here is a plain float32 tensor `(batch, steps)`, 1.0 for a real step
and 0.0 for padding, passed between layers explicitly (not Keras' implicit
`_keras_mask`), so it survives `.keras` saving, SavedModel export and every backend.

>>> import numpy as np
>>> from mmzoo.layers.masking import ApplySequenceMask, PaddingMask
>>> ids = np.array([[7, 3, 0]])
>>> mask = PaddingMask()(ids)
>>> mask.numpy().tolist()
[[1.0, 1.0, 0.0]]
>>> ApplySequenceMask()([np.ones((1, 3, 2)), mask]).numpy()[0, :, 0].tolist()
[1.0, 1.0, 0.0]
"""

import keras
from keras import ops

from mmzoo.checks import is_int


def masked_fill(x, keep, value=0.0):
    """`x` where `keep` (broadcastable, 1 = keep) is positive, else `value`.

    A `where`, not a product, so a masked entry is exactly `value` even when `x`
    holds inf or nan.

    Args:
        x: tensor of any shape.
        keep: tensor broadcastable to `x`; entries > 0 keep `x`.
        value: the number put where `keep` is not positive.

    Returns:
        A tensor of `x`'s shape and dtype.

    >>> import numpy as np
    >>> masked_fill(np.array([1.0, np.nan]), np.array([1.0, 0.0])).numpy().tolist()
    [1.0, 0.0]
    """
    return ops.where(keep > 0, x, ops.full_like(x, value))


class MaskConsumer(keras.layers.Layer):
    """Base class of layers that accept Keras masks on their inputs and return none.

    A layer after `keras.layers.Embedding(mask_zero=True)` receives the implicit
    Keras mask; subclasses take the padding mask as an explicit input instead, so
    their outputs carry no Keras mask.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, previous_mask=None):
        return None


@keras.saving.register_keras_serializable(package="mmzoo")
class PaddingMask(MaskConsumer):
    """Token ids -> float32 mask, 1.0 where the id is not `padding_id`.

    Args:
        padding_id: the id used for padding (an integer >= 0).
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `(batch, steps)` integer ids.

    Output shape:
        `(batch, steps)` float32.

    Raises:
        ValueError: `padding_id` is not an integer >= 0.

    >>> import numpy as np
    >>> PaddingMask()(np.array([[5, 2, 0]])).numpy().tolist()
    [[1.0, 1.0, 0.0]]
    """

    def __init__(self, padding_id=0, **kwargs):
        super().__init__(**kwargs)
        if not is_int(padding_id) or padding_id < 0:
            raise ValueError(
                "`padding_id` must be a non-negative integer. "
                f"Received: padding_id={padding_id!r}"
            )
        self.padding_id = padding_id

    def call(self, inputs):
        return ops.cast(ops.not_equal(inputs, self.padding_id), "float32")

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="float32")

    def get_config(self):
        return {**super().get_config(), "padding_id": self.padding_id}


@keras.saving.register_keras_serializable(package="mmzoo")
class ApplySequenceMask(MaskConsumer):
    """Zeroes the padded steps of a sequence: `[x, mask] -> x * mask[..., None]`.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `[(batch, steps, channels), (batch, steps)]`.

    Output shape:
        `(batch, steps, channels)`, without a Keras mask attached.

    >>> import numpy as np
    >>> ApplySequenceMask()([np.ones((1, 3, 2)), np.array([[1.0, 1.0, 0.0]])]).numpy()[0, :, 0]
    array([1., 1., 0.], dtype=float32)
    """

    def call(self, inputs):
        x, mask = inputs
        return x * ops.cast(mask, x.dtype)[..., None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package="mmzoo")
class AttentionMask(MaskConsumer):
    """Padding mask `(batch, steps)` -> boolean attention mask `(batch, steps, steps)`.

    Entry `[b, i, j]` is True when key `j` of example `b` is a real token, the
    `attention_mask` that `keras.layers.MultiHeadAttention` takes for self-attention.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `(batch, steps)`, > 0 for a real step.

    Output shape:
        `(batch, steps, steps)` bool.

    >>> import numpy as np
    >>> AttentionMask()(np.array([[1.0, 0.0]])).numpy().tolist()
    [[[True, False], [True, False]]]
    """

    def call(self, inputs):
        keys = ops.greater(inputs, 0)[:, None, :]
        return ops.repeat(keys, ops.shape(inputs)[1], axis=1)

    def compute_output_spec(self, inputs):
        batch, steps = inputs.shape
        return keras.KerasTensor((batch, steps, steps), dtype="bool")
