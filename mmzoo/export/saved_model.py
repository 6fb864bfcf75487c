"""The serving `tf.Module`: raw inputs -> checks -> preprocessing -> model -> predictions.

`ServingModule(model, inputs, ...)` holds the Keras model and the preprocessing
layers; `save(module, folder)` writes a SavedModel with these signatures:

- `serving_default`: the raw inputs named after the model's inputs (text and images
  as `tf.string`, audio as float32 waveforms), every modality present;
- `serving_masked` (models with several modalities): the same plus `modality_mask`,
  float32 `(batch, M)` with columns in `model.modalities` order, 1 = present. A
  masked-out modality is not decoded or used: send empty bytes/strings for it (audio:
  any finite waveform, e.g. zeros);
- `serving_preprocessed`: the model's own inputs (token ids, float images in [0, 1],
  fixed-length waveforms and `modality_mask` when the model has one);
- `metadata`: no inputs; `json`, a JSON string of the inputs, modalities, class names
  and outputs.

A SignatureDef cannot have optional inputs, hence the two raw signatures. Python
callers of the loaded object can use `loaded.serve(inputs)`: a restored function
whose `inputs` dict may hold `modality_mask` or not (it picks the matching traced
function), and `loaded.serve_preprocessed(inputs)`.

Outputs: `probabilities` float32 `(batch, classes)` (regression heads: `values`),
`class_index` int64 `(batch,)` (argmax; binary heads: probability >= 0.5) and
`class_name` `tf.string` `(batch,)`.

Every signature validates its inputs first (`mmzoo.export.checks`): a bad input
raises `InvalidArgumentError` and no prediction is returned.
"""

import json

import numpy as np
import tensorflow as tf

from mmzoo.export import checks
from mmzoo.model import MODALITY_MASK

SERVING_DEFAULT = "serving_default"
SERVING_MASKED = "serving_masked"
SERVING_PREPROCESSED = "serving_preprocessed"
METADATA = "metadata"


class _Static:
    """Plain Python settings of the module, kept out of TensorFlow's object tracking."""

    def __init__(self, **values):
        self.__dict__.update(values)


