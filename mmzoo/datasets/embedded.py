"""The embedded default dataset: image + text + audio, made locally with numpy.

No download and no data files: every split is generated in a couple of seconds,
deterministically from `seed` (same seed, same arrays; another seed, other arrays;
the three splits come from separate random streams).

Each example has a 10-class `label` and three modalities:

- `"image"`: float32 `(32, 32, 3)` in [0, 1]. One filled shape (circle, square,
  triangle, cross or ring) of random colour, size (radius 6-10 px), position and
  rotation (+-30 degrees) on a background of random colour with a random linear
  gradient, Gaussian noise and a few 2x2 speckles. The shape's mean intensity differs
  from the background's by 0.3-0.6 (less only where clipped to [0, 1]).
- `"audio"`: float32 `(8000,)` in [-1, 1], one second at 8 kHz. One note with a
  random onset (0-0.4 s), duration (0.3-0.55 s), loudness (0.25-0.7), timbre (pure
  tone, +-10 % chirp, harmonic stack of 4 partials, or a tone pulsed at 4-10 Hz) and
  a fundamental of 200, 300, 450, 675 or 1012.5 Hz (+-3 % jitter), over white noise.
- `"text"`: tf.string scalar, a sentence of at most 20 words from a small template
  grammar, e.g. "Spotted in the grove at dusk : a faint purple marker". Colours,
  times, weather, adjectives, nouns and verbs are random distractors; the only
  informative words are the *place* words (5 places, 3 synonyms each). One in ten
  informative sentences adds a negated second place ("..., not the docks").

The class of an example fixes three attributes, each shown by one modality:

    label  class name                shape (image)  pitch (audio)    place (text)
    0      circle_bass_forest        circle         bass    200 Hz   forest
    1      circle_low_harbor         circle         low     300 Hz   harbor
    2      square_mid_city           square         mid     450 Hz   city
    3      square_high_forest        square         high    675 Hz   forest
    4      triangle_treble_mountain  triangle       treble 1012 Hz   mountain
    5      triangle_bass_city        triangle       bass    200 Hz   city
    6      cross_low_desert          cross          low     300 Hz   desert
    7      cross_mid_mountain        cross          mid     450 Hz   mountain
    8      ring_high_harbor          ring           high    675 Hz   harbor
    9      ring_treble_desert        ring           treble 1012 Hz   desert

Each attribute splits the 10 classes into 5 pairs (shape = label // 2, pitch =
label % 5, place = a third pairing sharing no pair with the other two), so one
modality alone narrows the label down to 2 classes, and **any two** modalities pin it
down. Two nuisances make every modality unreliable on its own:

- *weak modality* (`weak_prob`, default 0.75): in that fraction of examples one
  modality, chosen uniformly, carries no class information: the image shows no shape
  (background only), the audio holds only a noise burst, the text names no place
  ("... location unknown").
- *corrupted modality* (`corrupt_prob`, default 0.1): in that fraction of examples one
  other modality shows the attribute of a different, uniformly drawn class.

So a single modality is right at most about 40 % of the time, a pair about 70 %
(when one of its two modalities is weak the pair is back to a coin flip between two
classes), and all three about 93 % (the Bayes rates of an ideal attribute reader,
`oracle_predict`). With three modalities the weak one is covered by the other two.
Small Keras models trained on the default train split (3,000 examples,
`benchmarks/embedded_baselines.py`, seed 0) reach on the test split: image 0.37,
text 0.35, audio 0.40; image+text 0.69, image+audio 0.68, text+audio 0.70; all three
0.89 (late fusion by concatenation).

Example:

>>> from mmzoo.datasets.embedded import load_numpy, CLASS_NAMES
>>> features, labels = load_numpy("validation", seed=0, num_examples=20)
>>> sorted(features), features["image"].shape, features["audio"].shape
(['audio', 'image', 'text'], (20, 32, 32, 3), (20, 8000))
>>> labels.dtype.name, len(CLASS_NAMES)
('int64', 10)
"""

import numpy as np

from mmzoo.datasets.embedded_render import (  # noqa: F401  (re-exported)
    _PLACE_WORDS,
    IMAGE_SIZE,
    NUM_SAMPLES,
    PITCH_HZ,
    PITCHES,
    PLACES,
    SAMPLE_RATE,
    SHAPES,
    TIMBRES,
    render_audio,
    render_images,
    render_text,
)

