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

NAME = "embedded"
SPLITS = ("train", "validation", "test")
DEFAULT_SIZES = {"train": 3000, "validation": 500, "test": 1000}
MODALITIES = ("image", "audio", "text")
IMAGE_SIZE = 32
SAMPLE_RATE = 8000
NUM_SAMPLES = 8000
MAX_WORDS = 20

SHAPES = ("circle", "square", "triangle", "cross", "ring")
PITCHES = ("bass", "low", "mid", "high", "treble")
PITCH_HZ = (200.0, 300.0, 450.0, 675.0, 1012.5)
PLACES = ("forest", "harbor", "desert", "mountain", "city")
TIMBRES = ("tone", "chirp", "harmonic", "pulsed")

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

_PLACE_WORDS = (
    ("forest", "woods", "grove"),
    ("harbor", "port", "docks"),
    ("desert", "dunes", "sands"),
    ("mountain", "peak", "cliffs"),
    ("city", "town", "streets"),
)
_WORDS = {
    "colour": ("red", "green", "blue", "yellow", "purple", "orange", "white", "black",
               "grey", "pink"),
    "time": ("dawn", "noon", "dusk", "night", "midnight", "sunrise"),
    "weather": ("rain", "fog", "wind", "snow", "heat", "storm"),
    "adj": ("small", "large", "bright", "faint", "strange", "familiar", "odd", "quiet",
            "loud", "old"),
    "noun": ("signal", "object", "thing", "beacon", "marker", "token", "sign"),
    "verb": ("seen", "spotted", "found", "recorded", "noticed", "heard"),
    "prefix": ("", "", "", "", "field note :", "update :", "log entry :", "again ,"),
}
_INFORMATIVE = (
    "a {adj} {colour} {noun} was {verb} near the {place} at {time}",
    "someone {verb} a {colour} {noun} in the {place} during the {weather}",
    "{time} report : {adj} {noun} from the {place}",
    "the {noun} came from the {place} , {weather} all {time}",
    "spotted in the {place} at {time} : a {adj} {colour} {noun}",
    "they say this {adj} {noun} belongs to the {place}",
)
_VAGUE = (
    "a {adj} {colour} {noun} was {verb} somewhere at {time}",
    "{time} report : {adj} {noun} , location unknown",
    "nobody knows where this {adj} {noun} came from",
    "it was {weather} when someone {verb} a {colour} {noun}",
    "just a {adj} {colour} {noun} , nothing more to say",
    "a {noun} was {verb} during the {weather} , place not recorded",
)
_NEGATION_PROB = 0.1


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


def render_images(shape, visible, rng, size=IMAGE_SIZE):
    """Draws shape `shape[i]` (index in `SHAPES`) where `visible[i]`; float32 NHWC."""
    n = len(shape)
    grid = np.arange(size, dtype=np.float32) + 0.5
    yy, xx = grid[None, :, None], grid[None, None, :]
    radius = rng.uniform(6, 10, n).astype(np.float32)[:, None, None]
    cx = rng.uniform(radius, size - radius).astype(np.float32)
    cy = rng.uniform(radius, size - radius).astype(np.float32)
    angle = rng.uniform(-np.pi / 6, np.pi / 6, n).astype(np.float32)[:, None, None]
    cos, sin = np.cos(angle), np.sin(angle)
    u = ((xx - cx) * cos + (yy - cy) * sin) / radius  # rotated, in units of radius
    v = (-(xx - cx) * sin + (yy - cy) * cos) / radius
    dist = np.empty((n, size, size), np.float32)  # signed distance, in units of radius
    norm = np.sqrt(u * u + v * v)
    for index in range(len(SHAPES)):
        rows = shape == index
        if not rows.any():
            continue
        a, b, r = u[rows], v[rows], norm[rows]
        if SHAPES[index] == "circle":
            d = r - 1.0
        elif SHAPES[index] == "square":
            d = np.maximum(np.abs(a), np.abs(b)) - 0.8
        elif SHAPES[index] == "triangle":  # equilateral, circumradius 1.2
            d = np.max(
                [a * np.cos(t) + b * np.sin(t) for t in np.radians([270.0, 30.0, 150.0])],
                axis=0,
            ) - 0.6
        elif SHAPES[index] == "cross":
            d = np.minimum(
                np.maximum(np.abs(a) - 0.3, np.abs(b) - 1.0),
                np.maximum(np.abs(b) - 0.3, np.abs(a) - 1.0),
            )
        else:  # ring
            d = np.abs(r - 0.75) - 0.25
        dist[rows] = d
    alpha = np.clip(0.5 - dist * radius, 0.0, 1.0)  # one-pixel antialiased edge
    alpha *= np.asarray(visible, np.float32)[:, None, None]

    background = rng.uniform(0.0, 1.0, n)
    offset = rng.uniform(0.3, 0.6, n)
    can_up, can_down = background + offset <= 1.0, background - offset >= 0.0
    up = np.where(can_up & can_down, rng.random(n) < 0.5,
                  np.where(can_up | can_down, can_up, background < 0.5))
    foreground = np.clip(np.where(up, background + offset, background - offset), 0, 1)
    bg = np.clip(background[:, None] + _tint(rng, n, 0.15), 0, 1)
    fg = np.clip(foreground[:, None] + _tint(rng, n, 0.2), 0, 1)
    direction = rng.uniform(0, 2 * np.pi, n)
    slope = rng.uniform(0, 0.15, n) / size
    ramp = (np.cos(direction)[:, None, None] * (xx - size / 2)
            + np.sin(direction)[:, None, None] * (yy - size / 2)) * slope[:, None, None]
    image = bg[:, None, None, :] + ramp[..., None]
    image = image + alpha[..., None] * (fg - bg)[:, None, None, :]
    for i in range(n):  # speckles: 0-3 blobs of 2x2 pixels, too small to be shapes
        for _ in range(rng.integers(0, 4)):
            y0, x0 = rng.integers(0, size - 1, 2)
            image[i, y0:y0 + 2, x0:x0 + 2] = rng.uniform(0, 1, 3)
    sigma = rng.uniform(0.02, 0.08, n).astype(np.float32)
    image = image + rng.standard_normal(image.shape, dtype=np.float32) * sigma[:, None, None, None]
    # 8-bit levels, as images stored in files have: a PNG of an example decodes (and
    # scales by 1/255) to exactly this array, so serving from bytes matches training.
    # (`levels * (1 / 255)` in float32, as `tf.image.convert_image_dtype` scales.)
    levels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.float32)
    return levels * np.float32(1.0 / 255.0)


