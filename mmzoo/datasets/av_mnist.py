"""AV-MNIST: MNIST digits paired with spoken digits of the same class.

Built from two TFDS datasets read from a local TFDS data dir (`download=False`):
`mnist` (28x28x1 uint8 digits, train 60,000 / test 10,000) and `spoken_digit` (Free
Spoken Digit Dataset v1.0.9: 5 speakers x 10 digits x 50 takes, 8 kHz int16,
`audio/filename` = `{digit}_{speaker}_{take}.wav`). The data dir comes from the
`data_dir` argument, else `$MMZOO_DATA_DIR`, else TFDS's default (see
`mmzoo.datasets.find_data_dir`).

Splits:

- images: `train` = MNIST train[:55000], `validation` = MNIST train[55000:] (the last
  5,000, as MultiBench does), `test` = MNIST test (10,000). The image split does not
  depend on `seed`.
- recordings, `holdout="takes"` (default): `test` = takes 0-4 of every speaker and
  digit (FSDD's conventional test split, 250 clips), `validation` = takes 5-9 (250),
  `train` = takes 10-49 (2,000).
- recordings, `holdout="speakers"`: `test` = every take of `test_speakers` (default
  `("theo",)`), `validation` = takes 0-4 of the other speakers, `train` = their takes
  5-49.

So no recording is ever in two splits. Each image is paired with a recording of its
own digit drawn uniformly from its split's pool, with a stateless random draw keyed on
`(seed, split, image index)`: the pairing is deterministic from `seed`, and a recording
serves many images (55,000 images share 2,000 clips). The pipeline holds only the
split's pool of clips as one padded `(clips, num_samples)` int16 tensor and looks the
paired clip up with `tf.gather` per example; the 55,000 waveforms are never stored.

Example format (`variant="default"`):

- `"image"`: float32 `(28, 28, 1)` in [0, 1] (`uint8 / 255`);
- `"audio"`: float32 `(num_samples,)` in [-1, 1) (`int16 / 32768`), centre-cropped or
  centre-zero-padded to `num_samples` (default 8000: one second at 8 kHz; FSDD clips
  are 0.14-2.3 s, median 0.4 s);
- `"label"`: int64 digit;
- with `with_metadata=True` also `"audio_filename"` (tf.string, the FSDD file name)
  and `"image_index"` (int64, the image's index within the MNIST split slice).

`variant="multibench"` follows MultiBench's AV-MNIST (Liang et al., 2021, which uses
the data of Vielzeuf et al., 2018, "CentralNet") as closely as its published code
allows:

- images: MNIST digits reconstructed from the leading principal components that keep
  25 % of the pixel variance ("75 % of the energy removed"): PCA is fitted with
  `numpy.linalg.svd` on the covariance of the 55,000 train images (pixels in [0, 1])
  and applied to every split, `mean + (x - mean) V_k V_k^T`, clipped to [0, 1];
  `(28, 28, 1)`.
- audio: a `(112, 112)` float32 log spectrogram `(frames, bins)` of the `num_samples`
  waveform, scaled per clip to [0, 1] as `(dB - max_dB + 80) / 80` (an 80 dB range
  below the clip's own peak, so a clip's features do not depend on its batch).
  `spectrogram="log_mel"` (default) uses mmzoo's librosa-compatible
  `mmzoo.preprocessing.log_mel.LogMelSpectrogram` (112 slaney mel bands, 1024-point FFT
  with a 256-sample Hann window, hop `num_samples // 111`, centred frames), the layer a
  served model would use; `spectrogram="linear"` computes a linear-frequency power
  spectrogram with `tf.signal.stft` (222-point FFT and window, so 112 bins from 0 to
  4 kHz, hop `(num_samples - 222) // 111`), closer to the original.

Differences from MultiBench's files, which cannot be rebuilt here: (1) the original
spectrograms were computed with `scipy.signal.spectrogram` (boxcar window, frame length
chosen per clip so each clip's own length gives 112 frames) on clips mixed with ESC-50
background noise; here frames span a fixed one-second window, there is no ESC-50 noise
(it is not available offline) and the window is Hann. (2) Their audio is stored as
`(frequency, time)` and scaled by 1/255; ours is `(time, frequency)` in [0, 1]. (3)
Their recordings were the 4-speaker FSDD with the speaker `yweweler` held out for test
and assigned to images in a fixed cyclic order; here the pools follow `holdout` and the
pairing is seeded (use `holdout="speakers", test_speakers=("yweweler",)` for a speaker
split). (4) Their PCA was fitted with scikit-learn on each split separately and the
reconstruction left mean-subtracted; ours is fitted on train only and adds the mean
back, so the image stays in [0, 1]. (5) MultiBench has no separate validation pool of
recordings; ours keeps validation clips disjoint from train and test.

>>> import mmzoo.datasets as datasets
>>> ds = datasets.load("av_mnist", split="test", data_dir="/path/to/data")  # doctest: +SKIP
>>> {k: v.shape.as_list() for k, v in ds.element_spec.items()}  # doctest: +SKIP
{'image': [28, 28, 1], 'audio': [8000], 'label': []}
"""

