"""Tests of `mmzoo.datasets`: the embedded default dataset, AV-MNIST and the registry."""

import itertools
import pathlib
import time

import numpy as np
import pytest
import tensorflow as tf

from mmzoo import datasets
from mmzoo.datasets import av_mnist, embedded, multibench

# ---------------------------------------------------------------------------- embedded


def test_embedded_is_deterministic_from_seed():
    a, labels_a = embedded.load_numpy("train", seed=3, num_examples=40)
    b, labels_b = embedded.load_numpy("train", seed=3, num_examples=40)
    c, labels_c = embedded.load_numpy("train", seed=4, num_examples=40)
    np.testing.assert_array_equal(labels_a, labels_b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(labels_a, labels_c)
    for key in a:
        assert not np.array_equal(a[key], c[key]), key


def test_embedded_splits_differ():
    parts = {s: embedded.load_numpy(s, seed=0, num_examples=30) for s in embedded.SPLITS}
    for first, second in itertools.combinations(embedded.SPLITS, 2):
        assert not np.array_equal(parts[first][0]["image"], parts[second][0]["image"])
        assert not np.array_equal(parts[first][0]["audio"], parts[second][0]["audio"])


def test_embedded_shapes_dtypes_and_ranges():
    features, labels = embedded.load_numpy("validation", num_examples=50)
    assert features["image"].shape == (50, 32, 32, 3)
    assert features["image"].dtype == np.float32
    assert features["image"].min() >= 0.0 and features["image"].max() <= 1.0
    assert features["audio"].shape == (50, 8000)
    assert features["audio"].dtype == np.float32
    assert np.abs(features["audio"]).max() <= 1.0
    assert features["text"].shape == (50,)
    assert all(isinstance(t, str) and 0 < len(t.split()) <= embedded.MAX_WORDS
               for t in features["text"])
    assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() <= 9
    # real signals, not constant arrays
    assert features["image"].std(axis=(1, 2, 3)).min() > 0.01
    assert np.abs(features["audio"]).max(axis=1).min() > 0.01


def test_embedded_default_sizes_balance_and_generation_time():
    start = time.perf_counter()
    features, labels = embedded.load_numpy("train")
    seconds = time.perf_counter() - start
    assert len(labels) == 3000 and len(features["text"]) == 3000
    assert seconds < 20, f"generating 3000 examples took {seconds:.1f} s"
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), np.full(10, 300))


def test_embedded_load_yields_the_example_format():
    ds = datasets.load("embedded", split="test", seed=1, num_test=12)
    spec = ds.element_spec
    assert set(spec) == {"image", "text", "audio", "label"}
    assert spec["image"].shape == (32, 32, 3) and spec["image"].dtype == tf.float32
    assert spec["audio"].shape == (8000,) and spec["audio"].dtype == tf.float32
    assert spec["text"].shape == () and spec["text"].dtype == tf.string
    assert spec["label"].shape == () and spec["label"].dtype == tf.int64
    examples = list(ds.as_numpy_iterator())
    features, labels = embedded.load_numpy("test", seed=1, num_examples=12)
    assert len(examples) == 12
    np.testing.assert_array_equal([e["label"] for e in examples], labels)
    np.testing.assert_array_equal(examples[5]["image"], features["image"][5])
    assert examples[5]["text"].decode() == features["text"][5]
    assert len(list(datasets.load("embedded", split="validation",
                                  num_examples=7).as_numpy_iterator())) == 7


def test_embedded_info():
    info = datasets.info("embedded")
    assert info.name == "embedded"
    assert info.modalities["image"] == {"shape": (32, 32, 3)}
    assert info.modalities["audio"] == {"sample_rate": 8000, "num_samples": 8000}
    assert info.modalities["text"]["max_words"] <= 20
    assert info.class_names == embedded.CLASS_NAMES and info.num_classes == 10
    assert info.splits == ("train", "validation", "test")
    assert datasets.is_available("embedded")


def test_embedded_any_two_attributes_name_the_class():
    attributes = (embedded.CLASS_SHAPE, embedded.CLASS_PITCH, embedded.CLASS_PLACE)
    for first, second in itertools.combinations(attributes, 2):
        assert len(set(zip(first, second))) == 10
    for values in attributes:  # each attribute value covers exactly two classes
        np.testing.assert_array_equal(np.bincount(values), np.full(5, 2))