class ServingModule(tf.Module):
    """Serving functions around a Keras model and its preprocessing layers.

    Args:
        model: the Keras model (dict inputs named after the modalities).
        inputs: list of `mmzoo.export.inputs.ServingInput`, one per model input.
        columns: the modality mask's columns (input names); `[]` if the model takes
            no mask.
        head: head kind: `"multiclass"`, `"binary"`, `"multilabel"` or `"regression"`.
        class_names: names of the classes (`None`: `str(index)`).
        metadata: JSON-ready dict returned by the `metadata` signature.

    Attributes:
        serve: `tf.function` of the raw inputs (dict, `modality_mask` optional).
        serve_preprocessed: `tf.function` of the model's own inputs.
        metadata: `tf.function` without inputs returning `{"json": <tf.string>}`.

    Example:

    >>> import mmzoo
    >>> from mmzoo.export.inputs import mask_columns, resolve_inputs
    >>> model = mmzoo.create_model("avmnist_late_fusion")
    >>> module = ServingModule(model, resolve_inputs(model), mask_columns(model), "multiclass")
    >>> {k: v.shape.as_list() for k, v in module.raw_signature(masked=True).items()}
    {'image': [None], 'audio': [None, None], 'modality_mask': [None, 2]}
    >>> {k: v.shape.as_list() for k, v in module.preprocessed_signature(1).items()}
    {'image': [1, 28, 28, 1], 'audio': [1, 8000], 'modality_mask': [1, 2]}
    >>> module.mask_spec().shape.as_list()
    [None, 2]
    >>> sorted(module.signatures())
    ['metadata', 'serving_default', 'serving_masked', 'serving_preprocessed']
    >>> png = tf.io.encode_png(tf.zeros((28, 28, 1), tf.uint8))
    >>> out = module.signatures()["serving_default"](image=tf.stack([png]),
    ...                                              audio=tf.zeros((1, 8000)))
    >>> sorted(out), out["class_name"].dtype.name
    (['class_index', 'class_name', 'probabilities'], 'string')
    >>> module.numeric_function(batch_size=1).structured_outputs["probabilities"].shape
    TensorShape([1, 10])
    >>> describe_signatures(module)["serving_default"]["outputs"]["probabilities"]
    {'dtype': 'float32', 'shape': [None, 10]}
    >>> import pathlib, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> save(module, folder)
    ['metadata', 'serving_default', 'serving_masked', 'serving_preprocessed']
    >>> sorted(p.name for p in pathlib.Path(folder).iterdir())
    ['assets', 'fingerprint.pb', 'saved_model.pb', 'variables']
    """

    def __init__(self, model, inputs, columns, head, class_names=None, metadata=None):
        super().__init__(name="mmzoo_serving")
        self.model = model
        self.preprocessors = {spec.name: spec.layer for spec in inputs}
        # The model's tf.Variables, tracked directly: loaders that read the object
        # graph (the LiteRT converter, TF1-style session loaders) find them then.
        self.model_variables = [getattr(v, "value", v) for v in model.variables]
        names = None if class_names is None else [str(c) for c in class_names]
        self._static = _Static(
            inputs=list(inputs),
            columns=list(columns),
            head=head,
            class_names=names,
            metadata_json=json.dumps(metadata or {}, sort_keys=True),
            placeholders={
                spec.name: tf.io.encode_png(
                    np.zeros((1, 1, spec.layer.channels), np.uint8)
                ).numpy()
                for spec in inputs
                if spec.kind == "image"
            },
        )
        self.serve = tf.function(self._serve, autograph=False)
        self.serve_preprocessed = tf.function(self._serve_preprocessed, autograph=False)
        self.metadata = tf.function(self._metadata, input_signature=[], autograph=False)

    # Specs ---------------------------------------------------------------------------

    def raw_signature(self, masked=False):
        """The dict of `tf.TensorSpec` a raw signature takes.

        Args:
            masked: add the `modality_mask` spec, float32 `(batch, M)`.

        Returns:
            dict from input name to `tf.TensorSpec`: images `(batch,)` tf.string,
            text `(batch,)` tf.string, audio `(batch, samples)` float32.


        Example: see `ServingModule`.
        """
        specs = {spec.name: spec.raw_spec for spec in self._static.inputs}
        if masked:
            specs[MODALITY_MASK] = self.mask_spec()
        return specs

    def preprocessed_signature(self, batch_size=None):
        """The dict of `tf.TensorSpec` of the model's own inputs (mask included).

        Args:
            batch_size: None (any batch) or a fixed batch size.

        Returns:
            dict from input name to `tf.TensorSpec` of shape `(batch_size, ...)`.


        Example: see `ServingModule`.
        """
        specs = {
            spec.name: tf.TensorSpec(
                (batch_size, *spec.model_spec.shape[1:]), spec.model_spec.dtype, name=spec.name
            )
            for spec in self._static.inputs
        }
        if self._static.columns:
            specs[MODALITY_MASK] = tf.TensorSpec(
                (batch_size, len(self._static.columns)), tf.float32, name=MODALITY_MASK
            )
        return specs

    def mask_spec(self):
        """The `tf.TensorSpec` of `modality_mask`: float32 `(batch, M)`, 1 = present.


        Example: see `ServingModule`.
        """
        return tf.TensorSpec((None, len(self._static.columns)), tf.float32, name=MODALITY_MASK)

    def signatures(self):
        """The concrete functions to save as SignatureDefs, keyed by signature name.

        Traces the serving functions (about a second for a small model).

        Returns:
            dict from signature name (`serving_default`, `serving_masked` when the
            model takes a mask, `serving_preprocessed`, `metadata`) to a concrete
            function.


        Example: see `ServingModule`.
        """
        signatures = {SERVING_DEFAULT: self.serve.get_concrete_function(self.raw_signature())}
        if self._static.columns:
            signatures[SERVING_MASKED] = self.serve.get_concrete_function(
                self.raw_signature(masked=True)
            )
            # The restored `serve_preprocessed` also accepts a dict without the mask.
            self.serve_preprocessed.get_concrete_function(
                {k: v for k, v in self.preprocessed_signature().items() if k != MODALITY_MASK}
            )
        signatures[SERVING_PREPROCESSED] = self.serve_preprocessed.get_concrete_function(
            self.preprocessed_signature()
        )
        signatures[METADATA] = self.metadata.get_concrete_function()
        return signatures

    def numeric_function(self, batch_size=None):
        """The unchecked model function (preprocessed tensors in), for LiteRT.

        A new `tf.function` each time: an existing one would hand back its trace for a
        `None` batch when asked for a batch of 1 (the static batch the LSTM needs).

        Args:
            batch_size: None or a fixed batch size for every input.

        Returns:
            A concrete function of the `preprocessed_signature(batch_size)` dict,
            returning `{"probabilities": (batch, classes)}` float32 (regression:
            `{"values": ...}`).


        Example: see `ServingModule`.
        """
        function = tf.function(self._numeric, autograph=False)
        return function.get_concrete_function(self.preprocessed_signature(batch_size))

    # Functions -----------------------------------------------------------------------

    def _serve(self, inputs):
        static = self._static
        inputs = dict(inputs)
        mask = inputs.pop(MODALITY_MASK, None)
        self._check_keys(inputs, mask)
        tensors = {}
        for spec in static.inputs:
            tensors[spec.name] = checks.ensure_shape(
                spec.name, inputs[spec.name], spec.raw_spec.shape
            )
        batched = dict(tensors)
        if mask is not None:
            mask = checks.ensure_shape(MODALITY_MASK, mask, [None, len(static.columns)])
            batched[MODALITY_MASK] = mask
        # Shapes and batch sizes first: the value checks below combine the inputs.
        batch_check = checks.batch_size_check(batched)
        assertions = [batch_check]
        present = {}
        with tf.control_dependencies([batch_check]):
            if mask is not None:
                assertions += checks.mask_checks(mask, static.columns)
                for index, name in enumerate(static.columns):
                    present[name] = tf.greater(mask[:, index], 0.5)
            for spec in static.inputs:
                value = tensors[spec.name]
                if spec.kind == "image":
                    assertions += checks.image_bytes_checks(
                        spec.name, value, present.get(spec.name)
                    )
                elif spec.kind == "text":
                    assertions.append(checks.utf8_check(spec.name, value))
                else:
                    assertions.append(checks.finite_check(spec.name, value, "waveforms"))

        with tf.control_dependencies(assertions):
            model_inputs = {}
            for spec in static.inputs:
                value = tf.identity(tensors[spec.name])
                rows = present.get(spec.name)
                if rows is not None and spec.kind == "image":
                    # Masked-out images are not decoded: a tiny valid PNG stands in.
                    value = tf.where(rows, value, static.placeholders[spec.name])
                value = tf.cast(spec.layer(value), spec.model_spec.dtype)
                if rows is not None:
                    # What the model sees for a missing modality: zeros, as in training.
                    keep = tf.reshape(rows, [-1] + [1] * (len(spec.model_spec.shape) - 1))
                    value = tf.where(keep, value, tf.zeros_like(value))
                model_inputs[spec.name] = value
            if static.columns:
                if mask is None:
                    batch = tf.shape(model_inputs[static.inputs[0].name])[0]
                    mask = tf.ones([batch, len(static.columns)], tf.float32)
                model_inputs[MODALITY_MASK] = tf.identity(mask)
            outputs = self.model(model_inputs, training=False)
        return self._outputs(outputs)

    def _serve_preprocessed(self, inputs):
        static = self._static
        inputs = dict(inputs)
        mask = inputs.pop(MODALITY_MASK, None)
        self._check_keys(inputs, mask)
        tensors = {
            spec.name: checks.ensure_shape(spec.name, inputs[spec.name], spec.model_spec.shape)
            for spec in static.inputs
        }
        if mask is not None:
            tensors[MODALITY_MASK] = checks.ensure_shape(
                MODALITY_MASK, mask, [None, len(static.columns)]
            )
        batch_check = checks.batch_size_check(tensors)
        assertions = [batch_check]
        with tf.control_dependencies([batch_check]):
            for spec in static.inputs:
                value = tensors[spec.name]
                if spec.model_spec.dtype.is_floating:
                    assertions.append(checks.finite_check(spec.name, value))
                elif spec.vocab_size is not None:
                    assertions.append(
                        checks.token_range_check(spec.name, value, spec.vocab_size)
                    )
            if mask is not None:
                assertions += checks.mask_checks(tensors[MODALITY_MASK], static.columns)
        with tf.control_dependencies(assertions):
            tensors = {name: tf.identity(value) for name, value in tensors.items()}
            outputs = self.model(tensors, training=False)
        return self._outputs(outputs)

    def _numeric(self, inputs):
        outputs = tf.cast(self.model(dict(inputs), training=False), tf.float32)
        key = "values" if self._static.head == "regression" else "probabilities"
        return {key: outputs}

    def _metadata(self):
        return {"json": tf.constant(self._static.metadata_json)}

    def _outputs(self, outputs):
        static = self._static
        outputs = tf.cast(outputs, tf.float32)
        if static.head == "regression":
            return {"values": outputs}
        if static.head == "binary":
            index = tf.cast(outputs[:, 0] >= 0.5, tf.int64)
            count = 2
        else:
            index = tf.argmax(outputs, axis=-1, output_type=tf.int64)
            count = outputs.shape[-1]
        names = static.class_names or [str(i) for i in range(count)]
        return {
            "probabilities": outputs,
            "class_index": index,
            "class_name": tf.gather(tf.constant(names, tf.string), index),
        }

    def _check_keys(self, inputs, mask):
        expected = [spec.name for spec in self._static.inputs]
        given_mask = [] if mask is None else [MODALITY_MASK]
        if sorted(inputs) != sorted(expected) or (mask is not None and not self._static.columns):
            raise ValueError(
                f"The serving function takes the inputs {expected}"
                + (f" and optionally {MODALITY_MASK!r}" if self._static.columns else "")
                + f". Received: inputs with keys {sorted(inputs) + given_mask}"
            )


