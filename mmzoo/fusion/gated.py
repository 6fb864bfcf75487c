"""Gated Multimodal Unit fusion (Arevalo et al., 2017), for M modalities."""

import keras
from keras import ops

from mmzoo.checks import check_positive_int
from mmzoo.fusion.base import FusionLayer
from mmzoo.layers.masking import masked_fill

# Logit given to a missing modality before the softmax (in float32).
_MASKED_LOGIT = -1e9


@keras.saving.register_keras_serializable(package="mmzoo")
class GatedFusion(FusionLayer):
    """Gated Multimodal Unit fusion, generalised to M modalities.

    Follows Arevalo et al., "Gated Multimodal Units for Information Fusion"
    (ICLR workshop, 2017): each modality gets a candidate
    `h_i = tanh(W_i x_i)`, and gates computed from all inputs together,
    `z = softmax_i(W_z [x_1; ...; x_M])` per output feature, mix them as
    `sum_i z_i * h_i`. For two modalities this is the paper's sigmoid gate. A
    missing modality's input is zeroed in the gate computation and its gate is
    exactly 0, so it contributes nothing; an example with no modality present
    gets zeros. Accepts one or more modalities. `call(..., return_weights=True)`
    also returns each modality's gate averaged over the output features,
    `(batch, M)`: how much of the fused vector comes from each modality (rows sum
    to 1 over the present modalities; `mmzoo.modality_weights`).

    Args:
        dim: width of the candidates and of the output (default 128).
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        A list of M tensors `(batch, d_i)`; optional `mask` `(batch, M)`.

    Output shape:
        `(batch, dim)`.

    Raises:
        ValueError: `dim` is not a positive integer; at call time, `embeddings` that are not a list of `(batch, d_i)` embeddings (at least one),
            or a `mask` that is not `(batch, M)`.

    Example:

    >>> import numpy as np
    >>> fusion = GatedFusion(dim=4)
    >>> tuple(fusion([np.ones((2, 3)), np.ones((2, 5))]).shape)
    (2, 4)
    """

    def __init__(self, dim=128, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("dim", dim)
        self.dim = dim
        self.candidates = []
        self.gate = None

    def build(self, input_shape):
        shapes = self.check_input_shapes(input_shape)
        self.candidates = []
        for i, shape in enumerate(shapes):
            layer = keras.layers.Dense(
                self.dim, activation="tanh", name=f"candidate_{i}", dtype=self.dtype_policy
            )
            layer.build((None, shape[-1]))
            self.candidates.append(layer)
        self.gate = keras.layers.Dense(
            len(shapes) * self.dim, name="gate", dtype=self.dtype_policy
        )
        self.gate.build((None, sum(s[-1] for s in shapes)))
        self.built = True

    def call(self, embeddings, mask=None, training=None, return_weights=False):
        num = len(embeddings)
        mask = self.modality_mask(mask, num)
        inputs = []
        for i, x in enumerate(embeddings):
            x = ops.cast(x, self.compute_dtype)
            if mask is not None:
                x = masked_fill(x, mask[:, i : i + 1])
            inputs.append(x)
        # (batch, M, dim) candidates.
        candidates = ops.stack([layer(x) for layer, x in zip(self.candidates, inputs)], axis=1)
        joint = ops.concatenate(inputs, axis=-1) if num > 1 else inputs[0]
        logits = ops.reshape(self.gate(joint), (-1, num, self.dim))
        logits = ops.cast(logits, "float32")
        if mask is not None:
            present = ops.cast(mask, "float32")[:, :, None]
            logits = masked_fill(logits, present, _MASKED_LOGIT)
        # With one modality the softmax is 1: skip it (Keras warns about size-1 softmaxes).
        gates = ops.softmax(logits, axis=1) if num > 1 else ops.ones_like(logits)
        if mask is not None:
            # Exactly zero for missing modalities, also when none is present.
            gates = masked_fill(gates, present)
        fused = ops.sum(ops.cast(gates, self.compute_dtype) * candidates, axis=1)
        if return_weights:
            return fused, ops.mean(gates, axis=-1)
        return fused

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim})
        return config