NAME = "embedded"
SPLITS = ("train", "validation", "test")
DEFAULT_SIZES = {"train": 3000, "validation": 500, "test": 1000}
MODALITIES = ("image", "audio", "text")
MAX_WORDS = 20

CLASS_SHAPE = np.arange(10) // 2
CLASS_PITCH = np.arange(10) % 5
CLASS_PLACE = np.array([0, 1, 4, 0, 3, 4, 2, 3, 1, 2])
CLASS_NAMES = tuple(
    f"{SHAPES[s]}_{PITCHES[p]}_{PLACES[q]}"
    for s, p, q in zip(CLASS_SHAPE, CLASS_PITCH, CLASS_PLACE)
)
NUM_CLASSES = len(CLASS_NAMES)

DESCRIPTION = (
    "Synthetic image (shape) + audio (pitch) + text (place) dataset made locally with "
    "numpy; each modality alone names a pair of classes, any two name the class, and "
    "one modality is often weak or corrupted, so all three are needed."
)


def info(**options):
    """Fields of the `DatasetInfo` (options do not change shapes)."""
    return {
        "description": DESCRIPTION,
        "modalities": {
            "image": {"shape": (IMAGE_SIZE, IMAGE_SIZE, 3)},
            "text": {"max_words": MAX_WORDS},
            "audio": {"sample_rate": SAMPLE_RATE, "num_samples": NUM_SAMPLES},
        },
        "class_names": CLASS_NAMES,
        "splits": SPLITS,
    }


def load(split="train", data_dir=None, seed=0, num_examples=None, num_train=None,
         num_validation=None, num_test=None, weak_prob=0.75, corrupt_prob=0.1):
    """A `tf.data.Dataset` of unbatched example dicts for one split.

    `data_dir` is accepted for a uniform signature and ignored. The size is
    `num_examples`, else `num_<split>`, else the split's default size. The other
    arguments are those of `load_numpy`.
    """
    import tensorflow as tf

    split = _check_split(split)
    sizes = {"train": num_train, "validation": num_validation, "test": num_test}
    if num_examples is None:
        num_examples = sizes[split]
    features, labels = load_numpy(split, seed=seed, num_examples=num_examples,
                                  weak_prob=weak_prob, corrupt_prob=corrupt_prob)
    return tf.data.Dataset.from_tensor_slices({
        "image": features["image"],
        "text": tf.constant(list(features["text"]), dtype=tf.string),
        "audio": features["audio"],
        "label": labels,
    })


def load_numpy(split="train", seed=0, num_examples=None, weak_prob=0.75,
               corrupt_prob=0.1, return_factors=False):
    """Generates one split as numpy arrays.

    Args:
        split: `"train"`, `"validation"` or `"test"`.
        seed: integer; the same seed gives identical arrays.
        num_examples: number of examples; `None` means the default size of the split
            (train 3000, validation 500, test 1000).
        weak_prob: fraction of examples in which one modality carries no class
            information.
        corrupt_prob: fraction of examples in which one (other) modality shows another
            class's attribute.
        return_factors: also return the latent factors (per-example dict of arrays:
            `label`, `shape`, `pitch`, `place`, `weak`, `corrupt`, `source`), e.g. to
            compute oracle accuracies.

    Returns:
        `(features, labels)`, or `(features, labels, factors)`: `features` is a dict
        with `"image"` float32 `(n, 32, 32, 3)`, `"audio"` float32 `(n, 8000)` and
        `"text"` an object array of `n` Python strings; `labels` is int64 `(n,)`.
    """
    split = _check_split(split)
    if num_examples is None:
        num_examples = DEFAULT_SIZES[split]
    _check_int("num_examples", num_examples, minimum=1)
    _check_int("seed", seed, minimum=0)
    _check_prob("weak_prob", weak_prob)
    _check_prob("corrupt_prob", corrupt_prob)
    if not isinstance(return_factors, bool):
        raise ValueError(
            f"`return_factors` must be a bool. Received: return_factors={return_factors!r}"
        )

    streams = np.random.SeedSequence([int(seed), SPLITS.index(split), 0x6D6D7A6F]).spawn(4)
    rng_factors, rng_image, rng_audio, rng_text = (np.random.default_rng(s) for s in streams)
    factors = sample_factors(num_examples, rng_factors, weak_prob, corrupt_prob)
    features = {
        "image": render_images(factors["shape"], factors["weak"] != 0, rng_image),
        "audio": render_audio(factors["pitch"], factors["weak"] != 1, rng_audio),
        "text": render_text(factors["place"], factors["weak"] != 2, rng_text),
    }
    labels = factors["label"].astype(np.int64)
    if return_factors:
        return features, labels, factors
    return features, labels


