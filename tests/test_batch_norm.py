"""BatchNorm statistics after short runs: recalibration, the inference check, presets.

The failing case of issue 10: one FSDD speaker (400 clips), an audio-only model, 5
epochs of batch 32 through `from_manifest`: training accuracy 0.99, inference 0.10.
"""

import csv
import gzip

import keras
import numpy as np
import pytest

import mmzoo
from mmzoo.batch_norm import (
    BatchNormCalibration,
    InferenceModeCheck,
    batch_norm_layers,
    check_batch,
    inference_gap,
    recalibrate_batch_norm,
)
from mmzoo.towers.common import BATCH_NORM_MOMENTUM, set_batch_norm_momentum

SPEAKER = "jackson"


def _fsdd_manifests(data_dir, folder, speaker=SPEAKER):
    """Takes 10-49 of each digit for training, takes 0-9 for test (issue 10's split)."""
    recordings = data_dir / "fsdd" / "recordings"
    paths = {}
    for split, takes in (("train", range(10, 50)), ("test", range(10))):
        path = folder / f"{split}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["audio", "label"])
            for digit in range(10):
                for take in takes:
                    writer.writerow([recordings / f"{digit}_{speaker}_{take}.wav", str(digit)])
        paths[split] = path
    return paths


def _fsdd_arrays(path):
    """The manifest's clips centred to 8,000 samples, in one batch, and the labels."""
    dataset, manifest = mmzoo.data.from_manifest(path, AUDIO, shuffle=False, batch_size=1000)
    features, labels = next(iter(dataset))
    return {"audio": features["audio"].numpy()}, labels.numpy(), manifest


AUDIO = {"audio": {"kind": "audio", "sample_rate": 8000, "num_samples": 8000}}


@pytest.fixture(scope="module")
def fsdd(data_dir, tmp_path_factory):
    return _fsdd_manifests(data_dir, tmp_path_factory.mktemp("fsdd"))


def _train_fsdd(manifests, tower, calibrate=True, momentum=None, epochs=5):
    keras.utils.set_random_seed(0)
    model = mmzoo.build_model(
        inputs={"audio": {"tower": tower, "input_shape": (8000,), "sample_rate": 8000}},
        head="multiclass", num_outputs=10,
    )
    if momentum is not None:
        set_batch_norm_momentum(model, momentum)
    model.compile("adam")
    train, _ = mmzoo.data.from_manifest(manifests["train"], AUDIO, training=True, batch_size=32)
    history = model.fit(train, epochs=epochs, verbose=0, calibrate_batch_norm=calibrate)
    return model, history


def _accuracies(model, manifests):
    """Training-mode and inference-mode accuracy on the whole training split (one batch
    of 400), and inference-mode test accuracy."""
    x, y, _ = _fsdd_arrays(manifests["train"])
    training, inference = inference_gap(model, (x, y))
    x_test, y_test, _ = _fsdd_arrays(manifests["test"])
    test = inference_gap(model, (x_test, y_test))[1]
    return training, inference, test


def _report(name, training, inference, test):
    print(f"\n{name}: training-mode {training:.3f}, inference {inference:.3f}, test {test:.3f}")


def test_one_speaker_short_run_predicts_at_inference_as_in_training(fsdd):
    """Issue 10's case: inference accuracy on the training split was 0.10 (one class)."""
    model, _ = _train_fsdd(fsdd, "log_mel_conv")
    training, inference, test = _accuracies(model, fsdd)
    _report("log_mel_conv", training, inference, test)
    assert inference >= training - 0.05
    assert test >= 0.5  # chance is 0.1; measured 0.76-0.80


def test_broken_run_is_caught_by_the_inference_check(fsdd):
    """Keras' momentum 0.99 and no recalibration: the failure the issue reports, and the
    warning that names its cause."""
    with pytest.warns(UserWarning, match="BatchNormalization moving statistics"):
        model, _ = _train_fsdd(fsdd, "log_mel_conv", calibrate=False, momentum=0.99, epochs=3)
    training, inference, _ = _accuracies(model, fsdd)
    _report("momentum 0.99, no calibration", training, inference, float("nan"))
    assert inference < training - 0.3
    # Recalibrating the broken model afterwards repairs it.
    train, _ = mmzoo.data.from_manifest(fsdd["train"], AUDIO, batch_size=32)
    assert recalibrate_batch_norm(model, train.take(8)) == 8
    training, inference, _ = _accuracies(model, fsdd)
    assert inference >= training - 0.05