import pathlib
import threading

import numpy as np
import tensorflow as tf

from mmzoo.datasets import DataNotFoundError, find_data_dir
from mmzoo.datasets import multibench

NAME = "av_mnist"
SPLITS = ("train", "validation", "test")
VARIANTS = ("default", "multibench")
HOLDOUTS = ("takes", "speakers")
SPECTROGRAMS = ("log_mel", "linear")
SAMPLE_RATE = 8000
NUM_SAMPLES = 8000
SPECTROGRAM_SIZE = 112
CLASS_NAMES = tuple(str(digit) for digit in range(10))
TFDS_NAMES = ("mnist", "spoken_digit")
_IMAGE_SPLITS = {"train": "train[:55000]", "validation": "train[55000:]", "test": "test"}

DESCRIPTION = (
    "MNIST handwritten digits (TFDS 'mnist') paired by label with Free Spoken Digit "
    "recordings (TFDS 'spoken_digit'); recordings of test and train never overlap."
)

_lock = threading.Lock()
_recordings_cache = {}


def info(variant="default", holdout="takes", test_speakers=("theo",), num_samples=NUM_SAMPLES,
         spectrogram="log_mel", with_metadata=False):
    """Fields of the `DatasetInfo` for these options (no data is read).

    Args:
        variant, holdout, test_speakers, num_samples, spectrogram, with_metadata: as
            in `load`.

    Returns:
        dict with `description`, `modalities` (image shape `(28, 28, 1)`; audio
        `sample_rate` 8000 Hz, `num_samples`, and for `"multibench"` the
        spectrogram `shape` `(112, 112)`), `class_names` (`"0"` to `"9"`) and `splits`.

    Raises:
        ValueError: an option is invalid.

    >>> info(variant="multibench")["modalities"]["audio"]
    {'sample_rate': 8000, 'num_samples': 8000, 'shape': (112, 112), 'features': 'log_mel'}
    """
    _check_options(variant, holdout, test_speakers, num_samples, spectrogram, with_metadata)
    audio = {"sample_rate": SAMPLE_RATE, "num_samples": num_samples}
    if variant == "multibench":
        audio.update(shape=(SPECTROGRAM_SIZE, SPECTROGRAM_SIZE), features=spectrogram)
    return {
        "description": DESCRIPTION,
        "modalities": {"image": {"shape": (28, 28, 1)}, "audio": audio},
        "class_names": CLASS_NAMES,
        "splits": SPLITS,
    }


