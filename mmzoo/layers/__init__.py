"""Reusable Keras layers, one concern a module; towers and fusions build on them.

- `mmzoo.layers.masking`: `PaddingMask`, `ApplySequenceMask`, `AttentionMask`,
  `masked_fill` and the `MaskConsumer` base class;
- `mmzoo.layers.pooling`: `MaskedPooling1D`;
- `mmzoo.layers.position_embedding`: `PositionEmbedding`, `sinusoidal_encoding`;
- `mmzoo.layers.cross_modal_block`: `CrossModalBlock`.

The log-mel front end is `mmzoo.preprocessing.LogMelSpectrogram`. Every layer here
is registered for `.keras` saving under `"mmzoo>ClassName"`.

>>> import numpy as np
>>> from mmzoo.layers import MaskedPooling1D, PaddingMask
>>> ids = np.array([[4, 9, 0]])
>>> x = np.array([[[1.0], [3.0], [100.0]]])
>>> MaskedPooling1D("mean")([x, PaddingMask()(ids)]).numpy().tolist()
[[2.0]]
"""

from mmzoo.layers.cross_modal_block import CrossModalBlock
from mmzoo.layers.masking import (
    ApplySequenceMask,
    AttentionMask,
    MaskConsumer,
    PaddingMask,
    masked_fill,
)
from mmzoo.layers.pooling import MaskedPooling1D
from mmzoo.layers.position_embedding import PositionEmbedding, sinusoidal_encoding

__all__ = [
    "ApplySequenceMask",
    "AttentionMask",
    "CrossModalBlock",
    "MaskConsumer",
    "MaskedPooling1D",
    "PaddingMask",
    "PositionEmbedding",
    "masked_fill",
    "sinusoidal_encoding",
]
