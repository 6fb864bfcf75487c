"""Robustness curves (`mmzoo.evaluation.robustness`): the noise of each modality, the
MultiBench robustness numbers, and the curves of a trained model."""

import math
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from testing import make_tiny_config

import mmzoo
from mmzoo import artifacts
from mmzoo.evaluation import robustness
from mmzoo.evaluation.metrics import main_value
from mmzoo.evaluation.predictions import Predictions, collect
from mmzoo.evaluation.robustness import (
    drop_tokens,
    effective_robustness,
    gaussian_image_noise,
    noise_levels,
    noise_seed,
    relative_robustness,
    white_audio_noise,
)
from mmzoo.training.inputs import eval_dataset, load_splits

REPO = pathlib.Path(__file__).resolve().parents[1]


def _snr_db(signal, noisy):
    signal = np.asarray(signal, "float64")
    noise = np.asarray(noisy, "float64") - signal
    return 10 * np.log10(np.mean(signal ** 2, axis=-1) / np.mean(noise ** 2, axis=-1))


# --- noise ----------------------------------------------------------------------------


def test_noise_levels_have_clean_first_and_ten_levels():
    assert noise_levels("image") == pytest.approx([0.0, *np.linspace(0.1, 1.0, 10)])
    assert noise_levels("text") == pytest.approx([0.0, *np.linspace(0.1, 1.0, 10)])
    audio = noise_levels("audio")
    assert audio[0] == math.inf
    assert audio[1:] == pytest.approx(np.arange(30, -16, -5))
    assert len(noise_levels("image", levels=4)) == 5
    with pytest.raises(ValueError, match="Received: modality='video'"):
        noise_levels("video")
    with pytest.raises(ValueError, match="levels=0"):
        noise_levels("image", levels=0)


def test_audio_noise_has_the_snr_asked():
    t = np.arange(8000) / 8000
    signals = np.stack([
        0.5 * np.sin(2 * np.pi * 300 * t),
        0.05 * np.sin(2 * np.pi * 1000 * t) * (t < 0.5),  # quiet, half silent
        np.random.default_rng(0).uniform(-0.9, 0.9, 8000),
    ]).astype("float32")
    for level, snr in enumerate(noise_levels("audio")[1:], start=1):
        noisy = white_audio_noise(signals, snr, noise_seed(0, level))
        assert noisy.shape == signals.shape and noisy.dtype == tf.float32
        np.testing.assert_allclose(_snr_db(signals, noisy), snr, atol=0.5,
                                   err_msg=f"SNR {snr} dB")


def test_audio_noise_on_silence_uses_the_power_floor():
    silence = np.zeros((2, 8000), "float32")
    noisy = white_audio_noise(silence, 10.0, noise_seed(0, 1)).numpy()
    power = np.mean(noisy.astype("float64") ** 2, axis=-1)
    np.testing.assert_allclose(power, robustness.MIN_SIGNAL_POWER / 10, rtol=0.05)


def test_image_noise_std_and_clipping():
    images = np.full((8, 32, 32, 3), 0.5, "float32")
    for std in (0.02, 0.05, 0.1):
        noisy = gaussian_image_noise(images, std, noise_seed(0, 1)).numpy()
        assert noisy.shape == images.shape and noisy.dtype == np.float32
        # Clipping is 5+ standard deviations away: the std is the one asked.
        assert np.std(noisy - images) == pytest.approx(std, rel=0.02)
        assert abs(np.mean(noisy - images)) < std / 20
    strong = gaussian_image_noise(images, 1.0, noise_seed(0, 10)).numpy()
    assert strong.min() == 0.0 and strong.max() == 1.0  # clipped to [0, 1]
    np.testing.assert_array_equal(gaussian_image_noise(images, 0.0, noise_seed(0, 1)), images)


def _check_drop(ids, dropped, pad, kept):
    """Every row of `dropped` is its row of `ids` with some real tokens taken out."""
    for row, out in zip(ids.tolist(), dropped.tolist()):
        assert len(out) == len(row)
        body = [token for token in out if token != pad]
        assert out == body + [pad] * (len(out) - len(body))  # packed left, padded right
        # The survivors are a subsequence of the original (order kept).
        original = iter(token for token in row if token != pad)
        assert all(any(token == other for other in original) for token in body)
        # Special tokens are never dropped.
        assert [t for t in body if t in kept] == [t for t in row if t in kept]