@pytest.mark.slow
@pytest.mark.parametrize("tower", ["log_mel_conv", "lenet", "waveform_conv"])
def test_every_audio_tower_after_a_short_run(fsdd, tower):
    model, _ = _train_fsdd(fsdd, tower)
    training, inference, test = _accuracies(model, fsdd)
    _report(f"audio/{tower}", training, inference, test)
    assert inference >= training - 0.05
    assert test >= 0.4


def _mnist(data_dir, kind, count):
    folder = data_dir / "mnist"
    with gzip.open(folder / f"{kind}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:count]
    with gzip.open(folder / f"{kind}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:count]
    return images.astype("float32") / 255.0, labels.astype("int64")


@pytest.mark.slow
@pytest.mark.parametrize("tower", ["conv", "lenet", "resnet"])
def test_every_image_tower_after_a_short_run(data_dir, tower):
    """1,000 MNIST images, 3 epochs of batch 32 (96 steps)."""
    x, y = _mnist(data_dir, "train", 1000)
    x_test, y_test = _mnist(data_dir, "t10k", 1000)
    if tower == "resnet":  # keras.applications ResNets need at least 32x32
        pad = ((0, 0), (2, 2), (2, 2), (0, 0))
        x, x_test = np.pad(x, pad), np.pad(x_test, pad)
    keras.utils.set_random_seed(0)
    model = mmzoo.build_model(
        inputs={"image": {"tower": tower, "input_shape": x.shape[1:]}}, num_outputs=10
    )
    model.compile("adam")
    model.fit(mmzoo.data.from_numpy({"image": x}, y, batch_size=32), epochs=3, verbose=0)
    training, inference = inference_gap(model, ({"image": x}, y))
    test = inference_gap(model, ({"image": x_test}, y_test))[1]
    _report(f"image/{tower}", training, inference, test)
    assert inference >= training - 0.05
    assert test >= 0.5


def _preset_data(name, data_dir, count):
    """`count` training examples of the data the preset is made for."""
    inputs = mmzoo.get_preset(name)["config"]["inputs"]
    if name.startswith("avmnist"):
        x, y = _mnist(data_dir, "train", count)
        x_audio, y_audio, _ = _fsdd_arrays_by_digit(data_dir, y)
        features = {"image": x, "audio": x_audio}
        return {k: v for k, v in features.items() if k in inputs}, y
    from mmzoo.preprocessing.preprocessor import Preprocessor
    from mmzoo.training.inputs import load_splits, to_pairs

    splits = load_splits("embedded", {"num_train": count}, splits=("train",))
    preprocessor = Preprocessor.from_specs({"text": {"input_shape": (32,), "vocab_size": 1000}})
    preprocessor.adapt(splits["train"])
    features, labels = next(iter(to_pairs(splits["train"], list(inputs)).batch(count)))
    features = {k: v.numpy() for k, v in preprocessor(features).items()}
    return features, labels.numpy()


def _fsdd_arrays_by_digit(data_dir, digits):
    """One FSDD recording (speaker jackson, cycling through takes) per digit label."""
    from mmzoo.preprocessing.audio import decode_wav, fix_length

    clips = []
    for i, digit in enumerate(digits):
        path = data_dir / "fsdd" / "recordings" / f"{digit}_{SPEAKER}_{i % 50}.wav"
        waveform, _ = decode_wav(path.read_bytes())
        clips.append(fix_length(waveform, 8000, "center").numpy())
    return np.stack(clips), digits, None


# Presets made for other data, fitted to the embedded dataset's inputs and 10 classes.
ON_EMBEDDED_DATA = {"sentiment_trimodal": {
    "inputs": {"image": {"input_shape": (32, 32, 3)},
               "text": {"input_shape": (32,), "vocab_size": 1000},
               "audio": {"input_shape": (8000,), "sample_rate": 8000}},
    "num_outputs": 10, "head_options": {"class_names": None}}}
# Two presets in the default run (a trimodal and an AV-MNIST one), all with -m slow.
FAST_PRESETS = ("trimodal_gated", "avmnist_late_fusion")


@pytest.mark.parametrize("name", [
    name if name in FAST_PRESETS else pytest.param(name, marks=pytest.mark.slow)
    for name in mmzoo.list_models()
])
def test_presets_agree_in_inference_and_training_mode_after_30_steps(name, data_dir):
    """30 steps of batch 16 on 480 examples; dropouts off, so the two modes differ only
    in the BatchNorm statistics (batch's own vs. recalibrated moving averages)."""
    x, y = _preset_data(name, data_dir, 480)
    keras.utils.set_random_seed(0)
    overrides = {"head_options": {"dropout": 0.0}}
    if len(x) > 1:
        overrides["modality_dropout"] = 0.0
    overrides.update(ON_EMBEDDED_DATA.get(name, {}))
    if "head_options" in ON_EMBEDDED_DATA.get(name, {}):
        overrides["head_options"] = {**ON_EMBEDDED_DATA[name]["head_options"], "dropout": 0.0}
    model = mmzoo.create_model(name, **overrides)
    model.compile("adam")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    batch = {k: v[:128] for k, v in x.items()}
    training = np.asarray(_training_mode(model, batch))
    inference = np.asarray(model.predict(batch, verbose=0))
    difference = np.abs(training - inference)
    agreement = np.mean(training.argmax(-1) == inference.argmax(-1))
    print(f"\n{name}: |p_train - p_infer| mean {difference.mean():.4f} max "
          f"{difference.max():.4f}, argmax agreement {agreement:.3f}")
    # Measured: mean 0.0002-0.0050, max 0.002-0.111 over the presets. Argmax agreement
    # is printed, not asserted: after 30 steps the embedded presets' outputs are still
    # close to uniform, so differences of 0.001 flip it.
    assert difference.mean() < 0.01
    assert difference.max() < 0.15


def _training_mode(model, x):
    saved = [v.numpy() for v in model.non_trainable_variables]
    outputs = model(x, training=True)
    for variable, value in zip(model.non_trainable_variables, saved):
        variable.assign(value)
    return outputs


def test_recalibration_averages_batch_statistics_and_restores_the_rest():
    rng = np.random.default_rng(0)
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        keras.layers.Conv2D(3, 3, name="conv"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Dropout(0.5, seed=1, name="dropout"),
        keras.layers.BatchNormalization(name="frozen"),
    ])
    model.get_layer("frozen").trainable = False
    frozen_before = [v.numpy() for v in model.get_layer("frozen").non_trainable_variables]
    seeds_before = [v.numpy() for v in model.non_trainable_variables if "seed" in v.path]
    batches = [rng.normal(3.0, 2.0, (8, 6, 6, 2)).astype("float32") for _ in range(3)]
    assert recalibrate_batch_norm(model, batches) == 3
    conv = model.get_layer("conv")
    means = [np.asarray(conv(b)).mean(axis=(0, 1, 2)) for b in batches]
    variances = [np.asarray(conv(b)).var(axis=(0, 1, 2)) for b in batches]
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(means, axis=0), rtol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean(variances, axis=0), rtol=1e-4)
    assert bn.momentum == 0.99  # restored after the pass
    for before, variable in zip(frozen_before, model.get_layer("frozen").non_trainable_variables):
        np.testing.assert_array_equal(before, variable.numpy())
    seeds_after = [v.numpy() for v in model.non_trainable_variables if "seed" in v.path]
    assert seeds_before and all(np.array_equal(a, b) for a, b in zip(seeds_before, seeds_after))
    assert [layer.name for layer in batch_norm_layers(model)] == ["bn"]


