"""Every registered tower: contract, one training step, .keras round trip, errors."""

import numpy as np
import pytest
from testing import assert_all_close, random_inputs, run_tower_test

from mmzoo.layers import MaskedPooling1D, PaddingMask, PositionEmbedding
from mmzoo.towers import get_tower, list_towers
from mmzoo.towers.image import ResNetPreprocessing

VOCAB = 60
# Small inputs and options per tower (anything not named here uses the defaults).
CASES = {
    "image/conv": ((16, 16, 3), dict(filters=(8, 16), embedding_dim=12, dropout=0.1)),
    "image/lenet": ((28, 28, 1), {}),
    "image/resnet": ((32, 32, 3), {}),
    "text/lstm": ((12,), dict(vocab_size=VOCAB, embedding_size=8, units=8)),
    "text/cnn": ((12,), dict(vocab_size=VOCAB, embedding_size=8, filters=8)),
    "text/transformer": (
        (12,),
        dict(vocab_size=VOCAB, hidden_dim=16, intermediate_dim=32, num_heads=2),
    ),
    "audio/log_mel_conv": ((2000,), dict(n_mels=32, filters=(8, 16))),
    "audio/waveform_conv": ((1000,), dict(num_blocks=2, bottleneck_dim=16, hidden_dim=16)),
    "audio/lenet": ((8000,), {}),
}
DEFAULT_SHAPES = {"image": (16, 16, 3), "text": (12,), "audio": (4000,)}
# Widths of the default embeddings, as documented (MultiBench's LeNets: 48 and 192).
EMBEDDING_WIDTHS = {"image/lenet": 48, "image/resnet": 2048, "audio/lenet": 192}


def _build(tower, name=None, **overrides):
    modality, family = tower.split("/")
    shape, options = CASES.get(tower, (DEFAULT_SHAPES[modality], {}))
    options = {**options, **overrides}
    if name is not None:
        options["name"] = name
    return get_tower(modality, family)(shape, **options)


def _inputs(model, seed=0):
    """Token ids in [1, VOCAB) (example 1 half padding), or floats for the other towers."""
    return random_inputs(model, seed=seed, max_token=VOCAB, padded=True)[model.inputs[0].name]


# keras-hub towers: tests/test_pretrained.py checks them against keras-hub in the default
# run; the generic contract on them is a slow check, as on image/resnet (the heaviest tower
# to train on 2 cores; the other tests of this file build and call it by default).
@pytest.mark.parametrize("tower", [
    pytest.param(tower, marks=pytest.mark.slow)
    if tower.endswith("/pretrained") or tower == "image/resnet" else tower
    for tower in list_towers()])
def test_tower_contract_trains_and_reloads(tower, request):
    modality, family = tower.split("/")
    shape, options = CASES.get(tower, (DEFAULT_SHAPES[modality], {}))
    if family == "pretrained":  # a tiny keras-hub preset in a local folder
        options = {**options, "preset": request.getfixturevalue("hub_preset_folders")[tower]}
    result = run_tower_test(
        modality, family, shape, expected_embedding_dim=EMBEDDING_WIDTHS.get(tower), **options
    )
    for layer in result.model.layers:  # every layer named by the builder, under the input name
        assert layer.name.startswith(modality), layer.name


def test_input_name_sets_model_and_layer_names():
    model = _build("image/conv", name="image_left")
    assert model.name == "image_left_tower"
    assert model.inputs[0].name == "image_left"
    assert model.get_layer("image_left_projection").units == 12


def test_embedding_dim_none_keeps_native_width():
    assert _build("image/conv", embedding_dim=None).output["embedding"].shape == (None, 16)
    assert _build("text/lstm", embedding_dim=None).output["embedding"].shape == (None, 16)
    assert _build("text/lstm", embedding_dim=None, bidirectional=False, num_layers=2).output[
        "embedding"
    ].shape == (None, 8)
    assert _build("text/cnn", embedding_dim=None).output["embedding"].shape == (None, 24)
    assert _build("audio/waveform_conv", embedding_dim=None).output["embedding"].shape == (
        None,
        16,
    )
    assert _build("image/lenet", embedding_dim=10).output["embedding"].shape == (None, 10)


def test_default_options_build():
    # Out-of-the-box defaults (only the input shape given) at the usual sizes.
    text = get_tower("text", "lstm")((32,))
    assert text.get_layer("text_token_embedding").input_dim == 20000
    assert get_tower("audio", "log_mel_conv")((8000,)).output["sequence"].shape == (None, 7, 1024)
    audio = get_tower("audio", "lenet")((8000,))
    assert audio.get_layer("audio_log_mel").compute_output_shape((None, 8000)) == (None, 112, 112)
    assert get_tower("text", "transformer")((32,)).output["embedding"].shape == (None, 128)