def test_token_drop_keeps_order_padding_and_special_tokens():
    pad, start, end = 1, 0, 2  # RoBERTa's ids: <s> 0, <pad> 1, </s> 2
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 14, 64)
    ids = np.full((64, 16), pad, "int32")
    for row, length in enumerate(lengths):
        ids[row, : length + 2] = [start, *rng.integers(3, 50, length), end]
    for level, p in enumerate(noise_levels("text")[1:], start=1):
        dropped = drop_tokens(ids, p, noise_seed(0, level), padding_id=pad,
                              kept_ids=(start, end)).numpy()
        assert dropped.dtype == np.int32
        _check_drop(ids, dropped, pad, {start, end})
    everything = drop_tokens(ids, 1.0, noise_seed(0, 10), padding_id=pad,
                             kept_ids=(start, end)).numpy()
    np.testing.assert_array_equal(everything[:, :2], np.tile([start, end], (64, 1)))
    assert np.all(everything[:, 2:] == pad)
    np.testing.assert_array_equal(
        drop_tokens(ids, 0.0, noise_seed(0, 1), padding_id=pad, kept_ids=(start, end)), ids)


def test_token_drop_rate_and_plain_tokenizer_ids():
    ids = np.zeros((200, 20), "int32")
    ids[:, :15] = np.arange(2, 17)  # right-padded with 0, as a TextTokenizer's
    dropped = drop_tokens(ids, 0.3, noise_seed(0, 3)).numpy()
    _check_drop(ids, dropped, 0, set())
    assert np.mean(dropped > 0) / np.mean(ids > 0) == pytest.approx(0.7, abs=0.02)
    assert np.all(drop_tokens(ids, 1.0, noise_seed(0, 10)).numpy() == 0)


def test_kept_token_ids_of_a_preset_tokenizer():
    import keras_hub

    from mmzoo.preprocessing.preset_text import PresetTokenizer
    from mmzoo.preprocessing.text import TextTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "cat"]
    packer = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True), sequence_length=8)
    layer = PresetTokenizer(packer)
    kept = robustness.kept_token_ids(layer)
    assert 2 in kept and 3 in kept and 0 not in kept and 1 not in kept  # [UNK] is a word
    ids = layer(["a red cat dog", "cat"]).numpy()
    dropped = drop_tokens(ids, 1.0, noise_seed(0, 10), layer.padding_id, kept).numpy()
    assert dropped.tolist() == [[2, 3, 0, 0, 0, 0, 0, 0]] * 2
    assert robustness.kept_token_ids(TextTokenizer(sequence_length=4)) == ()


def test_noise_is_reproducible_and_differs_by_level_and_batch():
    images = np.full((2, 8, 8, 3), 0.5, "float32")
    waves = np.full((2, 800), 0.3, "float32")
    ids = np.tile(np.arange(2, 30, dtype="int32"), (4, 1))
    for noise, data, level in ((gaussian_image_noise, images, 0.1),
                               (white_audio_noise, waves, 10.0),
                               (drop_tokens, ids, 0.5)):
        first = noise(data, level, noise_seed(7, 3)).numpy()
        np.testing.assert_array_equal(first, noise(data, level, noise_seed(7, 3)).numpy())
        assert not np.array_equal(first, noise(data, level, noise_seed(7, 4)).numpy())
        assert not np.array_equal(first, noise(data, level, noise_seed(8, 3)).numpy())
        assert not np.array_equal(first, noise(data, level, noise_seed(7, 3, 1)).numpy())


def test_noise_runs_in_tf_data():
    data = tf.data.Dataset.from_tensor_slices(
        ({"image": np.full((6, 4, 4, 3), 0.5, "float32")}, np.arange(6))).batch(4)
    noisy = robustness.noisy_dataset(data, "image", "image", 0.2, seed=0, level=2)
    first = [x["image"].numpy() for x, _ in noisy]
    again = [x["image"].numpy() for x, _ in noisy]
    assert [b.shape for b in first] == [(4, 4, 4, 3), (2, 4, 4, 3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][:2], first[1])  # each batch its own noise


