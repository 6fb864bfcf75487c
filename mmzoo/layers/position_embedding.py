"""Position information for sequences: a learned table and the sinusoidal encoding.

>>> import numpy as np
>>> from mmzoo.layers.position_embedding import PositionEmbedding, sinusoidal_encoding
>>> tuple(PositionEmbedding(8)(np.zeros((2, 5, 4))).shape)
(2, 5, 4)
>>> tuple(sinusoidal_encoding(5, 4).shape)
(5, 4)
"""

import keras
from keras import ops

from mmzoo.checks import check_positive_int


def sinusoidal_encoding(steps, dim, dtype="float32"):
    """The `(steps, dim)` sine/cosine position encoding of Vaswani et al. (2017).

    The first `dim // 2` channels are sines, the next `dim // 2` cosines of the
    position times geometrically spaced rates; an odd `dim` ends with a zero channel.

    Args:
        steps: number of positions (an int or a scalar tensor).
        dim: number of channels.
        dtype: dtype of the result.

    Returns:
        A `(steps, dim)` tensor.

    >>> [[round(float(v), 3) for v in row] for row in sinusoidal_encoding(2, 2)]
    [[0.0, 1.0], [0.841, 0.54]]
    """
    half = dim // 2
    positions = ops.cast(ops.arange(steps), "float32")[:, None]
    rates = ops.exp(
        ops.cast(ops.arange(half), "float32") * (-ops.log(10000.0) / max(half, 1))
    )[None, :]
    angles = positions * rates
    parts = [ops.sin(angles), ops.cos(angles)]
    if dim % 2:
        parts.append(ops.zeros_like(positions))
    return ops.cast(ops.concatenate(parts, axis=-1), dtype)


@keras.saving.register_keras_serializable(package="mmzoo")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned position embedding to a `(batch, steps, dim)` sequence.

    Args:
        sequence_length: the most steps the layer accepts.
        initializer: initializer of the `(sequence_length, dim)` table.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `(batch, steps, dim)` with `steps <= sequence_length`.

    Output shape:
        `(batch, steps, dim)`: the input plus the table's first `steps` rows.

    Raises:
        ValueError: `sequence_length` is not a positive integer, or (when built)
            the sequences have more than `sequence_length` steps.

    >>> import numpy as np
    >>> tuple(PositionEmbedding(8)(np.zeros((2, 5, 4))).shape)
    (2, 5, 4)
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        check_positive_int("sequence_length", sequence_length)
        self.sequence_length = sequence_length
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        steps = input_shape[1]
        if steps is not None and steps > self.sequence_length:
            raise ValueError(
                f"Sequences are longer ({steps} steps) than `sequence_length`. "
                f"Received: sequence_length={self.sequence_length}"
            )
        self.embeddings = self.add_weight(
            shape=(self.sequence_length, input_shape[-1]),
            initializer=self.initializer,
            name="embeddings",
        )

    def call(self, inputs):
        steps = ops.shape(inputs)[1]
        positions = ops.cast(self.embeddings[:steps], inputs.dtype)
        return inputs + positions[None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "initializer": keras.initializers.serialize(self.initializer),
        }