def test_embedded_nuisance_rates_and_oracle_accuracies():
    _, labels, factors = embedded.load_numpy("test", num_examples=3000, return_factors=True)
    assert abs(np.mean(factors["weak"] >= 0) - 0.75) < 0.04
    assert abs(np.mean(factors["corrupt"] >= 0) - 0.1) < 0.03
    assert not np.any((factors["weak"] >= 0) & (factors["weak"] == factors["corrupt"]))
    for subset, low, high in (
        (("image",), 0.3, 0.5), (("audio",), 0.3, 0.5), (("text",), 0.3, 0.5),
        (("image", "audio"), 0.6, 0.8), (("image", "text"), 0.6, 0.8),
        (("audio", "text"), 0.6, 0.8), (embedded.MODALITIES, 0.9, 0.97),
    ):
        accuracy = np.mean(embedded.oracle_predict(factors, subset) == labels)
        assert low < accuracy < high, (subset, accuracy)


def test_embedded_weak_modalities_carry_no_signal():
    features, _, factors = embedded.load_numpy("train", num_examples=200, return_factors=True)
    weak_image = factors["weak"] == 0
    # a weak image is background only (noise and a few speckles, no shape)
    contrast = _foreground_fraction(features["image"])
    assert contrast[weak_image].max() < 0.03 < contrast[~weak_image].min()
    # a weak audio clip holds no note: no narrow spectral peak stands out
    spectrum = np.abs(np.fft.rfft(features["audio"], axis=1))
    peakiness = spectrum.max(axis=1) / np.median(spectrum, axis=1)
    weak_audio = factors["weak"] == 1
    assert peakiness[weak_audio].max() < peakiness[~weak_audio].min()
    place_words = {w for words in embedded._PLACE_WORDS for w in words}
    for text, weak in zip(features["text"], factors["weak"] == 2):
        assert bool(place_words & set(text.lower().split())) != weak, text


def test_fusion_matters_with_logistic_regression():
    """Softmax regression on simple per-modality features: all three beat any subset."""
    train, train_labels = embedded.load_numpy("train", seed=5, num_examples=1500)
    test, test_labels = embedded.load_numpy("test", seed=5, num_examples=600)
    vocabulary = sorted({w for t in train["text"] for w in _words(t)})
    features = {}
    for name, part in (("train", train), ("test", test)):
        features[name] = {
            "image": _image_features(part["image"]),
            "audio": _audio_features(part["audio"]),
            "text": _text_features(part["text"], vocabulary),
        }
    accuracy = {}
    for subset in (("image",), ("audio",), ("text",), ("image", "audio", "text")):
        x = np.concatenate([features["train"][m] for m in subset], axis=1)
        x_test = np.concatenate([features["test"][m] for m in subset], axis=1)
        predictions = _softmax_regression(x, train_labels, x_test)
        accuracy[subset] = np.mean(predictions == test_labels)
    fused = accuracy[("image", "audio", "text")]
    assert fused > 0.75, accuracy
    for subset in (("image",), ("audio",), ("text",)):
        assert 0.2 < accuracy[subset] < 0.55, accuracy  # above chance, far below fused
        assert accuracy[subset] < fused - 0.25, accuracy


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"split": "dev"}, "Valid splits: train, validation, test"),
        ({"num_examples": 0}, "num_examples"),
        ({"weak_prob": 1.5}, "weak_prob"),
        ({"seed": -1}, "seed"),
    ],
)
def test_embedded_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        embedded.load_numpy(**kwargs)


# ---------------------------------------------------------------------------- registry


def test_list_datasets():
    assert datasets.list_datasets() == ["av_mnist", "embedded", "manifest", "npz", "tfds"]
    assert set(datasets.FILE_KINDS) == {"manifest", "npz", "tfds"}
    assert datasets.list_datasets("av_*") == ["av_mnist"]


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match=r"Valid names: av_mnist, embedded.*name='mnist3d'"):
        datasets.load("mnist3d")
    with pytest.raises(ValueError, match="Valid names"):
        datasets.info("mnist3d")
    with pytest.raises(ValueError, match="Valid names"):
        datasets.is_available("mnist3d")


def test_unknown_option_lists_valid_options():
    with pytest.raises(ValueError, match=r"Valid options: .*num_train.*Received: colour='red'"):
        datasets.load("embedded", colour="red")


def test_find_data_dir_order(monkeypatch, tmp_path):
    parent = tmp_path / "shared"
    (parent / "tensorflow_datasets").mkdir(parents=True)
    monkeypatch.delenv("MMZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_default"))
    assert datasets.find_data_dir() == tmp_path / "tfds_default"
    monkeypatch.setenv("MMZOO_DATA_DIR", str(parent))
    assert datasets.find_data_dir() == parent / "tensorflow_datasets"
    assert datasets.find_data_dir(tmp_path / "other") == tmp_path / "other"
    assert datasets.find_data_dir(str(parent / "tensorflow_datasets")) == (
        parent / "tensorflow_datasets")


# ---------------------------------------------------------------------------- av_mnist


