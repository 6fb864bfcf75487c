"""`MultimodalModel`: a functional `keras.Model` that checks its dict inputs.

Keras matches dict inputs by name, but an unexpected extra key is only warned about
and can shift the others out of place in some releases; this class rejects it with a
clear error, fills in an all-present `modality_mask` when it is left out, and gives
`compile()` the loss and metrics of the model's head.

>>> import mmzoo
>>> model = mmzoo.create_model("avmnist_image_lenet")
>>> model.compile("adam")
>>> model.loss.__class__.__name__
'SparseCategoricalCrossentropy'
"""

import inspect

import keras
import numpy as np
from keras import ops

MODALITY_MASK = "modality_mask"


@keras.saving.register_keras_serializable(package="mmzoo")
class MultimodalModel(keras.Model):
    """A functional model over named modality inputs, built by `mmzoo.build_model`.

    Args:
        *args, **kwargs: as for a functional `keras.Model` (`inputs`, `outputs`,
            `name`); the inputs are named after the modalities, plus `modality_mask`
            if the fusion takes one.
        modalities: the modality input names in mask-column order (default: the
            input names, `modality_mask` aside).
        preprocessor: an `mmzoo.Preprocessor` (or its serialized dict) with one layer
            per modality input, or None.

    Input shape:
        dict from input name to a batch, e.g. `image` `(batch, H, W, C)` float32 in
        [0, 1], `audio` `(batch, samples)`, `text` `(batch, sequence_length)` token
        ids; `modality_mask` `(batch, M)` in {0, 1}, all ones when left out.

    Output shape:
        The head's output, e.g. `(batch, classes)` probabilities.

    Raises:
        ValueError: `preprocessor` is not a `Preprocessor` or does not cover exactly
            the model's inputs; (when called) a dict input has missing or unexpected
            keys.

    >>> import numpy as np, mmzoo
    >>> model = mmzoo.create_model("avmnist_late_fusion")
    >>> model({"image": np.zeros((2, 28, 28, 1), "float32"),
    ...        "audio": np.zeros((2, 8000), "float32")}).shape  # mask filled in
    TensorShape([2, 10])
    >>> model({"image": np.zeros((2, 28, 28, 1), "float32")})
    Traceback (most recent call last):
    ...
    ValueError: Model ... the batch has missing ['audio'] keys. ...
    """

    def __init__(self, *args, modalities=None, preprocessor=None, **kwargs):
        super().__init__(*args, **kwargs)
        names = [tensor.name for tensor in self.inputs]
        if modalities is None:
            modalities = [name for name in names if name != MODALITY_MASK]
        self._modalities = list(modalities)
        self._input_keys = set(names)
        self.preprocessor = preprocessor

    @property
    def modalities(self):
        """The modality input names, in the order of the modality mask's columns.

        >>> import mmzoo
        >>> mmzoo.create_model("avmnist_late_fusion").modalities
        ['image', 'audio']
        """
        return list(self._modalities)

    @property
    def preprocessor(self):
        """The `mmzoo.Preprocessor` from raw inputs to this model's tensors (or None).

        It travels with the model: `get_config` (so `.keras` files) holds it. It is
        not a sublayer: its tokenizer tables are no weights of the model.

        Setting it checks it (see the class `Raises:`).

        >>> import mmzoo
        >>> model = mmzoo.build_model(
        ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        ...     num_outputs=2)
        >>> model.preprocessor.input_names
        ['image']
        >>> model.preprocessor = None
        >>> model.preprocessor = "tokenizer"
        Traceback (most recent call last):
        ...
        ValueError: `preprocessor` must be an mmzoo.Preprocessor or None. Received: ...
        """
        return self.__dict__.get("_mmzoo_preprocessor")

    @preprocessor.setter
    def preprocessor(self, preprocessor):
        from mmzoo.preprocessing.preprocessor import Preprocessor

        if isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        if preprocessor is not None:
            if not isinstance(preprocessor, Preprocessor):
                raise ValueError(
                    "`preprocessor` must be an mmzoo.Preprocessor or None. "
                    f"Received: preprocessor of type {type(preprocessor).__name__}"
                )
            names = sorted(self._input_keys - {MODALITY_MASK})
            if sorted(preprocessor.input_names) != names:
                raise ValueError(
                    f"The preprocessor must have one layer per model input {names}. "
                    f"Received: a preprocessor for {sorted(preprocessor.input_names)}"
                )
        # Set outside Keras' attribute tracking: not a sublayer, no weights.
        self.__dict__["_mmzoo_preprocessor"] = preprocessor

    def __dir__(self):
        # `.keras` saving walks `dir(model)` for state to save; the preprocessor's whole
        # state (vocabularies included) is in `get_config`, and an unadapted tokenizer
        # has no state to save, so the walk must not reach it.
        return [name for name in super().__dir__()
                if name not in ("preprocessor", "_mmzoo_preprocessor")]

    def get_config(self):
        """The functional config plus `modalities` and the serialized `preprocessor`.

        >>> import mmzoo
        >>> model = mmzoo.build_model(
        ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        ...     num_outputs=2)
        >>> config = model.get_config()
        >>> config["modalities"], "preprocessor" in config
        (['image'], True)
        """
        config = {**super().get_config(), "modalities": self.modalities}
        if self.preprocessor is not None:
            config["preprocessor"] = keras.saving.serialize_keras_object(self.preprocessor)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        model = super().from_config(config, custom_objects=custom_objects)
        refreeze(model)
        return model

    @property
    def head(self):
        """The model's `TaskHead` layer.

        >>> import mmzoo
        >>> model = mmzoo.build_model(
        ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        ...     num_outputs=2)
        >>> model.head.kind
        'multiclass'
        """
        return self.get_layer("head")

    def summary(self, *args, print_fn=None, **kwargs):
        """Keras' summary, then the trainable and frozen parameters of each part.

        Takes the arguments of `keras.Model.summary`. The table after it has one row
        per tower, the fusion and the head; "frozen" counts the non-trainable weights
        (a frozen pretrained backbone, and BatchNorm's moving statistics).

        >>> import mmzoo
        >>> model = mmzoo.build_model(
        ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        ...     num_outputs=2)
        >>> model.summary(print_fn=lambda *args, **kwargs: None)
        >>> print(model.parameter_table())
        part           trainable     frozen
        image_tower          408          4
        fusion                 0          0
        head              16,770          0
        total             17,178          4
        """
        super().summary(*args, print_fn=print_fn, **kwargs)
        (print_fn or print)(self.parameter_table())

    def parameter_counts(self):
        """The trainable and frozen parameters per tower, fusion and head, then the total.

        One row per top-level layer that has weights (the towers, any projection)
        plus `fusion` and `head` (even without weights), in layer order, then a
        `total` row (which equals `count_params()`). "frozen" counts the
        non-trainable weights: a frozen pretrained backbone, BatchNorm's moving
        statistics. `parameter_table` and `mmzoo.evaluation.cost.parameters` show
        these rows.

        Returns:
            list of dicts `{"part": str, "trainable": int, "frozen": int}`.

        >>> import mmzoo
        >>> model = mmzoo.build_model(
        ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        ...     num_outputs=2)
        >>> model.parameter_counts()[-1]
        {'part': 'total', 'trainable': 17178, 'frozen': 4}
        """
        rows = [{"part": layer.name, "trainable": _count(layer.trainable_weights),
                 "frozen": _count(layer.non_trainable_weights)}
                for layer in self.layers if layer.weights or layer.name in ("fusion", "head")]
        rows.append({"part": "total", "trainable": sum(r["trainable"] for r in rows),
                     "frozen": sum(r["frozen"] for r in rows)})
        return rows

    def parameter_table(self):
        """The trainable and frozen (non-trainable) parameters per tower, fusion and head.

        A text table of `parameter_counts()`; see `summary` for an example.
        """
        rows = [(row["part"], row["trainable"], row["frozen"]) for row in self.parameter_counts()]
        width = max(len(name) for name, _, _ in rows) + 2
        number = max(len(f"{n:,}") for row in rows for n in row[1:]) + 2
        number = max(number, len("trainable") + 2)
        lines = [f"{'part':<{width}}{'trainable':>{number}}{'frozen':>{number}}"]
        lines += [f"{name:<{width}}{trainable:>{number},}{frozen:>{number},}"
                  for name, trainable, frozen in rows]
        return "\n".join(lines)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict):
            inputs = self._checked_inputs(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _checked_inputs(self, inputs):
        expected = self._input_keys
        unexpected = sorted(set(inputs) - expected)
        missing = sorted(expected - set(inputs) - {MODALITY_MASK})
        if unexpected or missing:
            problems = []
            if missing:
                problems.append(f"missing {missing}")
            if unexpected:
                problems.append(f"unexpected {unexpected}")
            raise ValueError(
                f"Model {self.name!r} takes the inputs {sorted(expected)}; the batch has "
                f"{'; '.join(problems)} keys. Received: inputs with keys {sorted(inputs)}"
            )
        if MODALITY_MASK in expected and MODALITY_MASK not in inputs:
            first = inputs[self.modalities[0]]
            if not isinstance(first, keras.KerasTensor):
                # Tensors throughout: Keras refuses a mix of numpy arrays and tensors.
                inputs = {key: ops.convert_to_tensor(value) for key, value in inputs.items()}
                batch = ops.shape(inputs[self.modalities[0]])[0]
                inputs[MODALITY_MASK] = ops.ones((batch, len(self.modalities)))
        return inputs

    def compile(self, optimizer="adam", loss="auto", metrics="auto", **kwargs):
        """Like `keras.Model.compile`; `"auto"` picks the head's loss and metrics.

        Args:
            optimizer: a Keras optimizer or its name.
            loss: `"auto"` (the head's default loss) or any Keras loss.
            metrics: `"auto"` (the head's default metrics) or any Keras metrics.
            **kwargs: other `keras.Model.compile` arguments.

        >>> import mmzoo
        >>> model = mmzoo.build_model(
        ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        ...     num_outputs=2)
        >>> model.compile("sgd")
        >>> model.loss.__class__.__name__
        'SparseCategoricalCrossentropy'
        """
        if isinstance(loss, str) and loss == "auto":
            loss = self.head.default_loss()
        if isinstance(metrics, str) and metrics == "auto":
            metrics = self.head.default_metrics()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def fit(self, x=None, y=None, *args, calibrate_batch_norm=True, **kwargs):
        """`keras.Model.fit`, with BatchNorm statistics that are right at inference.

        Takes every argument of `keras.Model.fit`. When the model has BatchNorm layers
        and `x` is a `tf.data.Dataset` or arrays, one callback is added (unless
        `callbacks` has one of the kind already):

        - `mmzoo.batch_norm.BatchNormCalibration`: before each validation and at the
          end, every trainable BatchNorm layer's moving statistics are recomputed from
          about 256 training examples with the current weights ("precise BatchNorm",
          Wu & Johnson 2021). Without it a short run on a small dataset can predict
          one class for everything at inference.
        - with `calibrate_batch_norm=False`, `mmzoo.batch_norm.InferenceModeCheck`
          instead: at the end, it warns when the inference-mode accuracy on 256
          training examples trails training mode by more than 5 points.

        Args:
            x, y, *args, **kwargs: as for `keras.Model.fit`.
            calibrate_batch_norm: `False` keeps Keras' moving averages alone.

        Returns:
            The `keras.callbacks.History` of `keras.Model.fit`.

        Raises:
            TypeError: an argument `keras.Model.fit` does not take.

        The example trains, so it is not run by the test suite:

        >>> import numpy as np, mmzoo  # doctest: +SKIP
        >>> model = mmzoo.create_model("avmnist_image_lenet")  # doctest: +SKIP
        >>> model.compile("adam")  # doctest: +SKIP
        >>> history = model.fit({"image": np.zeros((8, 28, 28, 1), "float32")},
        ...                     np.zeros(8), epochs=1, verbose=0)  # doctest: +SKIP
        >>> sorted(history.history)  # doctest: +SKIP
        ['accuracy', 'loss']
        """
        from mmzoo.batch_norm import default_callbacks

        arguments = inspect.signature(keras.Model.fit).bind(self, x, y, *args, **kwargs).arguments
        arguments.pop("self")
        callbacks = list(arguments.get("callbacks") or [])
        arguments["callbacks"] = callbacks + default_callbacks(
            self, x, y, arguments.get("batch_size"), arguments.get("validation_split", 0.0),
            callbacks, calibrate=calibrate_batch_norm,
        )
        return super().fit(**arguments)

    def compile_from_config(self, config):
        """Compiles from `get_compile_config()` output and builds the optimizer.

        Args:
            config: the dict `keras.Model.get_compile_config` returns.

        >>> import mmzoo
        >>> model = mmzoo.build_model(
        ...     {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        ...     num_outputs=2)
        >>> model.compile("adam")
        >>> config = model.get_compile_config()
        >>> model.compile_from_config(config)
        >>> model.optimizer.built
        True
        """
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built and hasattr(self, "optimizer"):
            self.optimizer.build(self.trainable_variables)


def _count(weights):
    return int(sum(int(np.prod(weight.shape)) for weight in weights))


def refreeze(model):
    """Freezes again every sublayer of `model` whose config says `trainable: false`.

    On TensorFlow, a layer made frozen from its config but building its own sublayers
    later (keras-hub's transformer layers) would get trainable weights: setting
    `trainable = False` on a layer already marked False does not reach its new
    sublayers. Calling the property's setter directly does.
    """
    for layer in model._flatten_layers(include_self=False):
        if not layer.trainable:
            type(layer).trainable.fset(layer, False)