def test_fit_recalibrates_arrays_from_a_random_sample_of_rows():
    """Arrays sorted by class: the first rows alone would give one class's statistics."""
    x = np.concatenate([np.full((300, 4), -5.0), np.full((300, 4), 5.0)]).astype("float32")
    y = np.repeat([0, 1], 300)
    inputs = keras.Input((4,), name="x")
    model = mmzoo.MultimodalModel(
        inputs={"x": inputs},
        outputs=mmzoo.TaskHead("binary", num_outputs=1, name="head")(
            keras.layers.BatchNormalization(momentum=0.999)(inputs)),
        modalities=["x"],
    )
    model.compile("adam")
    model.fit({"x": x}, y, batch_size=50, epochs=1, verbose=0)
    bn = model.layers[1]
    assert abs(float(bn.moving_mean.numpy()[0])) < 1.0  # both classes sampled
    assert float(bn.moving_variance.numpy()[0]) > 15.0  # 25 for the full set


def test_calibration_runs_before_validation_and_once_at_the_end():
    calls = []

    class Counting(BatchNormCalibration):
        def _recalibrate(self):
            calls.append(self._stale)
            super()._recalibrate()

    model = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization(),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((8, 2), "float32")
    model.fit(x, np.zeros(8), validation_data=(x, np.zeros(8)), epochs=2, verbose=0,
              callbacks=[Counting([x])])
    # Before each validation (stale: the epoch trained), then at the end (nothing new).
    assert calls == [True, True, False]


