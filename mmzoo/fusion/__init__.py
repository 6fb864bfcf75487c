"""Fusion layers: combine per-modality embeddings into one vector.

Every fusion is a serializable `keras.layers.Layer` called as
`fusion(embeddings, mask=None, training=None)`, where `embeddings` is a list of M
`(batch, d_i)` tensors (or `(batch, steps_i, c_i)` sequences for layers whose
`uses_sequences` is True) and `mask` an optional `(batch, M)` modality mask
(1 = present). A missing modality contributes nothing to the output.

Fusions are registered under short names:

>>> from mmzoo.fusion import get_fusion, list_fusions
>>> list_fusions("*attention")
['attention', 'cross_attention']
>>> get_fusion("concat").__name__
'ConcatFusion'
"""

from mmzoo.fusion.attention import AttentionFusion
from mmzoo.fusion.base import FusionLayer
from mmzoo.fusion.concat import ConcatFusion, MeanFusion, SumFusion
from mmzoo.fusion.cross_attention import CrossAttentionFusion
from mmzoo.fusion.gated import GatedFusion
from mmzoo.fusion.modality_dropout import ModalityDropout
from mmzoo.fusion.tensor import LowRankFusion, TensorFusion
from mmzoo.registry import Registry

FUSIONS = Registry("fusion")
FUSIONS.register("concat", ConcatFusion)
FUSIONS.register("sum", SumFusion)
FUSIONS.register("mean", MeanFusion)
FUSIONS.register("gated", GatedFusion)
FUSIONS.register("attention", AttentionFusion)
FUSIONS.register("tensor", TensorFusion)
FUSIONS.register("low_rank", LowRankFusion)
FUSIONS.register("cross_attention", CrossAttentionFusion)


def get_fusion(name):
    """Returns the fusion layer class registered as `name`.

    Args:
        name: a registered name, e.g. `"gated"` (see `list_fusions()`).

    Returns:
        A `FusionLayer` subclass.

    Raises:
        ValueError: an unknown name; the message lists the valid ones.

    >>> get_fusion("gated")(dim=4).dim
    4
    """
    return FUSIONS.get(name, argument="fusion")


def list_fusions(pattern=None):
    """Sorted names of the registered fusions.

    Args:
        pattern: optional shell-style filter, e.g. `"*attention"`.

    Returns:
        A sorted list of names.

    >>> "concat" in list_fusions(), list_fusions("low*")
    (True, ['low_rank'])
    """
    return FUSIONS.names(pattern)


__all__ = [
    "FUSIONS",
    "AttentionFusion",
    "ConcatFusion",
    "CrossAttentionFusion",
    "FusionLayer",
    "GatedFusion",
    "LowRankFusion",
    "MeanFusion",
    "ModalityDropout",
    "SumFusion",
    "TensorFusion",
    "get_fusion",
    "list_fusions",
]
