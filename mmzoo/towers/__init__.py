"""Towers: one builder per family, each mapping one modality input to an embedding.

Every builder has the signature `build(input_shape, name=<modality>, **options)` and
returns a `keras.Model` named `"<name>_tower"` with one input named `name` and a dict
of outputs:

- `"embedding"`: `(batch, dim)`, what most fusion layers consume;
- `"sequence"`: `(batch, steps, channels)`, for cross-modal attention fusion;
- `"sequence_mask"` (text towers only): `(batch, steps)` float, 1 for real tokens.

Builders are registered under `"<modality>/<family>"`, e.g. `"image/conv"`.

>>> import mmzoo
>>> tower = mmzoo.towers.get_tower("image", "conv")(input_shape=(28, 28, 1))
>>> tower.name
'image_tower'
"""

from mmzoo.modalities import MODALITIES
from mmzoo.registry import Registry

TOWERS = Registry("tower")


def get_tower(modality, family):
    """Returns the tower builder registered as `"<modality>/<family>"`.

    Args:
        modality: `"image"`, `"text"` or `"audio"`.
        family: the tower family, e.g. `"conv"` (see `list_towers()`).

    Returns:
        A function `build(input_shape, name=modality, **options)` -> `keras.Model`.

    Raises:
        ValueError: an unknown modality or family; the message lists the valid ones.

    >>> get_tower("text", "cnn")((12,), vocab_size=50).output["embedding"].shape
    (None, 128)
    """
    if modality not in MODALITIES:
        raise ValueError(
            f"Unknown modality {modality!r}. Valid modalities: {', '.join(MODALITIES)}. "
            f"Received: modality={modality!r}"
        )
    valid = [n.split("/", 1)[1] for n in TOWERS.names(f"{modality}/*")]
    key = f"{modality}/{family}"
    if key not in TOWERS:
        raise ValueError(
            f"Unknown {modality} tower {family!r}. Valid {modality} towers: "
            f"{', '.join(valid)}. Received: tower={family!r}"
        )
    return TOWERS.get(key)


def list_towers(pattern=None):
    """Sorted names of the registered towers, e.g. `"audio/lenet"`.

    Args:
        pattern: optional shell-style filter, e.g. `"image/*"`.

    Returns:
        A sorted list of `"<modality>/<family>"` names.

    >>> list_towers("image/*")
    ['image/conv', 'image/lenet', 'image/pretrained', 'image/resnet']
    """
    return TOWERS.names(pattern)


# Importing the modules registers their builders.
from mmzoo.towers import audio, image, pretrained, text  # noqa: E402,F401
