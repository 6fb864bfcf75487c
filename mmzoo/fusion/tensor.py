"""Tensor Fusion (Zadeh et al., 2017) and Low-rank Multimodal Fusion (Liu et al., 2018)."""

import math

import keras
from keras import ops

from mmzoo.checks import check_positive_int, check_rate
from mmzoo.fusion.base import FusionLayer
from mmzoo.layers.masking import masked_fill

# Largest flattened outer product TensorFusion accepts (the next Dense layer has
# this many times `dim` weights).
MAX_TENSOR_SIZE = 1_000_000


def _append_one(x):
    return ops.concatenate([x, ops.ones_like(x[:, :1])], axis=-1)


@keras.saving.register_keras_serializable(package="mmzoo")
class TensorFusion(FusionLayer):
    """Tensor Fusion Network fusion: the outer product of the modality embeddings.

    Follows Zadeh et al., "Tensor Fusion Network for Multimodal Sentiment
    Analysis" (EMNLP, 2017): each modality is projected to `projection_dim` and
    extended with a constant 1, the outer product across all modalities (which
    holds every unimodal, bimodal, ... M-modal interaction) is flattened to
    `prod(projection_dim + 1)` features, and an optional dropout and a ReLU Dense
    layer map it to `dim`. A missing modality's projection is zeroed before the
    1 is appended, so only the interactions of the present modalities remain.
    Accepts one or more modalities; the outer product grows as
    `(projection_dim + 1) ** M` and must stay within 1,000,000 features.

    Args:
        projection_dim: width of each modality's projection (default 16).
        dim: width of the output (default 128).
        dropout: dropout rate on the flattened outer product (default 0.0).
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        A list of M tensors `(batch, d_i)`; optional `mask` `(batch, M)`.

    Output shape:
        `(batch, dim)`.

    Raises:
        ValueError: `projection_dim` or `dim` is not a positive
            integer, `dropout` is not in [0, 1), or (at build) the outer product
            exceeds 1,000,000 features; at call time, `embeddings` that are not a list of `(batch, d_i)` embeddings (at least one),
            or a `mask` that is not `(batch, M)`.

    Example:

    >>> import numpy as np
    >>> fusion = TensorFusion(projection_dim=2, dim=4)
    >>> tuple(fusion([np.ones((2, 3)), np.ones((2, 5))]).shape)
    (2, 4)
    """

    def __init__(self, projection_dim=16, dim=128, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("projection_dim", projection_dim)
        check_positive_int("dim", dim)
        check_rate("dropout", dropout)
        self.projection_dim = projection_dim
        self.dim = dim
        self.dropout = dropout
        self.projections = []
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout", dtype=self.dtype_policy)
        self.output_dense = None

    def build(self, input_shape):
        shapes = self.check_input_shapes(input_shape)
        size = (self.projection_dim + 1) ** len(shapes)
        if size > MAX_TENSOR_SIZE:
            raise ValueError(
                f"The outer product of {len(shapes)} modalities with `projection_dim` "
                f"{self.projection_dim} has {size} features, more than {MAX_TENSOR_SIZE}; "
                f"use a smaller projection_dim or LowRankFusion. "
                f"Received: projection_dim={self.projection_dim}"
            )
        self.projections = []
        for i, shape in enumerate(shapes):
            layer = keras.layers.Dense(
                self.projection_dim, name=f"projection_{i}", dtype=self.dtype_policy
            )
            layer.build((None, shape[-1]))
            self.projections.append(layer)
        self.output_dense = keras.layers.Dense(
            self.dim, activation="relu", name="output", dtype=self.dtype_policy
        )
        self.output_dense.build((None, size))
        self.built = True

    def call(self, embeddings, mask=None, training=None):
        mask = self.modality_mask(mask, len(embeddings))
        product = None
        for i, (x, layer) in enumerate(zip(embeddings, self.projections)):
            z = layer(x)
            if mask is not None:
                z = masked_fill(z, mask[:, i : i + 1])
            z = _append_one(z)
            if product is None:
                product = z
            else:
                size = product.shape[-1] * z.shape[-1]
                product = ops.reshape(product[:, :, None] * z[:, None, :], (-1, size))
        product = self.dropout_layer(product, training=training)
        return self.output_dense(product)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"projection_dim": self.projection_dim, "dim": self.dim, "dropout": self.dropout}
        )
        return config


@keras.saving.register_keras_serializable(package="mmzoo")
class LowRankFusion(FusionLayer):
    """Low-rank Multimodal Fusion: tensor fusion with low-rank modality factors.

    Follows Liu et al., "Efficient Low-rank Multimodal Fusion with
    Modality-Specific Factors" (ACL, 2018): the weight of the tensor-fusion
    layer is decomposed into `rank` factors per modality, `W_i` of shape
    `(rank, d_i + 1, dim)`, so the fused vector is
    `sum_r w_r * prod_i ([x_i; 1] W_i[r]) + b`, linear in each modality and never
    materialising the outer product. A missing modality's embedding is zeroed
    before the 1 is appended. Accepts one or more modalities.

    Args:
        rank: number of factors per modality (default 4).
        dim: width of the output (default 128).
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        A list of M tensors `(batch, d_i)`; optional `mask` `(batch, M)`.

    Output shape:
        `(batch, dim)`.

    Raises:
        ValueError: `rank` or `dim` is not a positive integer; at call time, `embeddings` that are not a list of `(batch, d_i)` embeddings (at least one),
            or a `mask` that is not `(batch, M)`.

    Example:

    >>> import numpy as np
    >>> fusion = LowRankFusion(rank=2, dim=4)
    >>> tuple(fusion([np.ones((2, 3)), np.ones((2, 5))]).shape)
    (2, 4)
    """

    def __init__(self, rank=4, dim=128, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("rank", rank)
        check_positive_int("dim", dim)
        self.rank = rank
        self.dim = dim
        self.factors = []

    def build(self, input_shape):
        shapes = self.check_input_shapes(input_shape)
        self.factors = []
        for i, shape in enumerate(shapes):
            fan_in = shape[-1] + 1
            self.factors.append(
                self.add_weight(
                    name=f"factor_{i}",
                    shape=(self.rank, shape[-1] + 1, self.dim),
                    initializer=keras.initializers.RandomNormal(stddev=math.sqrt(1.0 / fan_in)),
                )
            )
        self.fusion_weights = self.add_weight(
            name="fusion_weights",
            shape=(1, self.rank),
            initializer=keras.initializers.RandomNormal(stddev=math.sqrt(1.0 / self.rank)),
        )
        self.bias = self.add_weight(name="bias", shape=(self.dim,), initializer="zeros")
        self.built = True

    def call(self, embeddings, mask=None, training=None):
        mask = self.modality_mask(mask, len(embeddings))
        product = None
        for i, (x, factor) in enumerate(zip(embeddings, self.factors)):
            x = ops.cast(x, self.compute_dtype)
            if mask is not None:
                x = masked_fill(x, mask[:, i : i + 1])
            x = _append_one(x)
            z = ops.einsum("bd,rdo->bro", x, factor)  # (batch, rank, dim)
            product = z if product is None else product * z
        fused = ops.einsum("r,bro->bo", self.fusion_weights[0], product)
        return fused + self.bias

    def get_config(self):
        config = super().get_config()
        config.update({"rank": self.rank, "dim": self.dim})
        return config
