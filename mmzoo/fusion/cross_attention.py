"""Cross-modal transformer fusion of sequences (MulT, Tsai et al., 2019)."""

import keras
from keras import ops

from mmzoo.checks import check_positive_int, check_rate
from mmzoo.fusion.base import FusionLayer
from mmzoo.layers.cross_modal_block import CrossModalBlock
from mmzoo.layers.masking import masked_fill
from mmzoo.layers.position_embedding import sinusoidal_encoding

POSITIONAL_ENCODINGS = ("sinusoidal", "learned", None)


@keras.saving.register_keras_serializable(package="mmzoo")
class CrossAttentionFusion(FusionLayer):
    """Multimodal Transformer (MulT) fusion of modality sequences by cross-modal attention.

    Follows Tsai et al., "Multimodal Transformer for Unaligned Multimodal
    Language Sequences" (ACL, 2019): each sequence is projected to `dim` and
    given a position encoding; for every ordered pair (target t, source s != t)
    a stack of `num_layers` pre-LayerNorm cross-modal blocks lets t's steps
    attend to s's steps (keys masked by s's `sequence_masks`). For each target,
    the outputs from its sources, each multiplied by the source's modality mask
    (a missing source contributes exactly 0), are concatenated, mean-pooled over
    the target's real steps and multiplied by the target's modality mask; the
    pooled vectors of all targets are concatenated and mapped to `dim` by a ReLU
    Dense layer. Sequences need not be aligned or of equal length. Needs at
    least 2 modalities.

    Args:
        dim: model width and output width (default 64).
        num_heads: attention heads; `dim` must divide evenly (default 4).
        num_layers: cross-modal blocks per ordered modality pair (default 1).
        dropout: dropout rate in the blocks (default 0.1).
        intermediate_dim: width of the feed-forward layers; None means `4 * dim`.
        positional_encoding: `"sinusoidal"` (default), `"learned"` (needs known
            sequence lengths) or None.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        A list of M tensors `(batch, steps_i, c_i)`; optional `mask`
        `(batch, M)`; optional `sequence_masks`, a list with a `(batch, steps_i)`
        float tensor (1 = real step) or None per modality.

    Output shape:
        `(batch, dim)`.

    Raises:
        ValueError: `dim`, `num_heads`, `num_layers` or `intermediate_dim` is not a
            positive integer, `dim` is not divisible by `num_heads`, `dropout` is not
            in [0, 1) or `positional_encoding` is unknown; at call time, fewer than 2
            inputs, inputs that are not `(batch, steps, channels)` sequences,
            `"learned"` encodings of unknown lengths, or `sequence_masks` without
            one entry per modality.

    Example:

    >>> import numpy as np
    >>> fusion = CrossAttentionFusion(dim=8, num_heads=2)
    >>> tuple(fusion([np.ones((2, 5, 3)), np.ones((2, 7, 4))]).shape)
    (2, 8)
    """

    uses_sequences = True
    min_modalities = 2

    def __init__(
        self,
        dim=64,
        num_heads=4,
        num_layers=1,
        dropout=0.1,
        intermediate_dim=None,
        positional_encoding="sinusoidal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("dim", dim)
        check_positive_int("num_heads", num_heads)
        check_positive_int("num_layers", num_layers)
        check_rate("dropout", dropout)
        if intermediate_dim is not None:
            check_positive_int("intermediate_dim", intermediate_dim)
        if dim % num_heads:
            raise ValueError(
                f"`dim` ({dim}) must be divisible by `num_heads`. Received: num_heads={num_heads}"
            )
        if positional_encoding not in POSITIONAL_ENCODINGS:
            raise ValueError(
                f"`positional_encoding` must be one of {POSITIONAL_ENCODINGS}. "
                f"Received: positional_encoding={positional_encoding!r}"
            )
        self.dim = dim
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.dropout = dropout
        self.intermediate_dim = intermediate_dim
        self.positional_encoding = positional_encoding
        self.projections = []
        self.position_embeddings = []
        self.blocks = []
        self.final_norms = []
        self.output_dense = None

    def build(self, input_shape):
        shapes = self.check_input_shapes(input_shape)
        if self.positional_encoding == "learned":
            for i, shape in enumerate(shapes):
                if shape[1] is None:
                    raise ValueError(
                        "A learned position encoding needs known sequence lengths; "
                        f"modality {i} has none. Use positional_encoding='sinusoidal'. "
                        f"Received: positional_encoding='learned', input_shape={shapes!r}"
                    )
        num = len(shapes)
        policy = self.dtype_policy
        self.projections = []
        self.position_embeddings = []
        for i, shape in enumerate(shapes):
            layer = keras.layers.Dense(self.dim, name=f"projection_{i}", dtype=policy)
            layer.build((None, shape[1], shape[-1]))
            self.projections.append(layer)
            if self.positional_encoding == "learned":
                self.position_embeddings.append(
                    self.add_weight(
                        name=f"position_embedding_{i}",
                        shape=(shape[1], self.dim),
                        initializer=keras.initializers.RandomNormal(stddev=0.02),
                    )
                )
        intermediate = self.intermediate_dim or 4 * self.dim
        # Flat lists in (target, source, layer) order, indexed through `_pairs`
        # (flat lists of layers are what Keras tracks and saves most plainly).
        self.blocks = []
        self.final_norms = []
        for t, s in self._pairs(num):
            for layer_index in range(self.num_layers):
                block = CrossModalBlock(
                    self.dim,
                    self.num_heads,
                    intermediate,
                    dropout=self.dropout,
                    name=f"block_{t}_from_{s}_{layer_index}",
                    dtype=policy,
                )
                block.build((None, shapes[t][1], self.dim), (None, shapes[s][1], self.dim))
                self.blocks.append(block)
            norm = keras.layers.LayerNormalization(name=f"final_norm_{t}_from_{s}", dtype=policy)
            norm.build((None, shapes[t][1], self.dim))
            self.final_norms.append(norm)
        self.output_dense = keras.layers.Dense(
            self.dim, activation="relu", name="output", dtype=policy
        )
        self.output_dense.build((None, num * (num - 1) * self.dim))
        self.built = True

    @staticmethod
    def _pairs(num):
        """The ordered (target, source) pairs, source != target."""
        return [(t, s) for t in range(num) for s in range(num) if s != t]

    def call(self, embeddings, mask=None, training=None, sequence_masks=None):
        num = len(embeddings)
        mask = self.modality_mask(mask, num)
        if sequence_masks is None:
            sequence_masks = [None] * num
        if len(sequence_masks) != num:
            raise ValueError(
                f"`sequence_masks` needs one entry (a tensor or None) per modality ({num}). "
                f"Received: sequence_masks of length {len(sequence_masks)}"
            )
        sequences, step_masks = [], []
        for i, (x, layer) in enumerate(zip(embeddings, self.projections)):
            h = layer(x)
            if self.positional_encoding == "learned":
                h = h + ops.cast(self.position_embeddings[i], h.dtype)[None]
            elif self.positional_encoding == "sinusoidal":
                h = h + sinusoidal_encoding(ops.shape(h)[1], self.dim, h.dtype)[None]
            sequences.append(h)
            m = sequence_masks[i]
            if m is not None:
                m = ops.cast(ops.greater(m, 0), self.compute_dtype)
            step_masks.append(m)

        pair_index = {pair: k for k, pair in enumerate(self._pairs(num))}
        pooled_targets = []
        for t in range(num):
            target = sequences[t]
            parts = []
            for s in range(num):
                if s == t:
                    continue
                k = pair_index[(t, s)]
                attention_mask = None
                if step_masks[s] is not None:
                    # (batch, steps_t, steps_s): every target step sees the source's real steps.
                    attention_mask = ops.greater(
                        ops.ones_like(target[:, :, :1]) * step_masks[s][:, None, :], 0
                    )
                x = target
                for block in self.blocks[k * self.num_layers : (k + 1) * self.num_layers]:
                    x = block(x, sequences[s], attention_mask=attention_mask, training=training)
                x = self.final_norms[k](x)
                if mask is not None:
                    # With every key masked, softmax attends uniformly: zero the
                    # missing source's contribution explicitly.
                    x = masked_fill(x, mask[:, s, None, None])
                parts.append(x)
            x = ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
            if step_masks[t] is None:
                x = ops.mean(x, axis=1)
            else:
                weights = step_masks[t][:, :, None]
                total = ops.sum(masked_fill(x, weights), axis=1)
                x = total / ops.maximum(ops.sum(weights, axis=1), 1.0)
            if mask is not None:
                x = masked_fill(x, mask[:, t, None])
            pooled_targets.append(x)
        return self.output_dense(ops.concatenate(pooled_targets, axis=-1))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dim": self.dim,
                "num_heads": self.num_heads,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "intermediate_dim": self.intermediate_dim,
                "positional_encoding": self.positional_encoding,
            }
        )
        return config