def test_audio_lenet_takes_precomputed_spectrograms():
    tower = get_tower("audio", "lenet")((112, 112))
    assert tower.output["embedding"].shape == (None, 192)
    assert "audio_log_mel" not in [layer.name for layer in tower.layers]
    x = np.random.default_rng(2).uniform(0, 1, (2, 112, 112)).astype("float32")
    assert np.all(np.isfinite(tower.predict(x, verbose=0)["embedding"]))


def _copy_weights(source, target):
    """Copies weights; a longer target table (position embeddings) keeps its extra rows."""
    values = []
    for src, dst in zip(source.get_weights(), target.get_weights(), strict=True):
        dst = dst.copy()
        dst[tuple(slice(0, n) for n in src.shape)] = src
        values.append(dst)
    target.set_weights(values)


@pytest.mark.parametrize("tower", [t for t in list_towers("text/*") if t != "text/pretrained"])
def test_text_padding_does_not_change_embedding(tower):
    model = _build(tower)
    ids = _inputs(model, seed=4)  # example 1 is half padding
    expected = model.predict(ids, verbose=0)

    # The padding vector (row 0 of the token table) can be anything.
    table = model.get_layer("text_token_embedding")
    weights = table.get_weights()
    weights[0][0] = np.random.default_rng(5).normal(0, 10, weights[0].shape[1])
    table.set_weights(weights)
    changed = model.predict(ids, verbose=0)
    assert_all_close(changed, expected, atol=1e-5)

    # More padding after the same tokens: same embedding and same real-token states.
    modality, family = tower.split("/")
    longer = get_tower(modality, family)((20,), **CASES[tower][1])
    _copy_weights(model, longer)
    padded = np.pad(ids, [(0, 0), (0, 8)])
    out = longer.predict(padded, verbose=0)
    np.testing.assert_allclose(out["embedding"], expected["embedding"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["sequence"][:, :12], expected["sequence"], rtol=1e-5, atol=1e-5)

    # An all-padding text still gives finite features.
    empty = model.predict(np.zeros((2, 12), "int32"), verbose=0)
    assert all(np.all(np.isfinite(v)) for v in empty.values())


def test_text_cnn_max_pool_ignores_padding():
    x = np.array([[[1.0, -5.0], [3.0, -7.0], [100.0, 100.0]]], "float32")
    mask = np.array([[1.0, 1.0, 0.0]], "float32")
    np.testing.assert_array_equal(MaskedPooling1D("max")([x, mask]), [[3.0, -5.0]])
    np.testing.assert_array_equal(MaskedPooling1D("mean")([x, mask]), [[2.0, -6.0]])
    np.testing.assert_array_equal(MaskedPooling1D("max")([x, 0 * mask]), [[0.0, 0.0]])


def test_resnet_preprocessing():
    x = np.full((1, 2, 2, 3), 0.5, "float32")
    x[..., 0] = 1.0  # red
    caffe = np.asarray(ResNetPreprocessing("caffe")(x))[0, 0, 0]
    np.testing.assert_allclose(caffe, [127.5 - 103.939, 127.5 - 116.779, 255.0 - 123.68], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ResNetPreprocessing("tf")(x))[0, 0, 0], [1.0, 0.0, 0.0])


def test_unknown_family_lists_valid_names():
    with pytest.raises(ValueError, match=r"Valid image towers: conv, lenet, pretrained, resnet.*tower='vit'"):
        get_tower("image", "vit")
    with pytest.raises(ValueError, match=r"Valid text towers: cnn, lstm, pretrained, transformer"):
        get_tower("text", "bert")
    with pytest.raises(ValueError, match=r"Valid audio towers: lenet, log_mel_conv, pretrained, waveform_conv"):
        get_tower("audio", "wav2vec")


@pytest.fixture
def weights_file(tmp_path):
    path = tmp_path / "resnet.weights.h5"
    path.write_bytes(b"")
    return str(path)