def sample_factors(n, rng, weak_prob=0.75, corrupt_prob=0.1):
    """Latent factors of `n` examples: labels (balanced), weak/corrupted modalities.

    `weak` and `corrupt` hold the index in `MODALITIES` of the weak / corrupted
    modality, or -1. `source` `(n, 3)` is the class whose attribute each modality
    shows (the label except where corrupted).
    """
    labels = rng.permutation(np.arange(n) % NUM_CLASSES)
    weak = np.where(rng.random(n) < weak_prob, rng.integers(0, 3, n), -1)
    corrupt = rng.integers(0, 3, n)
    clash = corrupt == weak
    corrupt[clash] = (corrupt[clash] + rng.integers(1, 3, clash.sum())) % 3
    corrupt = np.where(rng.random(n) < corrupt_prob, corrupt, -1)
    other = (labels + rng.integers(1, NUM_CLASSES, n)) % NUM_CLASSES
    source = np.repeat(labels[:, None], 3, axis=1)
    rows = np.nonzero(corrupt >= 0)[0]
    source[rows, corrupt[rows]] = other[rows]
    return {
        "label": labels,
        "weak": weak,
        "corrupt": corrupt,
        "source": source,
        "shape": CLASS_SHAPE[source[:, 0]],
        "pitch": CLASS_PITCH[source[:, 1]],
        "place": CLASS_PLACE[source[:, 2]],
    }


def oracle_predict(factors, modalities=MODALITIES, weak_prob=0.75, corrupt_prob=0.1):
    """Bayes-optimal labels from the attributes that `modalities` show.

    An ideal reader that recognises every shape, pitch and place word perfectly (and
    knows when a modality is weak) but does not know which modality is corrupted.
    Its accuracy is the ceiling for any model fed those modalities.

    Args:
        factors: the dict returned by `load_numpy(..., return_factors=True)`.
        modalities: the modalities the reader sees, a subset of `MODALITIES`.
        weak_prob, corrupt_prob: the values the data was generated with.

    Returns:
        int64 array of predicted labels (ties broken towards the smaller label).
    """
    unknown = sorted(set(modalities) - set(MODALITIES))
    if unknown or not modalities:
        raise ValueError(
            f"`modalities` must be a non-empty subset of {MODALITIES}. "
            f"Received: modalities={modalities!r}"
        )
    attributes = (CLASS_SHAPE, CLASS_PITCH, CLASS_PLACE)
    keys = ("shape", "pitch", "place")
    seen = [MODALITIES.index(m) for m in modalities]
    observed = [np.where(factors["weak"] == k, -1, factors[keys[k]]) for k in range(3)]
    likelihood = np.zeros((len(factors["label"]), NUM_CLASSES))
    for weak in (-1, 0, 1, 2):
        p_weak = 1 - weak_prob if weak < 0 else weak_prob / 3
        for corrupt in (-1, 0, 1, 2):
            if corrupt >= 0 and corrupt == weak:
                continue
            p_corrupt = 1 - corrupt_prob if corrupt < 0 else corrupt_prob / (3 if weak < 0 else 2)
            for label in range(NUM_CLASSES):
                p = np.full(len(factors["label"]), p_weak * p_corrupt)
                for k in seen:
                    value = attributes[k][label]
                    if k == weak:
                        p = p * (observed[k] == -1)
                    elif k == corrupt:  # another class drawn uniformly: 2 classes per value
                        p = p * (observed[k] >= 0) * (2.0 - (observed[k] == value)) / 9.0
                    else:
                        p = p * (observed[k] == value)
                likelihood[:, label] += p
    return likelihood.argmax(axis=1).astype(np.int64)


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(
            f"Unknown split {split!r} of the {NAME!r} dataset. Valid splits: "
            f"{', '.join(SPLITS)}. Received: split={split!r}"
        )
    return split


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
        )


def _check_prob(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"`{name}` must be a number in [0, 1]. Received: {name}={value!r}")