def test_check_batch_joins_labelled_batches():
    batches = [({"a": np.full((40, 2), i)}, np.full(40, i)) for i in range(5)]
    x, y = check_batch(batches, examples=100)
    assert x["a"].shape == (120, 2) and y.tolist() == [0] * 40 + [1] * 40 + [2] * 40
    assert check_batch(batches[:2]) is None  # 80 examples: too few to judge
    assert check_batch([np.zeros((400, 2))]) is None  # no labels


def test_inference_check_logs_instead_of_warning_when_given_a_log():
    """BatchNorm with momentum 1.0 never updates its moving statistics (0 and 1)."""
    keras.utils.set_random_seed(0)
    lines = []
    model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(momentum=1.0),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    x = np.concatenate([np.full((32, 3), 40.0), np.full((32, 3), 60.0)]).astype("float32")
    y = np.repeat([0, 1], 32)
    check = InferenceModeCheck((x, y), kind="multiclass", log=lines.append)
    model.fit(x, y, epochs=30, verbose=0, callbacks=[check])
    assert check.result["training"] == 1.0 and check.result["inference"] == 0.5
    assert len(lines) == 1 and "BatchNormalization moving statistics" in lines[0]


def test_inference_gap_infers_the_task_from_the_outputs():
    """A plain Sequential model (no head, no symbolic output): classes from the width."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = np.eye(2, dtype="float32"), np.array([0, 1])
    check = InferenceModeCheck((x, y))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[check])
    assert check.result["training"] == check.result["inference"]  # no BatchNorm, no dropout
    assert check.result["warning"] is None
    binary = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    training, inference = inference_gap(binary, (x, np.array([0, 1])))
    assert training == inference and training in (0.0, 0.5, 1.0)


def test_towers_use_the_short_run_momentum_and_old_models_still_load(tmp_path):
    model = mmzoo.create_model("trimodal_concat")
    momenta = {layer.momentum for layer in batch_norm_layers(model)}
    assert momenta == {BATCH_NORM_MOMENTUM}
    resnet = mmzoo.build_model(inputs={"image": {"tower": "resnet", "input_shape": (32, 32, 3)}})
    assert {layer.momentum for layer in batch_norm_layers(resnet)} == {BATCH_NORM_MOMENTUM}
    # A model saved before the change: Keras' 0.99 everywhere. It loads as it was.
    set_batch_norm_momentum(model, 0.99)
    model.save(tmp_path / "old.keras")
    loaded = keras.saving.load_model(tmp_path / "old.keras", safe_mode=True)
    assert {layer.momentum for layer in batch_norm_layers(loaded)} == {0.99}
