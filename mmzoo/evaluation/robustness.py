"""Robustness to noise, as MultiBench measures it: the main metric against ten noise
levels per modality input, with the relative and effective robustness numbers.

Source: Liang et al. 2021, "MultiBench: Multiscale Benchmarks for Multimodal
Representation Learning" (NeurIPS Datasets and Benchmarks), section 3 ("Robustness")
and its `eval_scripts/robustness.py`. MultiBench corrupts one modality at a time at
evenly spaced imperfection levels, plots the performance at each, and sums the curve
up by two numbers, defined at `relative_robustness` and `effective_robustness`.

The noise of each modality works on a batch of *preprocessed* model tensors (what
`mmzoo.training.inputs.eval_dataset` yields), with TensorFlow's stateless random ops
so it runs inside `tf.data` and the same seed gives the same noise:

- image (`gaussian_image_noise`): Gaussian noise of std sigma added to the pixels
  (in [0, 1]), then clipped to [0, 1]; sigma = t: 0.1, 0.2, ..., 1.0.
- audio (`white_audio_noise`): white Gaussian noise at a signal-to-noise ratio per
  example of SNR = 35 - 50 t dB: 30, 25, ..., -15 dB.
- text (`drop_tokens`): each real token dropped with probability p = t: 0.1, ...,
  1.0, the remaining tokens packed left (a shorter text).

where the severity t = k / 10 at level k = 1..10 (`levels` = n other than 10: t = k / n,
the same end points).

Level 0 (t = 0) is the clean input, so every curve has 11 points. The levels run from
slight to destroyed, as MultiBench's imperfection levels 0.1..1 do: sigma = 0.1 is a
tenth of the pixel range (well below the 0.3-0.6 contrast of the embedded dataset's
shapes) and sigma = 1.0 buries every pixel under noise of the whole range; 30 dB is
faint noise (1/1000 of the signal's power), -15 dB noise with 30 times its power,
in 5 dB steps; p = 1 leaves no word. On the demo model (`configs/demo.yaml`) every
curve falls from 0.89 clean to 0.60-0.68 at level 10: what the other two modalities
still give.

Reproducibility: the noise of batch `b` at level `k` comes from `noise_seed(seed, k, b)`
(a stateless seed, folded from the three integers), so a curve is the same in every run
with the same `seed`, whatever the order the levels are computed in.

>>> import numpy as np, tensorflow as tf
>>> ids = tf.constant([[5, 6, 7, 8, 0, 0]])  # right-padded with 0
>>> drop_tokens(ids, 1.0, noise_seed(0, 10)).numpy().tolist()  # every real token gone
[[0, 0, 0, 0, 0, 0]]
>>> kept = drop_tokens(ids, 0.5, noise_seed(0, 5)).numpy()[0]
>>> bool(np.all(np.diff(kept[kept > 0]) > 0)), int(kept[-1])  # order kept, padded right
(True, 0)
>>> round(relative_robustness([0.9, 0.8, 0.7]), 3)  # area under the curve, t in [0, 1]
0.8
>>> round(effective_robustness([0.9, 0.8, 0.7], baseline=0.1), 3)  # above 0.9 -> 0.1 line
0.9
"""

import math

import numpy as np
import tensorflow as tf

from mmzoo.evaluation.metrics import MAIN_METRIC, main_value
from mmzoo.evaluation.predictions import Predictions, collect

#: The audio noise floor: the signal power (mean square, full scale 1) used for a
#: waveform quieter than this (e.g. silence): its noise is that of a -40 dBFS signal.
MIN_SIGNAL_POWER = 1e-4

#: The noise of each modality, as the curves name it.
NOISE_NAMES = {
    "image": "Gaussian noise std",
    "audio": "white noise SNR (dB)",
    "text": "token drop probability",
}

#: Audio SNR (dB) at severity t: 35 - 50 t (30 dB at t = 0.1, -15 dB at t = 1).
_SNR_AT_ZERO_DB, _SNR_SPAN_DB = 35.0, 50.0

_graph_code = tf.autograph.experimental.do_not_convert


# --- noise ----------------------------------------------------------------------------


