"""Additive attention over modalities (attention-based multimodal fusion)."""

import keras
from keras import ops

from mmzoo.checks import check_positive_int
from mmzoo.fusion.base import FusionLayer
from mmzoo.layers.masking import masked_fill

_MASKED_LOGIT = -1e9


@keras.saving.register_keras_serializable(package="mmzoo")
class AttentionFusion(FusionLayer):
    """Fusion by additive attention over the modalities.

    As in the modality attention of Hori et al., "Attention-Based Multimodal
    Fusion for Video Description" (ICCV, 2017): each modality is projected to
    `dim` (`p_i = W_i x_i + b_i`), scored with
    `score_i = v^T tanh(W p_i + b)`, and the output is the attention-weighted
    sum of the projections, the softmax running over present modalities only
    (a missing modality gets weight exactly 0; an example with none present gets
    zero weights and a zero output). `call(..., return_weights=True)` also
    returns the weights, for interpretation. Accepts one or more modalities.

    Args:
        dim: width of the projections and of the output (default 128).
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        A list of M tensors `(batch, d_i)`; optional `mask` `(batch, M)`.

    Output shape:
        `(batch, dim)`, or the tuple `((batch, dim), (batch, M))` with
        `return_weights=True`.

    Raises:
        ValueError: `dim` is not a positive integer; at call time, `embeddings` that are not a list of `(batch, d_i)` embeddings (at least one),
            or a `mask` that is not `(batch, M)`.

    Example:

    >>> import numpy as np
    >>> fusion = AttentionFusion(dim=4)
    >>> fused, weights = fusion(
    ...     [np.ones((2, 3)), np.ones((2, 5))], mask=np.array([[1, 0], [1, 1]]),
    ...     return_weights=True)
    >>> tuple(fused.shape), [round(float(w), 3) for w in weights[0]]
    ((2, 4), [1.0, 0.0])
    """

    def __init__(self, dim=128, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("dim", dim)
        self.dim = dim
        self.projections = []
        self.score_hidden = None
        self.score = None

    def build(self, input_shape):
        shapes = self.check_input_shapes(input_shape)
        self.projections = []
        for i, shape in enumerate(shapes):
            layer = keras.layers.Dense(self.dim, name=f"projection_{i}", dtype=self.dtype_policy)
            layer.build((None, shape[-1]))
            self.projections.append(layer)
        self.score_hidden = keras.layers.Dense(
            self.dim, activation="tanh", name="score_hidden", dtype=self.dtype_policy
        )
        self.score_hidden.build((None, len(shapes), self.dim))
        self.score = keras.layers.Dense(1, use_bias=False, name="score", dtype=self.dtype_policy)
        self.score.build((None, len(shapes), self.dim))
        self.built = True

    def call(self, embeddings, mask=None, training=None, return_weights=False):
        num = len(embeddings)
        mask = self.modality_mask(mask, num)
        projected = []
        for i, (x, layer) in enumerate(zip(embeddings, self.projections)):
            x = ops.cast(x, self.compute_dtype)
            if mask is not None:
                x = masked_fill(x, mask[:, i : i + 1])
            projected.append(layer(x))
        projected = ops.stack(projected, axis=1)  # (batch, M, dim)
        logits = ops.squeeze(self.score(self.score_hidden(projected)), axis=-1)
        logits = ops.cast(logits, "float32")  # (batch, M)
        if mask is not None:
            present = ops.cast(mask, "float32")
            logits = masked_fill(logits, present, _MASKED_LOGIT)
        # With one modality the softmax is 1: skip it (Keras warns about size-1 softmaxes).
        weights = ops.softmax(logits, axis=-1) if num > 1 else ops.ones_like(logits)
        if mask is not None:
            weights = masked_fill(weights, present)
        weights = ops.cast(weights, self.compute_dtype)
        fused = ops.sum(weights[:, :, None] * projected, axis=1)
        if return_weights:
            return fused, weights
        return fused

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim})
        return config
