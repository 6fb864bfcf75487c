"""Late fusion by concatenation, sum or mean of the modality embeddings."""

import keras
from keras import ops

from mmzoo.checks import check_positive_int
from mmzoo.fusion.base import FusionLayer
from mmzoo.layers.masking import masked_fill


@keras.saving.register_keras_serializable(package="mmzoo")
class ConcatFusion(FusionLayer):
    """Late fusion by concatenating the modality embeddings.

    The simplest multimodal baseline (the "late fusion" of Baltrusaitis et al.,
    "Multimodal Machine Learning: A Survey and Taxonomy", 2019): a missing
    modality's embedding is replaced by zeros, then all embeddings are
    concatenated, optionally followed by a linear projection to `dim`. Accepts
    one or more modalities.

    Args:
        dim: optional width of a linear projection after the concatenation;
            None (default) keeps the layer parameter-free.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        A list of M tensors `(batch, d_i)`; optional `mask` `(batch, M)`.

    Output shape:
        `(batch, sum(d_i))`, or `(batch, dim)` when `dim` is set.

    Raises:
        ValueError: `dim` is neither None nor a positive integer; at call time, `embeddings` that are not a list of `(batch, d_i)` embeddings (at least one),
            or a `mask` that is not `(batch, M)`.

    Example:

    >>> import numpy as np
    >>> fusion = ConcatFusion()
    >>> tuple(fusion([np.ones((2, 3)), np.ones((2, 5))]).shape)
    (2, 8)
    """

    def __init__(self, dim=None, **kwargs):
        super().__init__(**kwargs)
        if dim is not None:
            check_positive_int("dim", dim)
        self.dim = dim
        self.projection = None

    def build(self, input_shape):
        shapes = self.check_input_shapes(input_shape)
        if self.dim is not None:
            self.projection = keras.layers.Dense(
                self.dim, name="projection", dtype=self.dtype_policy
            )
            self.projection.build((None, sum(s[-1] for s in shapes)))
        self.built = True

    def call(self, embeddings, mask=None, training=None):
        mask = self.modality_mask(mask, len(embeddings))
        parts = []
        for i, x in enumerate(embeddings):
            x = ops.cast(x, self.compute_dtype)
            if mask is not None:
                x = masked_fill(x, mask[:, i : i + 1])
            parts.append(x)
        fused = ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        if self.projection is not None:
            fused = self.projection(fused)
        return fused

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim})
        return config


class _ProjectedPool(FusionLayer):
    """Projects every modality to `dim` with its own Dense layer, then pools."""

    def __init__(self, dim=128, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("dim", dim)
        self.dim = dim
        self.projections = []

    def build(self, input_shape):
        shapes = self.check_input_shapes(input_shape)
        self.projections = []
        for i, shape in enumerate(shapes):
            layer = keras.layers.Dense(self.dim, name=f"projection_{i}", dtype=self.dtype_policy)
            layer.build((None, shape[-1]))
            self.projections.append(layer)
        self.built = True

    def _masked_sum(self, embeddings, mask):
        total = None
        for i, (x, projection) in enumerate(zip(embeddings, self.projections)):
            p = projection(x)
            if mask is not None:
                p = masked_fill(p, mask[:, i : i + 1])
            total = p if total is None else total + p
        return total

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim})
        return config


@keras.saving.register_keras_serializable(package="mmzoo")
class SumFusion(_ProjectedPool):
    """Late fusion by summing projected modality embeddings.

    Each modality is projected to a common width `dim` by its own Dense layer
    (the additive late fusion of Baltrusaitis et al., "Multimodal Machine
    Learning: A Survey and Taxonomy", 2019); a missing modality's projection is
    replaced by zeros, and the projections are summed. Accepts one or more
    modalities.

    Args:
        dim: width of the projections and of the output (default 128).
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
    >>> fusion = SumFusion(dim=4)
    >>> tuple(fusion([np.ones((2, 3)), np.ones((2, 5))]).shape)
    (2, 4)
    """

    def call(self, embeddings, mask=None, training=None):
        mask = self.modality_mask(mask, len(embeddings))
        return self._masked_sum(embeddings, mask)


@keras.saving.register_keras_serializable(package="mmzoo")
class MeanFusion(_ProjectedPool):
    """Late fusion by averaging projected modality embeddings.

    Each modality is projected to a common width `dim` by its own Dense layer
    (averaging late fusion, Baltrusaitis et al., "Multimodal Machine Learning:
    A Survey and Taxonomy", 2019); the projections of the present modalities are
    averaged, so the output's scale does not depend on how many modalities are
    missing (an example with none present gets zeros). Accepts one or more
    modalities.

    Args:
        dim: width of the projections and of the output (default 128).
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
    >>> fusion = MeanFusion(dim=4)
    >>> tuple(fusion([np.ones((2, 3)), np.ones((2, 5))], mask=np.array([[1, 0], [1, 1]])).shape)
    (2, 4)
    """

    def call(self, embeddings, mask=None, training=None):
        mask = self.modality_mask(mask, len(embeddings))
        total = self._masked_sum(embeddings, mask)
        if mask is None:
            return total / float(len(embeddings))
        count = ops.maximum(ops.sum(mask, axis=-1, keepdims=True), 1.0)
        return total / count
