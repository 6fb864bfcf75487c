"""Named datasets: `tf.data` pipelines of unbatched example dicts.

Every element is a dict keyed by modality name plus `"label"`:

- `"image"`: float32 `(H, W, C)` in [0, 1];
- `"text"`: tf.string scalar, the raw sentence (tokenized later, in the pipeline);
- `"audio"`: float32 `(num_samples,)` waveform in [-1, 1] (or, for
  `av_mnist` with `variant="multibench"`, a float32 `(112, 112)` spectrogram);
- `"label"`: int64 scalar class index.

Registered datasets (`list_datasets()`):

- `"embedded"`: image + text + audio, generated locally with numpy in about a
  second, no files needed (`mmzoo.datasets.embedded`).
- `"av_mnist"`: MNIST digits paired with Free Spoken Digit recordings, read from the
  TFDS data dirs `mnist` and `spoken_digit` without network (`mmzoo.datasets.av_mnist`).

And three kinds made from your own files by their options (`FILE_KINDS`):

- `"manifest"`: CSV/JSONL files listing image and WAV files, texts and labels
  (`mmzoo.datasets.manifest`; `mmzoo train --data train.csv`);
- `"tfds"`: any TensorFlow Datasets dataset prepared locally (`mmzoo.datasets.tfds`);
- `"npz"`: arrays saved with `numpy.savez` (`mmzoo.datasets.npz`).

Where data lives (`find_data_dir`): the `data_dir` argument, else the environment
variable `MMZOO_DATA_DIR`, else TFDS's default (`$TFDS_DATA_DIR` or
`~/tensorflow_datasets`). A folder that holds a `tensorflow_datasets/` subfolder (such
as a shared data folder with `tensorflow_datasets/`, `fsdd/` and `mnist/`) stands for
that subfolder.

Example:

>>> import mmzoo.datasets as datasets
>>> datasets.list_datasets()
['av_mnist', 'embedded', 'manifest', 'npz', 'tfds']
>>> ds = datasets.load("embedded", split="validation", num_validation=8)
>>> example = next(iter(ds))
>>> sorted(example), example["image"].shape.as_list(), example["label"].dtype.name
(['audio', 'image', 'label', 'text'], [32, 32, 3], 'int64')
>>> datasets.info("embedded").class_names[:2]
('circle_bass_forest', 'circle_low_harbor')
"""

import dataclasses
import os
import pathlib

from mmzoo.registry import Registry

