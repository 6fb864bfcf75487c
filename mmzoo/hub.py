"""keras-hub presets: the backbone, tokenizer and converters of a preset, or a clear error.

A preset is what `keras_hub.models.Backbone.from_preset` takes: a built-in name
(`"bert_base_en_uncased"`, `"resnet_50_imagenet"`), a Kaggle or Hugging Face handle
(`"kaggle://keras/bert/keras/bert_base_en/2"`, `"hf://google-bert/bert-base-uncased"`),
or a local folder written by `save_to_preset`. keras-hub downloads a handle once and
then reads it from its cache (Kaggle: `$KAGGLEHUB_CACHE`, default
`~/.cache/kagglehub`; Hugging Face: `$HF_HUB_CACHE`).

Without a network and without a cached copy, keras-hub fails deep inside an HTTP
client; every load here turns that into one `PresetUnavailableError` naming the
preset, the cache folder it looked in and how to fetch it once online.

>>> try:
...     check_preset("/no/such/folder")
... except PresetUnavailableError as error:
...     print(str(error)[:62])
No keras-hub preset folder at '/no/such/folder'. Received: pre
"""

import os
import pathlib

#: What a preset holds, and the keras-hub class whose `from_preset` loads it.
PARTS = {
    "backbone": ("models", "Backbone"),
    "text_preprocessor": ("models", "TextClassifierPreprocessor"),
    "image_converter": ("layers", "ImageConverter"),
    "audio_converter": ("layers", "AudioConverter"),
}


class PresetUnavailableError(ValueError):
    """A keras-hub preset that is neither a local folder nor downloadable now."""


def is_local(preset):
    """Whether `preset` names a folder (an existing one, or a path-like string).

    >>> is_local("bert_base_en"), is_local("./presets/bert"), is_local("hf://a/b")
    (False, True, False)
    """
    preset = os.fspath(preset)
    if "://" in preset:
        return False
    return os.path.isdir(preset) or preset.startswith((".", "~", os.sep)) or os.sep in preset


def cache_folder(preset):
    """The folder keras-hub reads a downloaded `preset` from (None for local folders).

    >>> cache_folder("hf://google-bert/bert-base-uncased").endswith("hub")
    True
    """
    preset = os.fspath(preset)
    if is_local(preset):
        return None
    if preset.startswith("hf://"):
        import huggingface_hub.constants

        return huggingface_hub.constants.HF_HUB_CACHE
    import kagglehub.config

    return kagglehub.config.get_cache_folder()


def check_preset(preset):
    """Checks that `preset` can be loaded now; returns it (a folder as an absolute path).

    A local folder must hold keras-hub's `config.json`; a handle is resolved
    through keras-hub (its cache first, then the network).

    Args:
        preset: a keras-hub preset name, handle or local folder.

    Returns:
        The preset, as a string.

    Raises:
        PresetUnavailableError: a missing folder, a folder that is no preset, an
            unknown name, or a handle neither cached nor downloadable.
    """
    if not isinstance(preset, (str, os.PathLike)) or not os.fspath(preset):
        raise PresetUnavailableError(
            "`preset` must be a keras-hub preset name (e.g. 'bert_base_en_uncased'), a "
            f"handle ('kaggle://...', 'hf://...') or a local preset folder. Received: "
            f"preset={preset!r}"
        )
    preset = os.fspath(preset)
    if is_local(preset):
        folder = pathlib.Path(preset).expanduser()
        if not folder.is_dir():
            raise PresetUnavailableError(
                f"No keras-hub preset folder at {preset!r}. Received: preset={preset!r}")
        if not (folder / "config.json").is_file():
            raise PresetUnavailableError(
                f"{preset!r} is not a keras-hub preset folder: it has no config.json "
                "(write one with `backbone.save_to_preset(folder)`). "
                f"Received: preset={preset!r}")
        return str(folder.resolve())
    _load(preset, lambda: _preset_utils().get_preset_loader(preset))
    return preset


def load(part, preset, **kwargs):
    """The `part` of `preset`, loaded by keras-hub's `from_preset`.

    Args:
        part: one of `PARTS`: `"backbone"`, `"text_preprocessor"`,
            `"image_converter"` or `"audio_converter"`.
        preset: a keras-hub preset name, handle or local folder.
        **kwargs: passed to `from_preset` (e.g. `sequence_length=`,
            `load_weights=False`).

    Returns:
        The keras-hub object; None for a converter the preset does not have.

    Raises:
        PresetUnavailableError: see `check_preset`.
        ValueError: an unknown `part`.
    """
    import keras_hub

    if part not in PARTS:
        raise ValueError(f"`part` must be one of {sorted(PARTS)}. Received: part={part!r}")
    preset = check_preset(preset)
    module, name = PARTS[part]
    cls = getattr(getattr(keras_hub, module), name)
    if part.endswith("_converter") and not _has_file(preset, f"{part}.json"):
        return None
    return _load(preset, lambda: cls.from_preset(preset, **kwargs))


def _has_file(preset, file):
    """Whether the preset has `file` (converters are optional parts)."""
    if is_local(preset):
        return (pathlib.Path(preset) / file).is_file()
    return _load(preset, lambda: _preset_utils().check_file_exists(preset, file))


def _load(preset, loader):
    try:
        return loader()
    except PresetUnavailableError:
        raise
    except Exception as error:  # keras-hub raises what its HTTP clients raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if message.startswith("Unknown preset identifier"):
            raise PresetUnavailableError(
                f"Unknown keras-hub preset {preset!r}: give a built-in name (see "
                "keras_hub.models.Backbone.presets), a 'kaggle://' or 'hf://' handle, or a "
                f"local preset folder. Received: preset={preset!r}") from None
        if is_local(preset):
            raise
        raise PresetUnavailableError(
            f"keras-hub preset {preset!r} is not in the cache ({cache_folder(preset)}) and "
            f"could not be downloaded ({type(error).__name__}: {message[:160]}). Once online, "
            f"run `python -c \"import keras_hub; keras_hub.models.Backbone.from_preset("
            f"'{preset}')\"` to cache it, or save it to a folder with `save_to_preset` and "
            f"pass the folder. Received: preset={preset!r}") from None


def _preset_utils():
    from keras_hub.src.utils import preset_utils

    return preset_utils
