"""The modalities mmzoo knows, and how a model input maps to one.

An input's modality is its spec's `"modality"` key when it has one, else the first
`_`-separated word of its name: `"image_left"` is an image, `"text"` a text. This
module is the one place that rule is written.

>>> from mmzoo.modalities import modality_of
>>> modality_of("image_left")
'image'
>>> modality_of("caption", {"modality": "text"})
'text'
>>> modality_of("caption")
Traceback (most recent call last):
...
ValueError: Cannot tell the modality of input 'caption': name it after one of image, text, audio (e.g. 'image_left') or give a 'modality' key. Received: modality='caption'
"""

MODALITIES = ("image", "text", "audio")


def modality_of(name, spec=None):
    """The modality of the model input `name` (`"image"`, `"text"` or `"audio"`).

    Args:
        name: the input's name, e.g. `"image"` or `"audio_left"`.
        spec: optional dict (a tower spec or an input description) whose
            `"modality"` key, when present, wins over the name.

    Returns:
        One of `MODALITIES`.

    Raises:
        ValueError: neither the spec nor the name's first word is a modality.

    >>> modality_of("audio_left"), modality_of("x", {"modality": "image"})
    ('audio', 'image')
    """
    modality = (spec or {}).get("modality") if isinstance(spec, dict) else None
    if modality is None:
        modality = str(name).split("_")[0]
    if modality not in MODALITIES:
        raise ValueError(
            f"Cannot tell the modality of input {name!r}: name it after one of "
            f"{', '.join(MODALITIES)} (e.g. 'image_left') or give a 'modality' key. "
            f"Received: modality={modality!r}"
        )
    return modality


def modalities_of(specs):
    """`{name: modality}` for a dict of input specs, in its order (see `modality_of`).

    Args:
        specs: dict from input name to its spec (a dict, or anything without a
            `"modality"` key).

    Returns:
        Dict from input name to its modality.

    Raises:
        ValueError: an input whose modality cannot be told.

    >>> modalities_of({"image": {}, "text_title": {}})
    {'image': 'image', 'text_title': 'text'}
    """
    return {name: modality_of(name, spec) for name, spec in specs.items()}