def noise_seed(seed, level, batch=0):
    """The stateless seed of the noise of one batch at one level.

    Args:
        seed: the curves' seed, an int.
        level: the level index (1..levels; 0 is clean), an int or int tensor.
        batch: the batch index in the dataset, an int or int tensor.

    Returns:
        An int64 tensor of shape `(2,)` for `tf.random.stateless_*` ops, derived from
        `(seed, level)` with the batch index folded in
        (`tf.random.experimental.stateless_fold_in`).

    >>> bool(tf.reduce_all(noise_seed(0, 1) == noise_seed(0, 1)))
    True
    >>> bool(tf.reduce_all(noise_seed(0, 1) == noise_seed(0, 2)))
    False
    """
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(level, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, tf.cast(batch, tf.int64))


@_graph_code
def gaussian_image_noise(images, std, seed):
    """Adds Gaussian noise of standard deviation `std` to images, then clips to [0, 1].

    Args:
        images: float tensor `(batch, height, width, channels)` with pixels in [0, 1]
            (any shape works: each value gets its own noise).
        std: the noise's standard deviation, in pixel units (1 = the whole range).
        seed: a stateless seed, shape `(2,)` (`noise_seed`).

    Returns:
        float32 tensor of the shape of `images`: `clip(images + std * n, 0, 1)`,
        `n ~ N(0, 1)` independent per value.

    >>> noisy = gaussian_image_noise(tf.fill([1, 2, 2, 1], 0.5), 0.1, noise_seed(0, 1))
    >>> tuple(noisy.shape), bool(tf.reduce_all((noisy >= 0) & (noisy <= 1)))
    ((1, 2, 2, 1), True)
    """
    images = tf.cast(images, tf.float32)
    noise = tf.random.stateless_normal(tf.shape(images), seed, dtype=tf.float32)
    return tf.clip_by_value(images + tf.cast(std, tf.float32) * noise, 0.0, 1.0)


@_graph_code
def white_audio_noise(waveforms, snr_db, seed, min_power=MIN_SIGNAL_POWER):
    """Adds white Gaussian noise to each waveform at a signal-to-noise ratio in dB.

    The noise power of an example is its signal power (the mean square of its
    samples, padding included) over `10 ** (snr_db / 10)`: `SNR = 10 log10(P_signal /
    P_noise)`. A signal quieter than `min_power` (silence) counts as `min_power`, so
    noise still appears. The result is not clipped, so the SNR holds exactly in
    expectation (at low SNR the samples leave [-1, 1]).

    Args:
        waveforms: float tensor `(batch, samples)` (further axes are allowed: the
            power is taken over all axes but the first).
        snr_db: the signal-to-noise ratio in dB (e.g. 30 = faint noise, -15 = noise
            30 times stronger than the signal).
        seed: a stateless seed, shape `(2,)` (`noise_seed`).
        min_power: the floor of the signal power (full scale 1).

    Returns:
        float32 tensor of the shape of `waveforms`.

    >>> tone = tf.sin(tf.range(8000, dtype=tf.float32) * 0.3)[None] * 0.5
    >>> noisy = white_audio_noise(tone, 10.0, noise_seed(0, 1))
    >>> snr = 10 * np.log10(np.mean(tone.numpy() ** 2) / np.mean((noisy - tone).numpy() ** 2))
    >>> round(float(snr))
    10
    """
    waveforms = tf.cast(waveforms, tf.float32)
    axes = tf.range(1, tf.rank(waveforms))
    power = tf.maximum(tf.reduce_mean(tf.square(waveforms), axis=axes, keepdims=True),
                       min_power)
    noise_power = power / tf.pow(10.0, tf.cast(snr_db, tf.float32) / 10.0)
    noise = tf.random.stateless_normal(tf.shape(waveforms), seed, dtype=tf.float32)
    return waveforms + tf.sqrt(noise_power) * noise


