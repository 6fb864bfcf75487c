"""Rendering of the embedded dataset's modalities from its latent factors, with numpy.

`render_images`, `render_audio` and `render_text` draw the shape, play the pitch and
write the place of each example; `mmzoo.datasets.embedded` samples the factors and
documents the dataset.

>>> import numpy as np
>>> from mmzoo.datasets.embedded_render import render_audio, render_images, render_text
>>> rng = np.random.default_rng(0)
>>> render_images(np.array([0, 4]), np.array([True, False]), rng).shape
(2, 32, 32, 3)
>>> render_audio(np.array([2]), np.array([True]), rng).shape
(1, 8000)
>>> len(render_text(np.array([1]), np.array([True]), rng)[0].split()) <= 20
True
"""

import numpy as np

IMAGE_SIZE = 32
SAMPLE_RATE = 8000
NUM_SAMPLES = 8000

SHAPES = ("circle", "square", "triangle", "cross", "ring")
PITCHES = ("bass", "low", "mid", "high", "treble")
PITCH_HZ = (200.0, 300.0, 450.0, 675.0, 1012.5)
PLACES = ("forest", "harbor", "desert", "mountain", "city")
TIMBRES = ("tone", "chirp", "harmonic", "pulsed")

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


def render_images(shape, visible, rng, size=IMAGE_SIZE):
    """Draws shape `shape[i]` (index in `SHAPES`) where `visible[i]`.

    Args:
        shape: int array `(n,)` of indices in `SHAPES`.
        visible: bool array `(n,)`; False draws the background only.
        rng: a `numpy.random.Generator`.
        size: image height and width in pixels.

    Returns:
        float32 `(n, size, size, 3)` in [0, 1], on 8-bit levels (multiples of 1/255).
    """
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
    """Synthesizes a note of pitch `pitch[i]` (index in `PITCHES`) where `audible[i]`.

    Args:
        pitch: int array `(n,)` of indices in `PITCHES` (`PITCH_HZ` in Hz).
        audible: bool array `(n,)`; False gives a noise burst in place of the note.
        rng: a `numpy.random.Generator`.
        sample_rate: samples per second (Hz).
        num_samples: length of each waveform in samples.
        chunk: examples synthesized at a time (bounds memory).

    Returns:
        float32 `(n, num_samples)` in [-1, 1].
    """
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
    """Writes a sentence naming place `place[i]` (index in `PLACES`) where `informative[i]`.

    Args:
        place: int array `(n,)` of indices in `PLACES`.
        informative: bool array `(n,)`; False writes a sentence that names no place.
        rng: a `numpy.random.Generator`.

    Returns:
        An object array of `n` Python strings of at most 20 words (`embedded.MAX_WORDS`).
    """
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


def _tint(rng, n, scale):
    """Zero-mean colour offsets, so a colour's mean intensity is what was drawn."""
    tint = rng.uniform(-scale, scale, (n, 3))
    return tint - tint.mean(axis=1, keepdims=True)


def _pick(values, rng):
    return values[rng.integers(len(values))]
