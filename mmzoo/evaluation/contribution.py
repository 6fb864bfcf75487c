"""What each modality contributes to a model's predictions.

Three views, each on the evaluation split:

- `subset_metrics`: the main metric with every non-empty subset of the modalities
  present, the others masked out through the `modality_mask` input (the model's own
  way of handling a missing input, as in training with modality dropout).
- `fusion_weights`: the fusion's per-example modality weights
  (`mmzoo.modality_weights`), grouped by true class, for fusions that weigh the
  modalities (attention, gated).
- `attribution`: the share of each modality in the integrated-gradients attribution
  (Sundararajan et al. 2017, "Axiomatic Attribution for Deep Networks") of the
  predicted output, taken at the fusion's inputs (the towers' outputs): "layer
  integrated gradients", as Captum's `LayerIntegratedGradients` computes them. The
  baseline of each modality is its tower's output on an empty input (a black image,
  silence, a text of padding only), so a modality's share says how far its actual
  input moves the prediction away from "nothing there". Working at the fusion inputs
  treats every modality alike, token ids included (they have no gradient).

>>> import itertools
>>> [list(s) for s in subsets(["image", "text"])]
[['image', 'text'], ['image'], ['text']]
"""

import itertools

import keras
import numpy as np
import tensorflow as tf

from mmzoo.evaluation.metrics import main_value
from mmzoo.evaluation.predictions import collect
from mmzoo.model import MODALITY_MASK
from mmzoo.training import inputs as pipeline

#: At most this many modalities get every subset evaluated (2^M - 1 evaluations).
MAX_SUBSET_MODALITIES = 6


def subsets(modalities):
    """Every non-empty subset of `modalities`, the largest first, in mask order."""
    modalities = list(modalities)
    return [combination for size in range(len(modalities), 0, -1)
            for combination in itertools.combinations(modalities, size)]


def subset_metrics(model, examples, batch_size=64):
    """The main metric for every subset of modalities present.

    Args:
        model: a `mmzoo.MultimodalModel` with its preprocessor.
        examples: the split's unbatched example dicts.
        batch_size: examples per batch.

    Returns:
        `(subset list, predictions with all modalities)`: the list holds
        `{"present": [names], "value": float}`, all modalities first; a model without
        a `modality_mask` input (one modality) has only that entry.
    """
    names = model.modalities
    has_mask = MODALITY_MASK in [tensor.name for tensor in model.inputs]
    chosen = subsets(names) if has_mask and len(names) <= MAX_SUBSET_MODALITIES else [names]
    rows, everything = [], None
    for present in chosen:
        mask = [1.0 if name in present else 0.0 for name in names] if has_mask else None
        dataset = pipeline.eval_dataset(examples, model.preprocessor, batch_size,
                                        modality_mask=mask)
        predictions = collect(model, dataset)
        everything = everything or predictions
        rows.append({"present": list(present), "value": main_value(predictions)})
    return rows, everything


def _fusion_call(model):
    """The fusion layer and the tensors it was called on: `(layer, embeddings, kwargs)`."""
    fusion = model.get_layer("fusion")
    call = fusion._inbound_nodes[0].arguments
    return fusion, call.args[0], dict(call.kwargs)


def fusion_weights(model, dataset, class_names):
    """The fusion's modality weights of every example, grouped by true class.

    Args:
        model: a model whose fusion weighs the modalities
            (`mmzoo.interpret.has_modality_weights`).
        dataset: batched `(features, label)` pairs (multiclass or binary labels).
        class_names: the names of the classes, in label order.

    Returns:
        `{"modalities": [...], "per_class": {class: [[w per modality], ...]},
        "per_class_mean": {class: [mean w per modality]}}`.
    """
    from mmzoo.interpret import modality_weights

    per_class = {name: [] for name in class_names}
    for features, label in dataset:
        weights = modality_weights(model, features)
        for row, y in zip(weights, np.asarray(label).reshape(-1)):
            per_class[class_names[int(y)]].append([float(w) for w in row])
    return {
        "modalities": model.modalities,
        "per_class": per_class,
        "per_class_mean": {name: np.mean(rows, axis=0).tolist() if rows else None
                           for name, rows in per_class.items()},
    }