@_graph_code
def drop_tokens(token_ids, probability, seed, padding_id=0, kept_ids=()):
    """Drops each real token with probability `probability`; the rest move left.

    The result looks like a shorter text (MultiBench's word drop): the surviving
    tokens keep their order, packed at the start, and the end is padding. Padding
    and the ids in `kept_ids` (a preset tokenizer's start/end tokens) are never
    dropped.

    Args:
        token_ids: int tensor `(batch, length)`, right-padded with `padding_id`.
        probability: the drop probability of each real token, in [0, 1]; 1 drops
            them all.
        seed: a stateless seed, shape `(2,)` (`noise_seed`).
        padding_id: the padding id (0 for `TextTokenizer`, the `padding_id` of a
            `PresetTokenizer`).
        kept_ids: ids never dropped (e.g. `[CLS]`, `[SEP]`).

    Returns:
        A tensor like `token_ids` (same shape and dtype).

    >>> drop_tokens(tf.constant([[2, 5, 6, 3, 0]]), 1.0, noise_seed(0, 1),
    ...             kept_ids=[2, 3]).numpy().tolist()
    [[2, 3, 0, 0, 0]]
    """
    token_ids = tf.convert_to_tensor(token_ids)
    pad = tf.cast(padding_id, token_ids.dtype)
    present = tf.not_equal(token_ids, pad)  # padding is not kept in place: re-padded
    real = present
    for kept in kept_ids:
        real = real & tf.not_equal(token_ids, tf.cast(kept, token_ids.dtype))
    draws = tf.random.stateless_uniform(tf.shape(token_ids), seed, dtype=tf.float32)
    dropped = real & (draws < tf.cast(probability, tf.float32))
    keep = present & tf.logical_not(dropped)
    packed = tf.ragged.boolean_mask(token_ids, keep)
    out = packed.to_tensor(default_value=pad, shape=tf.shape(token_ids, out_type=tf.int64))
    out.set_shape(token_ids.shape)
    return out


# --- levels ---------------------------------------------------------------------------


