"""The base class of the fusion layers: input checks and modality-mask handling.

Every fusion layer takes a list of per-modality tensors and an optional modality
mask `(batch, M)` (1 = present, 0 = missing) and returns one `(batch, dim)` tensor.

>>> from mmzoo.fusion.base import FusionLayer
>>> FusionLayer.uses_sequences
False
"""

import keras
from keras import ops


class FusionLayer(keras.layers.Layer):
    """Base class of mmzoo fusion layers.

    Subclasses implement `build(input_shape)` (calling `self.check_input_shapes`)
    and `call(embeddings, mask=None, training=None)`. The class attribute
    `uses_sequences` says whether the layer consumes `(batch, steps, channels)`
    sequences instead of `(batch, dim)` embeddings; `min_modalities` is the fewest
    modalities it accepts.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Raises:
        ValueError: from `check_input_shapes` and `modality_mask` (inputs of the
            wrong kind or number, a mask of the wrong shape).

    Example: a subclass that averages its embeddings.

    >>> import numpy as np
    >>> from keras import ops
    >>> class Average(FusionLayer):
    ...     def build(self, input_shape):
    ...         self.check_input_shapes(input_shape)
    ...     def call(self, embeddings, mask=None, training=None):
    ...         return ops.mean(ops.stack(embeddings), axis=0)
    >>> Average()([np.ones((2, 4)), np.zeros((2, 4))]).numpy().tolist()
    [[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]
    """

    uses_sequences = False
    min_modalities = 1

    def compute_mask(self, inputs, previous_mask=None):
        # The output is one fused vector per example: no per-timestep mask.
        return None

    def check_input_shapes(self, input_shape):
        """Checks that `input_shape` is a list of shapes of the expected rank.

        Returns the shapes as a list of tuples. Raises `ValueError` for anything else
        than a list of at least `min_modalities` shapes of rank 2 (rank 3 when
        `uses_sequences`) with a known last axis.
        """
        rank = 3 if self.uses_sequences else 2
        if self.uses_sequences:
            kind = "(batch, steps, channels) sequences"
        else:
            kind = "(batch, dim) embeddings"
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError(
                f"`{self.__class__.__name__}` expects a list of {kind}, one per modality. "
                f"Received: input_shape={input_shape!r}"
            )
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < self.min_modalities:
            raise ValueError(
                f"`{self.__class__.__name__}` needs at least {self.min_modalities} modalities. "
                f"Received: {len(shapes)} modalities, input_shape={shapes!r}"
            )
        for i, shape in enumerate(shapes):
            if len(shape) != rank or shape[-1] is None:
                raise ValueError(
                    f"`{self.__class__.__name__}` expects {kind} with a known last dimension; "
                    f"modality {i} does not fit. Received: input_shape={shapes!r}"
                )
        return shapes

    def modality_mask(self, mask, num_modalities):
        """The modality mask as a `(batch, M)` 0/1 tensor of the compute dtype, or None.

        None, or a list/tuple (the per-tensor masks Keras passes on its own), means
        every modality is present. Raises `ValueError` for a mask that is not
        `(batch, num_modalities)`.
        """
        if mask is None or isinstance(mask, (list, tuple)):
            return None
        mask = ops.convert_to_tensor(mask)
        width = mask.shape[-1] if len(mask.shape) else None
        if len(mask.shape) != 2 or (width is not None and width != num_modalities):
            raise ValueError(
                f"`{self.__class__.__name__}` expects a modality mask of shape "
                f"(batch, {num_modalities}). Received: mask.shape={tuple(mask.shape)}"
            )
        # Binarize: any positive value means present.
        return ops.cast(ops.greater(mask, 0), self.compute_dtype)