# --- robustness numbers ---------------------------------------------------------------


def test_relative_robustness_is_the_area_under_the_curve():
    assert relative_robustness([0.8] * 11) == pytest.approx(0.8)
    # Trapezoids of width 0.1: 0.1 * (1.0/2 + 0.9 + ... + 0.1 + 0.0/2) = 0.5.
    assert relative_robustness(np.linspace(1.0, 0.0, 11)) == pytest.approx(0.5)
    # 0.5 * ((0.9 + 0.5) / 2 + (0.5 + 0.4) / 2) = 0.575
    assert relative_robustness([0.9, 0.5, 0.4]) == pytest.approx(0.575)
    with pytest.raises(ValueError, match="at least one noise level"):
        relative_robustness([0.9])


def test_effective_robustness_against_chance_and_a_reference():
    # The straight line 0.9 -> 0.1 itself: nothing above the reference.
    assert effective_robustness(np.linspace(0.9, 0.1, 11), baseline=0.1) == pytest.approx(0.0)
    # A flat curve: sum_i (0.9 - (0.9 - 0.8 i/10)) = 0.08 * 55 = 4.4.
    assert effective_robustness([0.9] * 11, baseline=0.1) == pytest.approx(4.4)
    # Line [0.9, 0.5, 0.1]; curve [0.9, 0.3, 0.1]: 0 - 0.2 + 0 = -0.2.
    assert effective_robustness([0.9, 0.3, 0.1], baseline=0.1) == pytest.approx(-0.2)
    # MultiBench's form: reference [0.8, 0.6, 0.2] shifted to 0.9 -> [0.9, 0.7, 0.3].
    assert effective_robustness([0.9, 0.8, 0.2], reference=[0.8, 0.6, 0.2]) == \
        pytest.approx(0.1 - 0.1)
    # An error (MAE) that rises more slowly than the line 1.0 -> 3.0 is robust: > 0.
    assert effective_robustness([1.0, 1.5, 3.0], baseline=3.0,
                                higher_is_better=False) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="exactly one"):
        effective_robustness([0.9, 0.5])
    with pytest.raises(ValueError, match="Received: 2 values"):
        effective_robustness([0.9, 0.5, 0.1], reference=[0.9, 0.5])


def test_chance_value_is_the_best_constant_prediction():
    labels = np.array([0, 2, 2, 1, 2])
    assert robustness.chance_value(Predictions("multiclass", [], labels, np.zeros((5, 3)))) == 0.6
    binary = Predictions("binary", [], np.array([1, 0, 0, 0]), np.zeros(4))
    assert robustness.chance_value(binary) == 0.75
    regression = Predictions("regression", [], np.array([[1.0], [2.0], [4.0]]), np.zeros((3, 1)))
    assert robustness.chance_value(regression) == pytest.approx(1.0)  # |1-2| + |4-2| over 3


# --- curves of a trained model --------------------------------------------------------