def test_av_mnist_missing_data_names_folder_and_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("MMZOO_DATA_DIR", raising=False)
    assert not datasets.is_available("av_mnist", data_dir=tmp_path)
    with pytest.raises(datasets.DataNotFoundError) as error:
        datasets.load("av_mnist", data_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and "MMZOO_DATA_DIR" in message
    assert "'mnist'" in message and "spoken_digit" in message
    monkeypatch.setenv("MMZOO_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datasets.load("av_mnist", split="test")


def test_av_mnist_is_found_through_the_environment(monkeypatch, data_dir):
    monkeypatch.setenv("MMZOO_DATA_DIR", str(data_dir))
    assert datasets.is_available("av_mnist")
    assert datasets.is_available("av_mnist", data_dir=data_dir / "tensorflow_datasets")


def test_av_mnist_examples_pair_image_and_audio_by_label(data_dir):
    ds = datasets.load("av_mnist", split="test", data_dir=data_dir, with_metadata=True)
    spec = ds.element_spec
    assert spec["image"].shape == (28, 28, 1) and spec["image"].dtype == tf.float32
    assert spec["audio"].shape == (8000,) and spec["audio"].dtype == tf.float32
    assert spec["label"].dtype == tf.int64
    examples = list(ds.take(100).as_numpy_iterator())
    for example in examples:
        filename = example["audio_filename"].decode()
        assert int(filename.split("_")[0]) == example["label"], filename
        assert 0.0 <= example["image"].min() and example["image"].max() <= 1.0
        assert -1.0 <= example["audio"].min() and example["audio"].max() < 1.0
        assert np.abs(example["audio"]).max() > 0.01
    assert [e["image_index"] for e in examples] == list(range(100))
    assert len({e["label"] for e in examples}) == 10
    plain = datasets.load("av_mnist", split="test", data_dir=data_dir)
    assert set(plain.element_spec) == {"image", "audio", "label"}


def test_av_mnist_recordings_never_shared_between_splits(data_dir):
    names = av_mnist.recordings(data_dir)["filename"]
    takes = av_mnist.recordings(data_dir)["take"]
    pools = av_mnist.recording_pools(data_dir)
    assert len(names) == 2500 and len(set(names)) == 2500
    sets = {split: set(names[index]) for split, index in pools.items()}
    assert {len(s) for s in sets.values()} == {2000, 250}
    for first, second in itertools.combinations(sets, 2):
        assert not sets[first] & sets[second], (first, second)
    assert set(takes[pools["test"]]) == set(range(5))
    assert set(takes[pools["validation"]]) == set(range(5, 10))
    for split in ("train", "validation", "test"):
        ds = datasets.load("av_mnist", split=split, data_dir=data_dir, with_metadata=True)
        used = {e["audio_filename"] for e in ds.take(300).as_numpy_iterator()}
        assert used <= sets[split], split


def test_av_mnist_speaker_holdout(data_dir):
    recordings = av_mnist.recordings(data_dir)
    pools = av_mnist.recording_pools(data_dir, holdout="speakers", test_speakers=("theo",))
    assert set(recordings["speaker"][pools["test"]]) == {"theo"}
    assert "theo" not in set(recordings["speaker"][pools["train"]])
    assert "theo" not in set(recordings["speaker"][pools["validation"]])
    assert set(recordings["take"][pools["validation"]]) == set(range(5))
    ds = datasets.load("av_mnist", split="test", data_dir=data_dir, holdout="speakers",
                       with_metadata=True)
    assert all(b"_theo_" in e["audio_filename"] for e in ds.take(40).as_numpy_iterator())
    with pytest.raises(ValueError, match="Unknown test speaker.*george"):
        datasets.load("av_mnist", data_dir=data_dir, holdout="speakers",
                      test_speakers=("alice",))


def test_av_mnist_is_deterministic_from_seed(data_dir):
    def filenames(seed):
        ds = datasets.load("av_mnist", split="validation", data_dir=data_dir, seed=seed,
                           with_metadata=True)
        return [e["audio_filename"] for e in ds.take(50).as_numpy_iterator()]

    assert filenames(0) == filenames(0)
    assert filenames(0) != filenames(1)
    first = next(iter(datasets.load("av_mnist", split="validation", data_dir=data_dir)))
    again = next(iter(datasets.load("av_mnist", split="validation", data_dir=data_dir)))
    np.testing.assert_array_equal(first["audio"], again["audio"])


def test_av_mnist_num_samples_option(data_dir):
    ds = datasets.load("av_mnist", split="test", data_dir=data_dir, num_samples=4000)
    assert ds.element_spec["audio"].shape == (4000,)
    assert datasets.info("av_mnist", num_samples=4000).modalities["audio"]["num_samples"] == 4000


@pytest.mark.parametrize("spectrogram", ["log_mel", "linear"])
def test_av_mnist_multibench_variant_shapes(data_dir, spectrogram):
    ds = datasets.load("av_mnist", split="test", data_dir=data_dir, variant="multibench",
                       spectrogram=spectrogram)
    assert ds.element_spec["image"].shape == (28, 28, 1)
    assert ds.element_spec["audio"].shape == (112, 112)
    for example in ds.take(4).as_numpy_iterator():
        assert example["image"].dtype == np.float32 and example["audio"].dtype == np.float32
        assert 0.0 <= example["image"].min() and example["image"].max() <= 1.0
        assert 0.0 <= example["audio"].min() and example["audio"].max() == 1.0
    _, basis = multibench.pca_projection(datasets.find_data_dir(data_dir), "train[:55000]")
    assert 1 <= basis.shape[1] <= 20  # 25 % of the variance needs only a few components
    info = datasets.info("av_mnist", variant="multibench")
    assert info.modalities["audio"]["shape"] == (112, 112)
    assert info.modalities["image"]["shape"] == (28, 28, 1)


def test_av_mnist_rejects_bad_options(data_dir):
    with pytest.raises(ValueError, match="variant"):
        datasets.load("av_mnist", data_dir=data_dir, variant="raw")
    with pytest.raises(ValueError, match="holdout"):
        datasets.load("av_mnist", data_dir=data_dir, holdout="digits")
    with pytest.raises(ValueError, match="Valid splits"):
        datasets.load("av_mnist", split="dev", data_dir=data_dir)


# ---------------------------------------------------------------------------- helpers


def _foreground_fraction(images):
    """Fraction of pixels whose intensity is > 0.2 away from the border's median."""
    luminance = images.mean(axis=-1)
    border = np.concatenate([luminance[:, 0], luminance[:, -1], luminance[:, :, 0],
                             luminance[:, :, -1]], axis=1)
    distance = np.abs(luminance - np.median(border, axis=1)[:, None, None])
    return np.mean(distance > 0.2, axis=(1, 2))


def _words(text):
    return [w for w in text.lower().split() if w.isalpha()]


def _image_features(images):
    """Translation-invariant: log |FFT| of the distance from the border colour."""
    luminance = images.mean(axis=-1)
    border = np.concatenate([luminance[:, 0], luminance[:, -1], luminance[:, :, 0],
                             luminance[:, :, -1]], axis=1)
    contrast = np.abs(luminance - np.median(border, axis=1)[:, None, None])
    spectrum = np.fft.fftshift(np.abs(np.fft.fft2(contrast)), axes=(1, 2))[:, 8:24, 8:24]
    return np.log1p(spectrum).reshape(len(images), -1)


def _audio_features(audio):
    """Log of the peak magnitude in 60 log-spaced bands from 150 Hz to 3.5 kHz."""
    spectrum = np.abs(np.fft.rfft(audio, axis=1))  # 1 Hz bins at 8 kHz, 1 s
    edges = np.geomspace(150, 3500, 61).astype(int)
    return np.log1p(np.stack([spectrum[:, a:b].max(axis=1)
                              for a, b in itertools.pairwise(edges)], axis=1))


def _text_features(texts, vocabulary):
    index = {w: i for i, w in enumerate(vocabulary)}
    out = np.zeros((len(texts), len(vocabulary)), np.float32)
    for row, text in enumerate(texts):
        for word in _words(text):
            if word in index:
                out[row, index[word]] = 1.0
    return out


def _softmax_regression(x, labels, x_test, steps=200, learning_rate=0.05, l2=1e-3):
    """Multinomial logistic regression fitted with full-batch Adam."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    x, x_test = (x - mean) / std, (x_test - mean) / std
    targets = np.eye(10)[labels]
    params = [np.zeros((x.shape[1], 10)), np.zeros(10)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    for step in range(1, steps + 1):
        logits = x @ params[0] + params[1]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        error = (probs - targets) / len(x)
        grads = [x.T @ error + l2 * params[0], error.sum(axis=0)]
        for param, grad, (m, v) in zip(params, grads, moments):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= learning_rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return (x_test @ params[0] + params[1]).argmax(axis=1)


def test_helpers_are_sane():
    assert _words("Spotted in the woods : a red sign") == [
        "spotted", "in", "the", "woods", "a", "red", "sign"]
    assert pathlib.Path(embedded.__file__).name == "embedded.py"


def test_embedded_images_survive_a_png_round_trip():
    import tensorflow as tf

    from mmzoo.preprocessing.image import ImagePreprocessing

    features, _ = embedded.load_numpy("test", num_examples=16)
    images = features["image"]
    pngs = [tf.io.encode_png(tf.cast(tf.round(x * 255.0), tf.uint8)) for x in images]
    decoded = ImagePreprocessing(size=images.shape[1:3], channels=3)(tf.stack(pngs))
    np.testing.assert_array_equal(decoded.numpy(), images)