def severities(levels=10):
    """The severity `t` of each level: `[0, 1/levels, ..., 1]` (0 = clean).

    >>> severities(4)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    levels = _check_levels(levels)
    return [k / levels for k in range(levels + 1)]


def noise_levels(modality, levels=10):
    """The noise parameter of each level of a modality, clean level first.

    Args:
        modality: `"image"` (Gaussian noise std), `"audio"` (SNR in dB; clean is
            `math.inf`) or `"text"` (token drop probability).
        levels: the number of noisy levels.

    Returns:
        A list of `levels + 1` floats.

    Raises:
        ValueError: an unknown modality.

    >>> noise_levels("audio", 10)[:3], noise_levels("audio", 10)[-1]
    ([inf, 30.0, 25.0], -15.0)
    """
    if modality not in NOISE_NAMES:
        raise ValueError(f"No noise is defined for modality {modality!r}; expected one of "
                         f"{sorted(NOISE_NAMES)}. Received: modality={modality!r}")
    values = []
    for t in severities(levels):
        if modality == "audio":
            values.append(math.inf if t == 0 else round(_SNR_AT_ZERO_DB - _SNR_SPAN_DB * t, 6))
        else:
            values.append(round(t, 6))
    return values


def _check_levels(levels):
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"`levels` must be a positive int. Received: levels={levels!r}")
    return levels


# --- robustness numbers ---------------------------------------------------------------


def relative_robustness(values):
    """MultiBench's relative robustness: the area under the performance curve.

    `values[i]` is the metric at severity `t_i = i / (n - 1)` (`values[0]` clean,
    `values[-1]` the strongest noise); the area over `t` in [0, 1] by the trapezoid
    rule:

        RR = sum_{i=0}^{n-2} (values[i] + values[i+1]) / 2 * 1 / (n - 1)

    With 11 points this is MultiBench's `relative_robustness_helper` (step 0.1). It is
    in the metric's units: an accuracy that stays at `a` gives `a`. MultiBench then
    min-max normalizes it over the methods compared; with a single model there is
    nothing to normalize against, so the raw area is returned. For an error metric
    (regression's MAE) smaller means more robust.

    Source: Liang et al. 2021, MultiBench, section 3 and `eval_scripts/robustness.py`.

    Args:
        values: the metric at evenly spaced noise levels, clean first (>= 2 values).

    Returns:
        A float.

    Raises:
        ValueError: fewer than 2 values.

    >>> relative_robustness([1.0, 0.5, 0.0])
    0.5
    """
    values = _curve(values)
    step = 1.0 / (len(values) - 1)
    return float(np.sum((values[:-1] + values[1:]) / 2.0) * step)


def effective_robustness(values, reference=None, baseline=None, higher_is_better=True):
    """MultiBench's effective robustness: the performance kept beyond a reference trend.

    MultiBench (after Taori et al. 2020, "Measuring Robustness to Natural Distribution
    Shifts in Image Classification") compares a curve `f` with a reference curve `r`
    shifted to start at the same clean value, and sums the difference over the
    levels:

        ER = sum_i (f_i - (r_i - r_0 + f_0))

    MultiBench's reference is the late-fusion model's curve on the same task. A
    single model has no peer to compare with, so give either:

    - `reference`: a reference curve (e.g. a late-fusion model's), as MultiBench; or
    - `baseline`: the metric of the best constant prediction (chance accuracy, see
      `curves`); the reference is then the straight line from the clean value at
      severity 0 to `baseline` at severity 1, `r_i = f_0 + (baseline - f_0) i / (n-1)`:
      the curve of a model that loses its skill evenly until it is no better than
      chance. `ER > 0`: the model degrades more slowly than that line (its curve
      bows above it, e.g. because the other modalities carry it); `ER < 0`: faster.

    For an error metric (`higher_is_better=False`, e.g. MAE) the sign is flipped, so
    a positive number means more robust than the reference in both cases. The sum
    (not mean) follows MultiBench: it grows with the number of levels.

    Source: Liang et al. 2021, MultiBench, section 3 and `eval_scripts/robustness.py`
    (`effective_robustness_helper`).

    Args:
        values: the metric at evenly spaced noise levels, clean first (>= 2 values).
        reference: a reference curve of the same length.
        baseline: the metric's chance value (instead of `reference`).
        higher_is_better: False for error metrics.

    Returns:
        A float.

    Raises:
        ValueError: neither or both of `reference` and `baseline`, or a `reference`
            of another length.

    >>> effective_robustness([0.8, 0.7, 0.6], reference=[0.9, 0.7, 0.5])
    0.3
    """
    values = _curve(values)
    if (reference is None) == (baseline is None):
        raise ValueError("Give exactly one of `reference` (a reference curve) and `baseline` "
                         f"(the chance value). Received: reference={reference!r}, "
                         f"baseline={baseline!r}")
    if reference is not None:
        reference = _curve(reference, "reference")
        if len(reference) != len(values):
            raise ValueError(f"`reference` needs one value per level ({len(values)}). "
                             f"Received: {len(reference)} values")
        trend = reference - reference[0] + values[0]
    else:
        severity = np.linspace(0.0, 1.0, len(values))
        trend = values[0] + (float(baseline) - values[0]) * severity
    difference = float(np.sum(values - trend))
    return round(difference if higher_is_better else -difference, 12)


def _curve(values, what="values"):
    values = np.asarray(values, dtype="float64").reshape(-1)
    if len(values) < 2:
        raise ValueError(f"`{what}` needs the clean value and at least one noise level. "
                         f"Received: {values.tolist()}")
    return values


# --- curves ---------------------------------------------------------------------------


def chance_value(predictions):
    """The main metric of the best constant prediction on `predictions`' labels.

    Multiclass and binary: the accuracy of always predicting the most frequent class;
    multilabel: the macro F1 of predicting every label (per label the better
    constant); regression: the MAE of always predicting the labels' median.

    Args:
        predictions: a `Predictions` (only its labels are read).

    Returns:
        A float.

    >>> p = Predictions("multiclass", [], np.array([0, 1, 1, 2]), np.zeros((4, 3)))
    >>> chance_value(p)
    0.5
    """
    kind, labels = predictions.kind, predictions.y_true
    if kind in ("multiclass", "binary"):
        counts = np.bincount(labels, minlength=2)
        if kind == "binary":
            constant = np.full(len(labels), float(np.argmax(counts)))
        else:
            constant = np.zeros((len(labels), max(len(counts), predictions.y_pred.shape[-1])))
            constant[:, np.argmax(counts)] = 1.0
    elif kind == "multilabel":
        constant = np.ones(labels.shape)
    else:
        constant = np.broadcast_to(np.median(labels, axis=0), labels.shape)
    return main_value(Predictions(kind, predictions.class_names, labels, constant))


def _noise_kind(preprocessor, name, element_spec):
    """The modality of input `name` and the noise's extra arguments; raises if the
    input is not a preprocessed image, waveform or token-id tensor."""
    from mmzoo.preprocessing.preprocessor import AudioPreprocessing, ImagePreprocessing
    from mmzoo.preprocessing.preset_text import PresetTokenizer
    from mmzoo.preprocessing.text import TextTokenizer

    modality = preprocessor.modality(name)
    layer = preprocessor.layers[name]
    spec = element_spec[0].get(name) if isinstance(element_spec, tuple) else None
    if spec is None:
        raise ValueError(f"The dataset must yield (features, label) batches with input {name!r}. "
                         f"Received: a dataset of {element_spec!r}")
    expected = {
        "image": (ImagePreprocessing, 4, "floating",
                  "an image batch (batch, height, width, channels) of an ImagePreprocessing"),
        "audio": (AudioPreprocessing, 2, "floating",
                  "a waveform batch (batch, samples) of an AudioPreprocessing"),
        "text": ((TextTokenizer, PresetTokenizer), 2, "integer",
                 "token ids (batch, length) of a TextTokenizer or PresetTokenizer"),
    }
    if modality not in expected:
        raise ValueError(f"Input {name!r} has modality {modality!r}, which has no noise; "
                         f"expected one of {sorted(expected)}. Received: {modality!r}")
    classes, rank, dtype_kind, description = expected[modality]
    dtype_ok = (spec.dtype.is_floating if dtype_kind == "floating" else spec.dtype.is_integer)
    if not isinstance(layer, classes) or spec.shape.rank != rank or not dtype_ok:
        raise ValueError(
            f"The {NOISE_NAMES[modality]} of input {name!r} ({modality}) needs {description}. "
            f"Received: a {type(layer).__name__} input, tensors of shape {spec.shape} and "
            f"dtype {spec.dtype.name}")
    extra = {}
    if modality == "text":
        extra["padding_id"] = int(getattr(layer, "padding_id", 0))
        extra["kept_ids"] = kept_token_ids(layer)
    return modality, extra


def kept_token_ids(layer):
    """The ids `drop_tokens` never drops for a text input's tokenizer layer.

    Args:
        layer: a `TextTokenizer` (none: its only special id, 0, is padding) or a
            `PresetTokenizer`: its start and end tokens (`[CLS]`, `[SEP]`, `<s>`,
            `</s>`) and other special tokens, not its padding (handled apart) nor its
            unknown token (which stands for a real word).

    Returns:
        A sorted tuple of ints.
    """
    from mmzoo.preprocessing.preset_text import PresetTokenizer

    if not isinstance(layer, PresetTokenizer):
        return ()
    tokenizer = layer.tokenizer
    ids = set(getattr(tokenizer, "special_token_ids", None) or ())
    for attr in ("start_token_id", "end_token_id"):
        if getattr(tokenizer, attr, None) is not None:
            ids.add(int(getattr(tokenizer, attr)))
    unknown = getattr(tokenizer, "unk_token_id", None)
    ids.discard(layer.padding_id)
    if unknown is not None:
        ids.discard(int(unknown))
    return tuple(sorted(int(i) for i in ids))


def noisy_dataset(dataset, name, modality, parameter, seed, level, **extra):
    """`dataset` with input `name` corrupted at one level (the others unchanged).

    Args:
        dataset: batched `(features, label)` pairs (`eval_dataset`).
        name: the input to corrupt.
        modality: its modality (`"image"`, `"audio"` or `"text"`).
        parameter: the noise parameter (std, SNR in dB or drop probability).
        seed: the curves' seed; batch `b` uses `noise_seed(seed, level, b)`.
        level: the level index (folded into the seed).
        **extra: text only: `padding_id`, `kept_ids` (see `drop_tokens`).

    Returns:
        A `tf.data.Dataset` of the same structure.
    """
    noise = {"image": gaussian_image_noise, "audio": white_audio_noise,
             "text": drop_tokens}[modality]

    def corrupt(batch, pair):
        features, label = pair
        features = dict(features)
        features[name] = noise(features[name], parameter, noise_seed(seed, level, batch),
                               **extra)
        return features, label

    return dataset.enumerate().map(corrupt, num_parallel_calls=tf.data.AUTOTUNE,
                                   deterministic=True)


def curves(model, dataset, levels=10, seed=0, modalities=None, verbose=0):
    """The main metric of `model` at each noise level, one modality input at a time.

    For each input (the model's `modalities`, or those named), the input alone is
    corrupted with its modality's noise (see the module's table) at levels
    `0..levels` (0 = clean, computed once and shared by every curve), the others
    left clean, and the head's main metric (`mmzoo.evaluation.metrics.MAIN_METRIC`)
    is measured on the whole dataset.

    Args:
        model: a `mmzoo.MultimodalModel` with a `preprocessor`.
        dataset: batched, preprocessed `(features, label)` pairs
            (`mmzoo.training.inputs.eval_dataset`), the same every time it is read.
        levels: the number of noisy levels (10 as in MultiBench).
        seed: the noise seed (same seed, same curves).
        modalities: input names to corrupt (default: `model.modalities`).
        verbose: 1 prints one line per level.

    Returns:
        `{name: {"modality", "noise", "levels", "severity", "values", "metric",
        "chance", "baseline", "relative_robustness", "effective_robustness"}}`:
        `levels` the noise parameter per level (clean first; audio's clean SNR is
        `math.inf`), `severity` `[0, 0.1, ..., 1]` (the x-axis of the robustness
        numbers), `values` the metric per level, `metric` its name, `chance` the
        metric of always predicting the most frequent class (None for regression),
        `baseline` the best constant prediction's metric (the chance value; for
        regression the MAE of the labels' median), where the reference line of
        `effective_robustness` ends.

    Raises:
        ValueError: the model has no preprocessor, `modalities` names no modality
            input, or an input is no preprocessed image, waveform or token ids.

    Example:

    >>> curves(model, eval_dataset(examples, model.preprocessor, 64))  # doctest: +SKIP
    {'image': {'modality': 'image', 'noise': 'Gaussian noise std', 'values': [...], ...}}
    """
    levels = _check_levels(levels)
    preprocessor = model.preprocessor
    if preprocessor is None:
        raise ValueError("Robustness curves need the model's preprocessor (it tells each "
                         "input's modality). Received: a model with preprocessor=None")
    names = list(model.modalities if modalities is None else modalities)
    unknown = [name for name in names if name not in model.modalities]
    if unknown:
        raise ValueError(f"The model's modality inputs are {model.modalities}. "
                         f"Received: modalities={names!r}")
    kinds = {name: _noise_kind(preprocessor, name, dataset.element_spec) for name in names}

    clean = collect(model, dataset)
    kind = clean.kind
    metric = MAIN_METRIC[kind]
    clean_value = main_value(clean)
    baseline = chance_value(clean)
    chance = None if kind == "regression" else baseline
    if verbose:
        print(f"robustness: clean {metric} {clean_value:.4f}")
    results = {}
    for name in names:
        modality, extra = kinds[name]
        parameters = noise_levels(modality, levels)
        values = [clean_value]
        for level in range(1, levels + 1):
            noisy = noisy_dataset(dataset, name, modality, parameters[level], seed, level,
                                  **extra)
            values.append(main_value(collect(model, noisy)))
            if verbose:
                print(f"robustness: {name} level {level}/{levels} "
                      f"({NOISE_NAMES[modality]} {parameters[level]:g}): "
                      f"{metric} {values[-1]:.4f}")
        results[name] = {
            "modality": modality,
            "noise": NOISE_NAMES[modality],
            "levels": parameters,
            "severity": severities(levels),
            "values": values,
            "metric": metric,
            "chance": chance,
            "baseline": baseline,
            "relative_robustness": relative_robustness(values),
            "effective_robustness": effective_robustness(
                values, baseline=baseline, higher_is_better=kind != "regression"),
        }
    return results
