"""The cost section of the report: parameters, FLOPs, serving latency/throughput/memory."""

import keras
import numpy as np
import pytest
from testing import make_tiny_config

import mmzoo
from mmzoo.evaluation import cost


def _tiny_model():
    return mmzoo.build_model(
        {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)},
         "audio": {"tower": "log_mel_conv", "input_shape": (800,), "filters": (2,),
                   "n_mels": 8}},
        num_outputs=3)


@pytest.fixture(scope="module")
def image_export(tmp_path_factory):
    """An untrained one-input model exported as a SavedModel (no `.keras`, no LiteRT)."""
    keras.utils.set_random_seed(0)
    model = mmzoo.build_model(
        {"image": {"tower": "conv", "input_shape": (8, 8, 1), "filters": (2,)}},
        num_outputs=2)
    folder = tmp_path_factory.mktemp("cost") / "image"
    mmzoo.export.export_model(model, folder, formats=("saved_model",), check=False)
    return model, folder


@pytest.fixture(scope="module")
def image_serving(image_export):
    return cost.serving_cost(image_export[1], repeats=5, warmup=1)


# --- parameters ---------------------------------------------------------------------


def test_parameters_sum_to_count_params_and_match_the_table():
    model = _tiny_model()
    rows = cost.parameters(model)
    assert [row["part"] for row in rows] == [
        "image_tower", "audio_tower", "fusion", "head", "total"]
    total = rows[-1]
    assert total["trainable"] == sum(row["trainable"] for row in rows[:-1])
    assert total["frozen"] == sum(row["frozen"] for row in rows[:-1])
    assert total["trainable"] + total["frozen"] == model.count_params()
    assert total["trainable"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    # parameter_table shows the same rows.
    table = model.parameter_table().splitlines()[1:]
    assert [line.split() for line in table] == [
        [row["part"], f"{row['trainable']:,}", f"{row['frozen']:,}"] for row in rows]


def test_parameters_of_a_plain_keras_model():
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    norm = keras.layers.BatchNormalization(name="norm")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(norm))
    assert cost.parameters(model) == [
        {"part": "hidden", "trainable": 18, "frozen": 0},
        {"part": "norm", "trainable": 6, "frozen": 6},
        {"part": "out", "trainable": 8, "frozen": 0},
        {"part": "total", "trainable": 32, "frozen": 6},
    ]


# --- FLOPs --------------------------------------------------------------------------


def test_flops_of_dense_layers_match_the_hand_count():
    inputs = keras.Input((10,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    # matmul 2*in*out (a multiply-add is 2), bias add 1 per output, ReLU 0,
    # softmax 5 per output (the profiler's registered counts).
    expected = (2 * 10 * 8 + 8) + (2 * 8 * 3 + 3) + 5 * 3
    assert cost.flops_per_example(model) == expected


def test_flops_of_a_convolution_match_the_hand_count():
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, padding="valid")(inputs))
    # 6x6 outputs x 2 filters, each 3*3*1 multiply-adds, plus the bias adds.
    assert cost.flops_per_example(model) == 2 * (3 * 3 * 1) * (6 * 6 * 2) + 6 * 6 * 2


def test_flops_count_every_step_of_a_recurrent_layer():
    steps, features, units = 6, 4, 5
    inputs = keras.Input((steps, features))
    layer = keras.layers.LSTM(units)
    model = keras.Model(inputs, layer(inputs))
    flops = cost.flops_per_example(model)
    # At least the two matmuls of the 4 gates at every step.
    assert flops >= steps * 2 * (features + units) * 4 * units
    assert layer.unroll is False  # set back after the count
    count, note = cost._profile_flops(model)
    assert count == flops and "lower bound" not in note


def test_flops_of_a_multimodal_model_name_what_is_not_counted():
    model = _tiny_model()
    count, note = cost._profile_flops(model)
    head = model.head
    dense = [w for w in head.trainable_weights if len(w.shape) == 2]
    assert count > sum(2 * int(np.prod(w.shape)) for w in dense)  # the head alone
    assert "FFT" in note and "lower bound" in note  # the log-mel tower's spectrogram


def test_flops_none_when_the_profiler_cannot_trace(capfd):
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    count, note = cost._profile_flops(Subclassed())
    assert count is None and note.startswith("no FLOP count")
    assert cost.flops_per_example(Subclassed()) is None


def test_flops_are_silent(capfd):
    inputs = keras.Input((4,))
    cost.flops_per_example(keras.Model(inputs, keras.layers.Dense(2)(inputs)))
    out, err = capfd.readouterr()
    assert out == "" and "profiler" not in err and "Parsing" not in err


# --- timing -------------------------------------------------------------------------


def test_serving_cost_of_an_export(image_serving, image_export):
    result = image_serving
    assert "error" not in result, result.get("error")
    assert result["signature"] == "serving_default"
    one, full = result["batches"][1], result["batches"][64]
    assert 0 < one["p50_ms"] <= one["p95_ms"]
    assert full["output_rows"] == 64 and one["output_rows"] == 1
    assert full["examples_per_second"] > 0 and full["calls"] == 5
    assert result["peak_memory_mb"] >= result["rss_after_import_mb"] > 0
    assert result["device"].startswith(("CPU", "GPU"))
    assert str(image_export[1]) in result["measured"]
    assert "peak RSS of the serving process" in result["measured"]


def test_serving_cost_errors_are_one_line(tmp_path, image_export):
    missing = cost.serving_cost(tmp_path)
    assert "parity_examples.npz" in missing["error"] and "\n" not in missing["error"]
    late = cost.serving_cost(image_export[1], timeout=0.5)
    assert late["error"] == "serving measurement timed out after 0.5 s"
    section = cost.cost(image_export[0], export_dir=tmp_path, flops=False)
    assert section["error"] == missing["error"]
    assert section["latency_ms"] == {"batch_size": 1, "p50": None, "p95": None}


def test_cost_of_a_keras_model_without_export():
    section = cost.cost(_tiny_model(), repeats=5, warmup=1)
    assert section["parameters"][-1]["part"] == "total"
    assert section["flops_per_example"] > 0
    assert section["latency_ms"]["batch_size"] == 1
    assert 0 < section["latency_ms"]["p50"] <= section["latency_ms"]["p95"]
    assert section["throughput"]["batch_size"] == 64
    assert section["throughput"]["examples_per_second"] > 0
    assert section["peak_memory_mb"] is None
    assert section["measured"].startswith("Keras model in this process")


@pytest.mark.slow
def test_cost_of_a_trained_trimodal_export(tmp_path):
    """`mmzoo.train` a tiny trimodal model (with a mask) and measure its export."""
    mmzoo.train(make_tiny_config(tmp_path, training={"epochs": 1}))
    export = tmp_path / "saved_models" / "tiny"
    model = mmzoo.artifacts.load_model(export)
    section = cost.cost(model, export_dir=export, repeats=10, warmup=2)
    assert "error" not in section, section.get("error")
    assert section["parameters"][-1]["trainable"] + section["parameters"][-1]["frozen"] \
        == model.count_params()
    assert section["flops_per_example"] > 0
    assert 0 < section["latency_ms"]["p50"] <= section["latency_ms"]["p95"]
    assert section["throughput"]["examples_per_second"] > 0
    assert section["peak_memory_mb"] > 0
    # The rows with every modality present go to serving_default (mask dropped).
    assert "'serving_default'" in section["measured"]
    assert section["batches"][64]["output_rows"] == 64
