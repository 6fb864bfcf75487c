"""The helpers of tests/testing.py pass a sound layer and fail broken ones."""

import keras
import numpy as np
import pytest
from testing import run_layer_test


@keras.saving.register_keras_serializable(package="mmzoo_test")
class Scale(keras.layers.Layer):
    """`x * w + b` with a bias that is used only if `use_bias`."""

    def __init__(self, factor=1.0, use_bias=True, drop_factor_from_config=False, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.use_bias = use_bias
        self.drop_factor_from_config = drop_factor_from_config

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")
        self.b = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="b")

    def call(self, inputs):
        out = inputs * self.w * self.factor
        return out + self.b if self.use_bias else out

    def get_config(self):
        config = {**super().get_config(), "use_bias": self.use_bias,
                  "drop_factor_from_config": self.drop_factor_from_config}
        if not self.drop_factor_from_config:
            config["factor"] = self.factor
        return config


@keras.saving.register_keras_serializable(package="mmzoo_test")
class Unsaved(keras.layers.Layer):
    """Keeps a random offset outside its weights: a reload changes the outputs."""

    def build(self, input_shape):
        self.offset = np.random.default_rng().normal(size=input_shape[-1]).astype("float32")

    def call(self, inputs):
        return inputs + self.offset


X = np.arange(8, dtype="float32").reshape(2, 4) / 8


def test_sound_layer_passes():
    result = run_layer_test(Scale, dict(factor=2.0), X, expected_output_shape=(2, 4),
                            expect_all_weights_train=True)
    np.testing.assert_allclose(result.outputs, 2 * X)
    assert result.restored is not None


def test_config_missing_an_argument_fails():
    with pytest.raises(AssertionError, match="`factor` missing from get_config"):
        run_layer_test(Scale, dict(drop_factor_from_config=True), X)


def test_wrong_expected_shape_fails():
    with pytest.raises(AssertionError, match="output shape"):
        run_layer_test(Scale, {}, X, expected_output_shape=(2, 5))


def test_weight_that_never_trains_fails():
    with pytest.raises(AssertionError, match="did not train"):
        run_layer_test(Scale, dict(use_bias=False), X, expect_all_weights_train=True)


def test_state_lost_on_reload_fails():
    with pytest.raises(AssertionError, match="reloaded outputs"):
        run_layer_test(Unsaved, {}, X)


def test_mixed_precision_policy_is_restored():
    run_layer_test(Scale, {}, X, run_saving_check=False, run_training_check=False)
    assert keras.config.dtype_policy().name == "float32"