def attribution(model, dataset, examples=64, steps=32):
    """Each modality's share of the integrated-gradients attribution.

    Args:
        model: a `mmzoo.MultimodalModel`.
        dataset: batched `(features, label)` pairs, preprocessed.
        examples: how many examples (the dataset's first) to attribute.
        steps: points of the path integral (trapezoidal rule).

    Returns:
        `{"method", "examples", "steps", "share": {modality: fraction},
        "completeness_error"}`: the shares are the summed absolute attributions of
        each modality's fusion input over all examples, divided by the total (they sum
        to 1); `completeness_error` is the largest |sum of attributions - (output -
        baseline output)| over the examples, relative to the largest |output -
        baseline output| (integrated gradients' completeness axiom; small when
        `steps` is enough).
    """
    fusion, embeddings, kwargs = _fusion_call(model)
    flat = {f"embedding_{i}": tensor for i, tensor in enumerate(embeddings)}
    extra = {key: value for key, value in kwargs.items() if value is not None}
    probe = keras.Model(model.input, {**flat, **_flatten(extra)})
    head = model.head
    names = model.modalities
    totals = np.zeros(len(names))
    seen, worst, scale = 0, 0.0, 0.0
    for features, _ in dataset:
        if seen >= examples:
            break
        features = model._checked_inputs(  # an all-present mask where there is none
            {key: value[: examples - seen] for key, value in features.items()})
        actual = probe(features, training=False)
        empty = probe(_empty_inputs(model, features), training=False)
        rest = {key: value for key, value in actual.items() if not key.startswith("embedding_")}
        rest = _unflatten(rest, extra)
        x = [actual[f"embedding_{i}"] for i in range(len(embeddings))]
        x0 = [empty[f"embedding_{i}"] for i in range(len(embeddings))]

        chosen = _chosen(head(fusion(x, training=False, **rest), training=False), head.kind)

        def output(points, rest=rest, chosen=chosen):
            outputs = head(fusion(points, training=False, **rest), training=False)
            return tf.reduce_sum(tf.reshape(outputs * chosen, (tf.shape(outputs)[0], -1)), -1)

        grads = [tf.zeros_like(t) for t in x]
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] = 0.5 / steps
        for alpha, weight in zip(np.linspace(0.0, 1.0, steps + 1), weights):
            points = [b + alpha * (a - b) for a, b in zip(x, x0)]
            with tf.GradientTape() as tape:
                tape.watch(points)
                target = tf.reduce_sum(output(points))
            for i, g in enumerate(tape.gradient(target, points)):
                grads[i] += weight * g
        attributions = [(a - b) * g for a, b, g in zip(x, x0, grads)]
        per_example = np.stack([_per_example_abs(a) for a in attributions], axis=-1)
        totals += per_example.sum(axis=0)
        difference = (output(x) - output(x0)).numpy()
        summed = sum(_per_example_sum(a) for a in attributions)
        worst = max(worst, float(np.max(np.abs(summed - difference))))
        scale = max(scale, float(np.max(np.abs(difference))))
        seen += len(per_example)
    share = totals / totals.sum() if totals.sum() > 0 else totals
    return {
        "method": "integrated gradients at the fusion inputs (baseline: empty inputs)",
        "examples": seen,
        "steps": steps,
        "share": {name: float(v) for name, v in zip(names, share)},
        "completeness_error": worst / scale if scale > 0 else 0.0,
    }


def _chosen(outputs, kind):
    """Which outputs are attributed, as a 0/1 tensor like `outputs`: the predicted
    class's probability (multiclass), else every output (their sum)."""
    if kind == "multiclass":
        return tf.one_hot(tf.argmax(outputs, axis=-1), tf.shape(outputs)[-1])
    return tf.ones_like(outputs)


def _empty_inputs(model, features):
    """`features` with every modality input replaced by an empty one: zeros for images
    and audio, padding only for token ids."""
    empty = {}
    for name, value in features.items():
        if name == MODALITY_MASK:
            empty[name] = value
        elif value.dtype.is_integer:
            layer = model.preprocessor.layers[name]
            empty[name] = tf.fill(tf.shape(value), tf.cast(getattr(layer, "padding_id", 0),
                                                           value.dtype))
        else:
            empty[name] = tf.zeros_like(value)
    return empty


def _per_example_abs(tensor):
    return tf.reduce_sum(tf.abs(tf.reshape(tensor, (tf.shape(tensor)[0], -1))), -1).numpy()


def _per_example_sum(tensor):
    return tf.reduce_sum(tf.reshape(tensor, (tf.shape(tensor)[0], -1)), -1).numpy()


def _flatten(extra):
    """The fusion's keyword tensors as flat probe outputs (`sequence_masks` is a list)."""
    flat = {}
    for key, value in extra.items():
        if isinstance(value, (list, tuple)):
            flat.update({f"{key}__{i}": v for i, v in enumerate(value) if v is not None})
        else:
            flat[key] = value
    return flat


def _unflatten(flat, extra):
    kwargs = {}
    for key, value in extra.items():
        if isinstance(value, (list, tuple)):
            kwargs[key] = [flat.get(f"{key}__{i}") for i in range(len(value))]
        else:
            kwargs[key] = flat[key]
    return kwargs
