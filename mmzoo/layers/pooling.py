"""Pooling over the real steps of a padded sequence.

>>> import numpy as np
>>> from mmzoo.layers.pooling import MaskedPooling1D
>>> x = np.array([[[1.0], [3.0], [9.0]]])
>>> MaskedPooling1D("mean")([x, np.array([[1.0, 1.0, 0.0]])]).numpy().tolist()
[[2.0]]
"""

import keras
from keras import ops

from mmzoo.checks import check_choice
from mmzoo.layers.masking import MaskConsumer


@keras.saving.register_keras_serializable(package="mmzoo")
class MaskedPooling1D(MaskConsumer):
    """Max or mean over the real (mask 1) steps of a sequence.

    Padded steps never win the max and do not count in the mean; a sequence with no
    real step pools to zeros.

    Args:
        mode: `"max"` or `"mean"`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `[(batch, steps, channels), (batch, steps)]`: the sequence and its padding
        mask (1.0 for a real step).

    Output shape:
        `(batch, channels)`.

    Raises:
        ValueError: `mode` is not `"max"` or `"mean"`.

    >>> import numpy as np
    >>> x = np.array([[[1.0], [2.0], [9.0]]])
    >>> MaskedPooling1D("max")([x, np.array([[1.0, 1.0, 0.0]])]).numpy().tolist()
    [[2.0]]
    """

    MODES = ("max", "mean")

    def __init__(self, mode="max", **kwargs):
        super().__init__(**kwargs)
        check_choice("mode", mode, self.MODES)
        self.mode = mode

    def call(self, inputs):
        x, mask = inputs
        mask = ops.cast(mask, x.dtype)[..., None]  # (batch, steps, 1)
        count = ops.sum(mask, axis=1)  # (batch, 1)
        if self.mode == "mean":
            return ops.sum(x * mask, axis=1) / ops.maximum(count, ops.ones_like(count))
        neg_inf = ops.full_like(x, float("-inf"))
        pooled = ops.max(ops.where(mask > 0, x, neg_inf), axis=1)
        return ops.where(count > 0, pooled, ops.zeros_like(pooled))

    def compute_output_shape(self, input_shape):
        shape = input_shape[0]
        return (shape[0], shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