def is_available(data_dir=None):
    """Whether both TFDS datasets are prepared under `find_data_dir(data_dir)`.

    Args:
        data_dir: the data folder (see `mmzoo.datasets.find_data_dir`).

    Returns:
        bool: `mnist` and `spoken_digit` both have a `dataset_info.json` there.

    >>> import tempfile
    >>> is_available(tempfile.mkdtemp())
    False
    """
    return not _missing(find_data_dir(data_dir))


def load(split="train", data_dir=None, seed=0, variant="default", holdout="takes",
         test_speakers=("theo",), num_samples=NUM_SAMPLES, spectrogram="log_mel",
         with_metadata=False):
    """A `tf.data.Dataset` of unbatched AV-MNIST example dicts (see module docstring).

    Args:
        split: `"train"`, `"validation"` or `"test"`.
        data_dir: TFDS data dir, or a folder holding `tensorflow_datasets/`.
        seed: integer seed of the image-recording pairing.
        variant: `"default"` (raw image and waveform) or `"multibench"` (PCA image and
            112x112 log spectrogram).
        holdout: `"takes"` or `"speakers"`: how test recordings are held out.
        test_speakers: speakers held out when `holdout="speakers"`.
        num_samples: waveform length after centre crop / zero padding.
        spectrogram: `"log_mel"` or `"linear"` (multibench variant only).
        with_metadata: add `"audio_filename"` and `"image_index"` to each example.

    Returns:
        An unbatched `tf.data.Dataset` of dicts: `"image"` float32 `(28, 28, 1)` in
        [0, 1]; `"audio"` float32 `(num_samples,)` in [-1, 1) at 8000 Hz, or
        `(112, 112)` `(frames, bins)` in [0, 1] for `"multibench"`; `"label"` int64.

    Raises:
        ValueError: bad split, seed or option; unknown `test_speakers`.
        DataNotFoundError: `mnist` or `spoken_digit` is not prepared in the data dir.

    >>> import tempfile
    >>> load("test", data_dir=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    mmzoo.datasets.DataNotFoundError: The 'av_mnist' dataset needs the TFDS datasets ...
    >>> ds = load("test", data_dir="/path/to/data", variant="multibench")  # doctest: +SKIP
    >>> next(iter(ds))["audio"].shape  # doctest: +SKIP
    TensorShape([112, 112])
    """
    import tensorflow_datasets as tfds

    if split not in SPLITS:
        raise ValueError(
            f"Unknown split {split!r} of the {NAME!r} dataset. Valid splits: "
            f"{', '.join(SPLITS)}. Received: split={split!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
    test_speakers = _check_options(variant, holdout, test_speakers, num_samples, spectrogram,
                                   with_metadata)
    path = _require(data_dir)
    recordings = _recordings(path, num_samples)
    pools = recording_pools(data_dir=path, holdout=holdout, test_speakers=test_speakers,
                            loaded=recordings)
    pool = pools[split]
    clips = tf.constant(recordings["audio"][pool])
    filenames = tf.constant(recordings["filename"][pool])
    pool_labels = recordings["label"][pool]
    counts = np.bincount(pool_labels, minlength=10)
    table = np.zeros((10, counts.max()), np.int32)  # table[d, k]: k-th clip of digit d
    for digit in range(10):
        table[digit, :counts[digit]] = np.nonzero(pool_labels == digit)[0]
    table, counts = tf.constant(table), tf.constant(counts.astype(np.int32))

    images = tfds.load("mnist", split=_IMAGE_SPLITS[split], data_dir=str(path),
                       download=False, shuffle_files=False)
    seed_part = tf.constant(int(seed), tf.int64)
    split_part = tf.constant(SPLITS.index(split) << 32, tf.int64)
    projection = spectrogram_fn = None
    if variant == "multibench":
        projection = multibench.pca_projection(path, _IMAGE_SPLITS["train"])
        spectrogram_fn = multibench.spectrogram_fn(spectrogram, num_samples, SAMPLE_RATE,
                                                   SPECTROGRAM_SIZE)

    def pair(index, example):
        label = tf.cast(example["label"], tf.int32)
        draw = tf.random.stateless_uniform(
            [], seed=tf.stack([seed_part, split_part + index]), minval=0,
            maxval=counts[label], dtype=tf.int32)
        clip = table[label, draw]
        audio = tf.cast(tf.gather(clips, clip), tf.float32) / 32768.0
        image = tf.cast(example["image"], tf.float32) / 255.0
        if projection is not None:
            mean, basis = projection
            flat = tf.reshape(image, [1, 784]) - mean
            flat = tf.matmul(tf.matmul(flat, basis), basis, transpose_b=True) + mean
            image = tf.reshape(tf.clip_by_value(flat, 0.0, 1.0), [28, 28, 1])
            audio = spectrogram_fn(audio)
        out = {"image": image, "audio": audio, "label": tf.cast(example["label"], tf.int64)}
        if with_metadata:
            out["audio_filename"] = tf.gather(filenames, clip)
            out["image_index"] = index
        return out

    return images.enumerate().map(pair, num_parallel_calls=tf.data.AUTOTUNE,
                                  deterministic=True)


def recording_pools(data_dir=None, holdout="takes", test_speakers=("theo",), loaded=None):
    """Indices into the FSDD recordings (TFDS order) of each split's pool.

    Args:
        data_dir: the data folder (see `mmzoo.datasets.find_data_dir`).
        holdout: `"takes"` or `"speakers"` (see the module docstring).
        test_speakers: speakers held out for test when `holdout="speakers"`.
        loaded: the `recordings(...)` dict, if already read.

    Returns:
        dict split -> int array of recording indices; `recordings(data_dir)["filename"]`
        holds the matching file names. The pools are disjoint.

    Raises:
        ValueError: bad `holdout` or `test_speakers`, or a speaker not in FSDD.
        DataNotFoundError: the data is not prepared (when `loaded` is None).

    The example needs the data prepared locally:

    >>> pools = recording_pools("/path/to/data")  # doctest: +SKIP
    >>> {split: len(pool) for split, pool in pools.items()}  # doctest: +SKIP
    {'train': 2000, 'validation': 250, 'test': 250}
    """
    test_speakers = _check_options("default", holdout, test_speakers, NUM_SAMPLES,
                                   "log_mel", False)
    data = _recordings(_require(data_dir), NUM_SAMPLES) if loaded is None else loaded
    speakers, takes = data["speaker"], data["take"]
    if holdout == "takes":
        test = takes < 5
        validation = (takes >= 5) & (takes < 10)
    else:
        unknown = sorted(set(test_speakers) - set(speakers))
        if unknown:
            raise ValueError(
                f"Unknown test speaker(s) {unknown}. FSDD speakers: "
                f"{', '.join(sorted(set(speakers)))}. Received: test_speakers={test_speakers!r}"
            )
        test = np.isin(speakers, test_speakers)
        validation = ~test & (takes < 5)
    train = ~test & ~validation
    return {name: np.nonzero(mask)[0] for name, mask in
            (("train", train), ("validation", validation), ("test", test))}


def recordings(data_dir=None, num_samples=NUM_SAMPLES):
    """All FSDD recordings as numpy arrays, read once per folder and length (cached).

    Args:
        data_dir: the data folder (see `mmzoo.datasets.find_data_dir`).
        num_samples: clip length in samples at 8000 Hz (centre crop or zero padding).

    Returns:
        dict of arrays over the `n` recordings in TFDS order: `audio` int16
        `(n, num_samples)`, `filename` bytes, `label` int64, `speaker` str, `take` int.

    Raises:
        DataNotFoundError: `mnist` or `spoken_digit` is not prepared in the data dir.
        ValueError: a file name does not look like `{digit}_{speaker}_{take}.wav`.

    >>> data = recordings("/path/to/data")  # doctest: +SKIP
    >>> data["audio"].shape  # doctest: +SKIP
    (2500, 8000)
    """
    return _recordings(_require(data_dir), num_samples)


def _recordings(path, num_samples):
    key = (str(path), int(num_samples))
    with _lock:
        if key not in _recordings_cache:
            _recordings_cache[key] = _read_recordings(path, num_samples)
        return _recordings_cache[key]


def _read_recordings(path, num_samples):
    import tensorflow_datasets as tfds

    from mmzoo.preprocessing.audio import fix_length

    ds = tfds.load("spoken_digit", split="train", data_dir=str(path), download=False,
                   shuffle_files=False)

    def crop(example):
        audio = tf.cast(example["audio"], tf.int16)
        return {
            "audio": fix_length(audio, num_samples, mode="center"),
            "filename": example["audio/filename"],
            "label": example["label"],
        }

    ds = ds.map(crop, num_parallel_calls=tf.data.AUTOTUNE).batch(4096)
    parts = [tfds.as_numpy(batch) for batch in ds]
    data = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    names = [name.decode() for name in data["filename"]]
    stems = [name.rsplit(".", 1)[0].split("_") for name in names]
    if any(len(stem) != 3 or not stem[2].isdigit() for stem in stems):
        raise ValueError(
            "spoken_digit file names must look like '{digit}_{speaker}_{take}.wav'. "
            f"Received: e.g. {names[:3]}"
        )
    data["speaker"] = np.array([stem[1] for stem in stems])
    data["take"] = np.array([int(stem[2]) for stem in stems])
    data["label"] = data["label"].astype(np.int64)
    return data


def _check_options(variant, holdout, test_speakers, num_samples, spectrogram, with_metadata):
    if variant not in VARIANTS:
        raise ValueError(f"`variant` must be one of {VARIANTS}. Received: variant={variant!r}")
    if holdout not in HOLDOUTS:
        raise ValueError(f"`holdout` must be one of {HOLDOUTS}. Received: holdout={holdout!r}")
    if isinstance(test_speakers, str):
        test_speakers = (test_speakers,)
    if (not isinstance(test_speakers, (tuple, list)) or not test_speakers
            or not all(isinstance(s, str) for s in test_speakers)):
        raise ValueError(
            "`test_speakers` must be a non-empty tuple of speaker names. "
            f"Received: test_speakers={test_speakers!r}"
        )
    minimum = 3 * SPECTROGRAM_SIZE if variant == "multibench" else 1
    if (isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer))
            or num_samples < minimum):
        raise ValueError(
            f"`num_samples` must be an integer >= {minimum}. Received: num_samples={num_samples!r}"
        )
    if spectrogram not in SPECTROGRAMS:
        raise ValueError(
            f"`spectrogram` must be one of {SPECTROGRAMS}. Received: spectrogram={spectrogram!r}"
        )
    if not isinstance(with_metadata, bool):
        raise ValueError(
            f"`with_metadata` must be a bool. Received: with_metadata={with_metadata!r}"
        )
    return tuple(test_speakers)


def _missing(path):
    path = pathlib.Path(path)
    return [name for name in TFDS_NAMES if not any(path.glob(f"{name}/*/dataset_info.json"))]


def _require(data_dir):
    path = find_data_dir(data_dir)
    missing = _missing(path)
    if missing:
        raise DataNotFoundError(
            f"The {NAME!r} dataset needs the TFDS datasets 'mnist' and 'spoken_digit' "
            f"prepared in {path}, but {', '.join(repr(m) for m in missing)} is not there "
            f"(looked for {path}/<name>/<version>/dataset_info.json). Pass "
            f"data_dir=<folder>, or set the environment variable MMZOO_DATA_DIR to the "
            f"folder that holds tensorflow_datasets/ (with mnist/ and spoken_digit/ "
            f"inside). With internet access, tfds.load('mnist', data_dir=...) and "
            f"tfds.load('spoken_digit', data_dir=...) prepare them."
        )
    return path