def _test_split(run_dir):
    data = (artifacts.read_config(artifacts.find_model(run_dir)[1]) or {}).get("dataset", {})
    return load_splits(data.get("name", "embedded"), data.get("options", {}),
                       data.get("data_dir"), data.get("seed", 0), splits=("test",))["test"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("robustness")
    config = make_tiny_config(folder, training={"epochs": 3}, evaluation={"per_modality": False},
                              output={"verbose": 0, "export": False, "tensorboard": False})
    result = mmzoo.train(config, log=None)
    model = artifacts.load_model(result["run_dir"])
    dataset = eval_dataset(_test_split(result["run_dir"]), model.preprocessor, batch_size=16)
    return model, dataset


def test_curves_of_a_tiny_model(tiny_model, capsys):
    model, dataset = tiny_model
    result = robustness.curves(model, dataset, seed=0, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 3 * 10
    assert sorted(result) == sorted(model.modalities) == ["audio", "image", "text"]
    clean = main_value(collect(model, dataset))
    for name, curve in result.items():
        assert curve["modality"] == name and curve["metric"] == "accuracy"
        assert curve["noise"] == robustness.NOISE_NAMES[name]
        assert len(curve["values"]) == len(curve["levels"]) == len(curve["severity"]) == 11
        assert curve["levels"] == noise_levels(name)
        assert curve["values"][0] == clean
        assert all(0.0 <= value <= 1.0 for value in curve["values"])
        assert 0.1 <= curve["chance"] <= 0.5 and curve["baseline"] == curve["chance"]
        assert curve["relative_robustness"] == pytest.approx(relative_robustness(curve["values"]))
        assert curve["effective_robustness"] == pytest.approx(
            effective_robustness(curve["values"], baseline=curve["chance"]))
    again = robustness.curves(model, dataset, seed=0, modalities=["text"])
    assert list(again) == ["text"]
    for name in again:
        assert again[name]["values"] == result[name]["values"]
    assert capsys.readouterr().out == ""


def test_curves_refuse_unknown_inputs_and_wrong_tensors(tiny_model):
    model, dataset = tiny_model
    with pytest.raises(ValueError, match=r"Received: modalities=\['video'\]"):
        robustness.curves(model, dataset, modalities=["video"])
    flat = dataset.map(lambda x, y: ({**x, "image": tf.reshape(x["image"], [-1, 32 * 32 * 3])},
                                     y))
    with pytest.raises(ValueError, match=r"input 'image' \(image\) needs an image batch.*"
                                         r"Received: .*shape \(None, 3072\)"):
        robustness.curves(model, flat, modalities=["image"])
    floats = dataset.map(lambda x, y: ({**x, "text": tf.cast(x["text"], tf.float32)}, y))
    with pytest.raises(ValueError, match=r"input 'text' \(text\) needs token ids.*"
                                         r"dtype float32"):
        robustness.curves(model, floats, modalities=["text"])
    with pytest.raises(ValueError, match="levels=0"):
        robustness.curves(model, dataset, levels=0)


# --- the check on the demo model ----------------------------------------------

#: Epochs of the slow test's demo model (the demo trains 20): enough for every
#: modality to carry information (each alone well above chance); about 6 minutes.
DEMO_EPOCHS = 8


@pytest.mark.slow
def test_demo_model_loses_accuracy_under_noise_monotonically(tmp_path):
    """The issue's check: accuracy at the highest noise level is below accuracy at none
    for each modality, and the curves are monotone within noise tolerance (no rise
    between consecutive levels above 3 binomial standard errors sqrt(p(1-p)/N))."""
    import yaml

    config = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    config["training"]["epochs"] = DEMO_EPOCHS
    config["output"] = {"runs_dir": str(tmp_path / "runs"), "export": False,
                        "tensorboard": False, "verbose": 0}
    result = mmzoo.train(config, log=None)
    # The model uses every modality: each one alone is above chance (0.1) by more than
    # 4 standard errors (0.012 on 1000 examples). After 8 epochs the image alone is
    # about 0.2 (the demo's 20 epochs: 0.37), text and audio about 0.38.
    for name in ("image", "text", "audio"):
        assert result["per_modality"][name]["accuracy"] > 0.15, result["per_modality"]
    model = artifacts.load_model(result["run_dir"])
    dataset = eval_dataset(_test_split(result["run_dir"]), model.preprocessor, batch_size=100)
    count = sum(int(tf.shape(y)[0]) for _, y in dataset)
    curves = robustness.curves(model, dataset, seed=0)
    print({name: [round(v, 3) for v in curve["values"]] for name, curve in curves.items()})
    for name, curve in curves.items():
        values = np.array(curve["values"])
        assert values[-1] < values[0], (name, values)
        standard_error = np.sqrt(values[:-1] * (1 - values[:-1]) / count)
        rises = np.diff(values)
        assert np.all(rises <= 3 * standard_error + 1e-9), (name, values)
        assert curve["effective_robustness"] > 0  # the other two modalities carry it