def render_audio(pitch, audible, rng, sample_rate=SAMPLE_RATE, num_samples=NUM_SAMPLES,
                 chunk=256):
    """Synthesizes a note of pitch `pitch[i]` (index in `PITCHES`) where `audible[i]`."""
    n = len(pitch)
    audible = np.asarray(audible, bool)
    f0 = np.asarray(PITCH_HZ)[pitch] * rng.uniform(0.97, 1.03, n)
    timbre = rng.integers(0, len(TIMBRES), n)
    onset = rng.uniform(0.0, 0.4, n)
    duration = rng.uniform(0.3, 0.55, n)
    loudness = rng.uniform(0.25, 0.7, n)
    phase0 = rng.uniform(0, 2 * np.pi, n)
    pulse_hz = rng.uniform(4, 10, n)
    burst = rng.uniform(0.05, 0.2, n)
    sigma = rng.uniform(0.005, 0.04, n)
    t = (np.arange(num_samples, dtype=np.float32) / sample_rate)[None, :]
    out = np.empty((n, num_samples), np.float32)
    for start in range(0, n, chunk):
        s = slice(start, start + chunk)

        def col(values, s=s):
            return values[s].astype(np.float32)[:, None]

        kind = timbre[s]
        tau = t - col(onset)
        dur = col(duration)
        envelope = np.clip(tau / 0.02, 0, 1) * np.clip((dur - tau) / 0.05, 0, 1)
        # chirps glide linearly from 0.9 f0 to 1.1 f0 over the note
        chirp = kind == 1
        tau_c = tau[chirp]
        warped = tau.copy()
        warped[chirp] = tau_c + 0.1 * tau_c * tau_c / dur[chirp] - 0.1 * tau_c
        phase = 2 * np.pi * col(f0) * warped + col(phase0)
        wave = np.sin(phase)
        rows = kind == 2  # harmonic stack: partials 1-4 with amplitudes 1/h
        wave[rows] = (wave[rows] + sum(np.sin(h * phase[rows]) / h for h in range(2, 5))) / 1.6
        rows = kind == 3  # tone pulsed at 4-10 Hz
        wave[rows] *= 0.5 + 0.5 * np.sin(2 * np.pi * col(pulse_hz)[rows] * tau[rows])
        note = col(loudness * audible) * envelope * wave
        # silent examples get a noise burst in place of the note
        noise_level = col(sigma) + col(burst * ~audible) * envelope
        noise = rng.standard_normal(note.shape, dtype=np.float32)
        out[s] = np.clip(note + noise_level * noise, -1.0, 1.0)
    return out


def render_text(place, informative, rng):
    """Writes a sentence naming place `place[i]` (index in `PLACES`) where `informative[i]`."""
    sentences = np.empty(len(place), dtype=object)
    for i, (p, keep) in enumerate(zip(place, informative)):
        words = {key: values[rng.integers(len(values))] for key, values in _WORDS.items()}
        template = _INFORMATIVE if keep else _VAGUE
        words["place"] = _pick(_PLACE_WORDS[p], rng)
        sentence = template[rng.integers(len(template))].format(**words)
        if keep and rng.random() < _NEGATION_PROB:
            other = (p + rng.integers(1, len(PLACES))) % len(PLACES)
            sentence += " , not the " + _pick(_PLACE_WORDS[other], rng)
        if words["prefix"]:
            sentence = words["prefix"] + " " + sentence
        sentences[i] = sentence[0].upper() + sentence[1:]
    return sentences


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


def _tint(rng, n, scale):
    """Zero-mean colour offsets, so a colour's mean intensity is what was drawn."""
    tint = rng.uniform(-scale, scale, (n, 3))
    return tint - tint.mean(axis=1, keepdims=True)


def _pick(values, rng):
    return values[rng.integers(len(values))]


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