ENV_VAR = "MMZOO_DATA_DIR"
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a named dataset holds.

    Attributes:
        name: registry name.
        description: one paragraph.
        modalities: dict from modality name to a spec dict, e.g.
            `{"image": {"shape": (32, 32, 3)}, "text": {"max_words": 20},
            "audio": {"sample_rate": 8000, "num_samples": 8000}}`.
        class_names: tuple of class names, indexed by label.
        splits: tuple of split names.
        task: the task its labels ask for (`mmzoo.data.tasks.TASKS`), e.g.
            `"multiclass"`; it picks the default task head.

    >>> DatasetInfo("toy", "Two classes.", {"text": {"max_words": 5}}, ("no", "yes")).num_classes
    2
    """

    name: str
    description: str
    modalities: dict
    class_names: tuple
    splits: tuple = SPLITS
    task: str = "multiclass"

    @property
    def num_classes(self):
        """The number of classes, `len(class_names)`."""
        return len(self.class_names)


class DataNotFoundError(FileNotFoundError):
    """Raised when a dataset's files are not in the data folder.

    A `FileNotFoundError`; its message names the folder searched and how to fix it.

    >>> issubclass(DataNotFoundError, FileNotFoundError)
    True
    """


@dataclasses.dataclass(frozen=True)
class _Entry:
    load: object
    info: object
    is_available: object
    options: tuple
    reads_files: bool = False  # info() reads the data: it needs the data dir


DATASETS = Registry("dataset")


def list_datasets(pattern=None):
    """Sorted names of the registered datasets, optionally filtered by a shell pattern.

    Args:
        pattern: optional shell-style pattern such as `"av_*"`.

    Returns:
        A sorted list of str.

    >>> list_datasets("av_*")
    ['av_mnist']
    """
    return DATASETS.names(pattern)


def load(name, /, split="train", data_dir=None, seed=0, **options):
    """Loads split `split` of dataset `name` as a `tf.data.Dataset` of example dicts.

    Args:
        name: a name from `list_datasets()`.
        split: `"train"`, `"validation"` or `"test"`.
        data_dir: where the dataset's files are (see `find_data_dir`); ignored by
            datasets that need no files.
        seed: integer; the same seed gives the same examples in the same order.
        **options: dataset-specific options (see the dataset's module docstring).

    Returns:
        An unbatched, unshuffled `tf.data.Dataset` of dicts.

    Raises:
        ValueError: unknown dataset, split or option.
        DataNotFoundError: the dataset's files are missing.

    >>> ds = load("embedded", split="test", num_test=4)
    >>> [int(example["label"]) >= 0 for example in ds]
    [True, True, True, True]
    >>> load("nope")
    Traceback (most recent call last):
    ...
    ValueError: Unknown dataset 'nope'. Valid names: av_mnist, embedded, manifest, npz, tfds. Received: name='nope'
    """
    entry = _entry(name, options)
    return entry.load(split=split, data_dir=data_dir, seed=seed, **options)


def info(name, /, data_dir=None, **options):
    """The `DatasetInfo` of dataset `name` under `options` (which can change shapes).

    Args:
        name: a name from `list_datasets()`.
        data_dir: the data folder, for datasets whose info is read from their files
            (`tfds`); the others ignore it.
        **options: the dataset-specific options `load` would get.

    Returns:
        A `DatasetInfo`; no data is read.

    Raises:
        ValueError: unknown dataset or option.

    >>> info("embedded").modalities["image"]
    {'shape': (32, 32, 3)}
    """
    entry = _entry(name, options)
    if entry.reads_files:
        options = {**options, "data_dir": data_dir}
    return DatasetInfo(name=name, **entry.info(**options))


def description(name):
    """The one-paragraph description of dataset `name`, without reading any data.

    >>> description("npz").split(" (")[0]
    'Arrays saved with numpy.savez'
    """
    DATASETS.get(name, "name")
    if name in FILE_KINDS:  # their info() reads the user's files
        import importlib

        return importlib.import_module(f"mmzoo.datasets.{name}").DESCRIPTION
    return info(name).description


def is_available(name, data_dir=None):
    """Whether `load(name, data_dir=data_dir)` finds its files (no network is used).

    Args:
        name: a name from `list_datasets()`.
        data_dir: the data folder to look in (see `find_data_dir`).

    Returns:
        bool.

    Raises:
        ValueError: unknown dataset.

    >>> is_available("embedded")
    True
    """
    return bool(DATASETS.get(name, "name").is_available(data_dir))


def find_data_dir(data_dir=None):
    """The TFDS data dir to read from, as a `pathlib.Path` (it may not exist).

    Order: `data_dir`, else `$MMZOO_DATA_DIR`, else TFDS's default data dir
    (`$TFDS_DATA_DIR`, else `~/tensorflow_datasets`). A folder with a
    `tensorflow_datasets/` subfolder stands for that subfolder, so both the shared data
    folder and its `tensorflow_datasets/` work.

    Args:
        data_dir: optional folder (str or path-like; `~` is expanded).

    Returns:
        pathlib.Path.

    >>> import pathlib, tempfile
    >>> shared = pathlib.Path(tempfile.mkdtemp())
    >>> (shared / "tensorflow_datasets").mkdir()
    >>> find_data_dir(shared) == shared / "tensorflow_datasets"
    True
    """
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or None
    if data_dir is None:
        data_dir = os.environ.get("TFDS_DATA_DIR") or pathlib.Path.home() / "tensorflow_datasets"
    path = pathlib.Path(os.path.expanduser(os.fspath(data_dir)))
    if (path / "tensorflow_datasets").is_dir():
        path = path / "tensorflow_datasets"
    return path


def _entry(name, options):
    entry = DATASETS.get(name, "name")
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for dataset {name!r}. Valid options: "
            f"{', '.join(entry.options)}. Received: "
            + ", ".join(f"{k}={options[k]!r}" for k in unknown)
        )
    return entry


def _lazy(module, function):
    """`module.function`, imported on first call (keeps `import mmzoo.datasets` light)."""

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(f"mmzoo.datasets.{module}"), function)(
            *args, **kwargs
        )

    call.__name__ = function
    return call


DATASETS.register(
    "embedded",
    _Entry(
        load=_lazy("embedded", "load"),
        info=_lazy("embedded", "info"),
        is_available=lambda data_dir=None: True,
        options=("num_examples", "num_train", "num_validation", "num_test", "weak_prob",
                 "corrupt_prob"),
    ),
)
DATASETS.register(
    "av_mnist",
    _Entry(
        load=_lazy("av_mnist", "load"),
        info=_lazy("av_mnist", "info"),
        is_available=_lazy("av_mnist", "is_available"),
        options=("variant", "holdout", "test_speakers", "num_samples", "spectrogram",
                 "with_metadata"),
    ),
)

for _name, _module, _reads in (("manifest", "manifest", False), ("tfds", "tfds", True),
                               ("npz", "npz", False)):
    DATASETS.register(
        _name,
        _Entry(
            load=_lazy(_module, "load"),
            info=_lazy(_module, "info"),
            is_available=_lazy(_module, "is_available"),
            options=getattr(__import__(f"mmzoo.datasets.{_module}", fromlist=["OPTIONS"]),
                            "OPTIONS"),
            reads_files=_reads,
        ),
    )

#: Datasets that are made from the user's own files by their options.
FILE_KINDS = ("manifest", "npz", "tfds")

__all__ = [
    "DATASETS",
    "FILE_KINDS",
    "DataNotFoundError",
    "description",
    "DatasetInfo",
    "find_data_dir",
    "info",
    "is_available",
    "list_datasets",
    "load",
]