def save(module, folder):
    """Writes `module` as a SavedModel into `folder` (which may exist, empty).

    Args:
        module: a `ServingModule`.
        folder: the destination folder (str or path-like).

    Returns:
        The sorted list of the saved signature names.

    Example: see `ServingModule`.
    """
    signatures = module.signatures()
    tf.saved_model.save(module, str(folder), signatures=signatures)
    return sorted(signatures)


def describe_signatures(module):
    """`{signature: {"inputs": {...}, "outputs": {...}}}` with dtypes and shapes.

    Args:
        module: a `ServingModule`.

    Returns:
        dict from signature name to `{"inputs": {name: {"dtype", "shape"}},
        "outputs": {...}}`; shapes are lists with `None` for unknown sizes.

    Example: see `ServingModule`.
    """
    described = {}
    for name, function in module.signatures().items():
        inputs = {
            spec.name: {"dtype": spec.dtype.name, "shape": _shape(spec.shape)}
            for spec in tf.nest.flatten(function.structured_input_signature)
        }
        outputs = {
            key: {"dtype": spec.dtype.name, "shape": _shape(spec.shape)}
            for key, spec in function.structured_outputs.items()
        }
        described[name] = {"inputs": inputs, "outputs": outputs}
    return described


def _shape(shape):
    return [None if d is None else int(d) for d in shape]