ARGUMENT_ERRORS = [
    # (tower, input_shape or None for the test case's, options, argument)
    ("image/conv", (16, 16), {}, "input_shape"),
    ("image/conv", (16, 16, 3), dict(filters=(8, 16, 32, 64, 128)), "input_shape"),
    ("image/conv", None, dict(filters=()), "filters"),
    ("image/conv", None, dict(filters=(8, 0)), "filters"),
    ("image/conv", None, dict(kernel_size=0), "kernel_size"),
    ("image/conv", None, dict(embedding_dim=0), "embedding_dim"),
    ("image/conv", None, dict(dropout=1.0), "dropout"),
    ("image/lenet", (8, 8, 1), {}, "input_shape"),
    ("image/lenet", None, dict(channels=0), "channels"),
    ("image/lenet", None, dict(additional_layers=-1), "additional_layers"),
    ("image/lenet", None, dict(embedding_dim="wide"), "embedding_dim"),
    ("image/resnet", (16, 16, 3), {}, "input_shape"),
    ("image/resnet", None, dict(variant="resnet18"), "variant"),
    ("image/resnet", None, dict(weights="/no/such/file.h5"), "weights"),
    ("image/resnet", None, dict(weights="imagenet"), "weights"),
    ("image/resnet", (32, 32, 1), dict(weights="WEIGHTS_FILE"), "input_shape"),
    ("text/lstm", (4, 4), {}, "input_shape"),
    ("text/lstm", None, dict(vocab_size=1), "vocab_size"),
    ("text/lstm", None, dict(embedding_size=0), "embedding_size"),
    ("text/lstm", None, dict(units=0), "units"),
    ("text/lstm", None, dict(num_layers=0), "num_layers"),
    ("text/lstm", None, dict(bidirectional="yes"), "bidirectional"),
    ("text/lstm", None, dict(dropout=-0.1), "dropout"),
    ("text/cnn", None, dict(kernel_sizes=()), "kernel_sizes"),
    ("text/cnn", None, dict(filters=0), "filters"),
    ("text/cnn", None, dict(embedding_dim=-3), "embedding_dim"),
    ("text/transformer", None, dict(num_heads=3), "num_heads"),
    ("text/transformer", None, dict(hidden_dim=0), "hidden_dim"),
    ("text/transformer", None, dict(intermediate_dim=0), "intermediate_dim"),
    ("text/transformer", None, dict(num_layers=0), "num_layers"),
    ("text/transformer", None, dict(embedding_size=0), "embedding_size"),
    ("text/transformer", None, dict(dropout=1.5), "dropout"),
    ("audio/log_mel_conv", (100,), {}, "input_shape"),
    ("audio/log_mel_conv", (2000, 1), {}, "input_shape"),
    ("audio/log_mel_conv", None, dict(n_mels=0), "n_mels"),
    ("audio/log_mel_conv", None, dict(sample_rate=0), "sample_rate"),
    ("audio/log_mel_conv", None, dict(hop_length=0), "hop_length"),
    ("audio/log_mel_conv", None, dict(fmax=9000.0), "fmax"),
    ("audio/log_mel_conv", None, dict(filters=(8, -1)), "filters"),
    ("audio/log_mel_conv", None, dict(normalize="yes"), "normalize"),
    ("audio/waveform_conv", (8,), {}, "input_shape"),
    ("audio/waveform_conv", None, dict(num_filters=0), "num_filters"),
    ("audio/waveform_conv", None, dict(kernel_size=0), "kernel_size"),
    ("audio/waveform_conv", None, dict(num_blocks=0), "num_blocks"),
    ("audio/waveform_conv", None, dict(activation="tanh"), "activation"),
    ("audio/waveform_conv", None, dict(sample_rate=-1), "sample_rate"),
    ("audio/lenet", (2000,), {}, "input_shape"),
    ("audio/lenet", (32, 32), {}, "input_shape"),
    ("audio/lenet", (8000, 1, 1), {}, "input_shape"),
    ("audio/lenet", None, {"normalize": None}, "normalize"),
    ("audio/lenet", None, dict(additional_layers=-1), "additional_layers"),
    ("audio/lenet", None, dict(n_fft=1), "n_fft"),
]


@pytest.mark.parametrize(
    "tower, input_shape, options, argument",
    ARGUMENT_ERRORS,
    ids=[f"{t}-{a}-{i}" for i, (t, _, _, a) in enumerate(ARGUMENT_ERRORS)],
)
def test_tower_argument_errors(tower, input_shape, options, argument, weights_file):
    modality, family = tower.split("/")
    shape, base = CASES[tower]
    options = {
        key: weights_file if value == "WEIGHTS_FILE" else value for key, value in options.items()
    }
    with pytest.raises(ValueError, match=rf"{argument}.*Received: {argument}="):
        get_tower(modality, family)(input_shape or shape, **{**base, **options})


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: PaddingMask(padding_id=-1), "padding_id"),
        (lambda: MaskedPooling1D(mode="min"), "mode"),
        (lambda: PositionEmbedding(sequence_length=0), "sequence_length"),
        (lambda: PositionEmbedding(sequence_length=4)(np.zeros((1, 8, 2))), "sequence_length"),
        (lambda: ResNetPreprocessing(mode="torch"), "mode"),
        (lambda: ResNetPreprocessing(mode="caffe")(np.zeros((1, 4, 4, 1))), "input_shape"),
    ],
)
def test_custom_layer_argument_errors(make, argument):
    with pytest.raises(ValueError, match=rf"{argument}.*Received: {argument}="):
        make()
