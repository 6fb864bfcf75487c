"""A pre-LayerNorm cross-attention transformer block: one sequence attends to another.

>>> import numpy as np
>>> from mmzoo.layers.cross_modal_block import CrossModalBlock
>>> block = CrossModalBlock(dim=4, num_heads=1, intermediate_dim=8)
>>> tuple(block(np.ones((1, 2, 4)), np.ones((1, 6, 4))).shape)
(1, 2, 4)
"""

import keras

from mmzoo.checks import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="mmzoo")
class CrossModalBlock(keras.layers.Layer):
    """One pre-LayerNorm cross-modal transformer block (target attends to source).

    `x + MHA(LN(x), LN(source))`, then `x + FFN(LN(x))`, as in the cross-modal
    attention of Tsai et al., "Multimodal Transformer for Unaligned Multimodal
    Language Sequences" (ACL, 2019).

    Args:
        dim: width of target, source and output.
        num_heads: attention heads; `dim` must divide evenly.
        intermediate_dim: width of the position-wise feed-forward layer.
        dropout: dropout rate on the attention weights and on both residual branches.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `target` `(batch, steps_t, dim)` and `source` `(batch, steps_s, dim)`;
        optional `attention_mask` `(batch, steps_t, steps_s)`.

    Output shape:
        `(batch, steps_t, dim)`.

    Raises:
        ValueError: a width or `num_heads` is not a positive integer, `dropout` is
            not in [0, 1), or `dim` is not divisible by `num_heads`.

    Example:

    >>> import numpy as np
    >>> block = CrossModalBlock(dim=8, num_heads=2, intermediate_dim=16)
    >>> tuple(block(np.ones((2, 3, 8)), np.ones((2, 5, 8))).shape)
    (2, 3, 8)
    """

    def __init__(self, dim, num_heads, intermediate_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("dim", dim)
        check_positive_int("num_heads", num_heads)
        check_positive_int("intermediate_dim", intermediate_dim)
        check_rate("dropout", dropout)
        if dim % num_heads:
            raise ValueError(
                f"`dim` ({dim}) must be divisible by `num_heads`. Received: num_heads={num_heads}"
            )
        self.dim = dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        policy = self.dtype_policy
        self.query_norm = keras.layers.LayerNormalization(name="query_norm", dtype=policy)
        self.source_norm = keras.layers.LayerNormalization(name="source_norm", dtype=policy)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, dim // num_heads, dropout=dropout, name="attention", dtype=policy
        )
        self.attention_dropout = keras.layers.Dropout(
            dropout, name="attention_dropout", dtype=policy
        )
        self.ffn_norm = keras.layers.LayerNormalization(name="ffn_norm", dtype=policy)
        self.ffn_inner = keras.layers.Dense(
            intermediate_dim, activation="relu", name="ffn_inner", dtype=policy
        )
        self.ffn_outer = keras.layers.Dense(dim, name="ffn_outer", dtype=policy)
        self.ffn_dropout = keras.layers.Dropout(dropout, name="ffn_dropout", dtype=policy)

    def build(self, target_shape, source_shape):
        target_shape, source_shape = tuple(target_shape), tuple(source_shape)
        self.query_norm.build(target_shape)
        self.source_norm.build(source_shape)
        self.attention.build(target_shape, source_shape)
        self.ffn_norm.build(target_shape)
        self.ffn_inner.build(target_shape)
        self.ffn_outer.build(target_shape[:-1] + (self.intermediate_dim,))
        self.built = True

    def call(self, target, source, attention_mask=None, training=None):
        query = self.query_norm(target)
        value = self.source_norm(source)
        attended = self.attention(
            query, value, attention_mask=attention_mask, training=training
        )
        x = target + self.attention_dropout(attended, training=training)
        h = self.ffn_outer(self.ffn_inner(self.ffn_norm(x)))
        return x + self.ffn_dropout(h, training=training)

    def compute_output_shape(self, target_shape, source_shape):
        return tuple(target_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dim": self.dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
            }
        )
        return config
