"""Bad input is refused at the boundary of an exported SavedModel: a table of cases and a
property-based test generating malformed inputs. Every call must raise; none may
return a prediction."""

import numpy as np
import pytest
import tensorflow as tf
from export_helpers import adapted_tokenizer, png_bytes, tiny_trimodal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmzoo.export import export_model
from mmzoo.export.checks import IMAGE_SIGNATURES

REFUSED = (tf.errors.InvalidArgumentError, ValueError, TypeError)
INPUTS = r"(image|text|audio|modality_mask)"
NAMED_REFUSAL = (
    rf"assertion failed: \[({INPUTS}: expected|Inputs image, text, audio, modality_mask: "
    rf"expected the same batch size)|Shape of tensor {INPUTS} \["
)
BATCH = 3


@pytest.fixture(scope="module")
def tokenizer():
    return adapted_tokenizer("vectorization", num_examples=100)


@pytest.fixture(scope="module")
def served(tokenizer, tmp_path_factory):
    model = tiny_trimodal(tokenizer.vocabulary_size, text_tower="cnn", train_steps=0)
    path = tmp_path_factory.mktemp("boundary") / "model"
    export_model(model, path, preprocessor={"text": tokenizer}, formats=("saved_model",))
    return tf.saved_model.load(str(path))


def valid_inputs(batch=BATCH, seed=0):
    """Numpy inputs of the masked signature that it accepts."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, (batch, 32, 32, 3)).astype("float32")
    return {
        "image": np.array(png_bytes(images), dtype=object),
        "text": np.array([f"a red square near the forest {i}" for i in range(batch)], dtype=object),
        "audio": rng.uniform(-0.5, 0.5, (batch, 8000)).astype("float32"),
        "modality_mask": np.ones((batch, 3), "float32"),
    }


def call(served, inputs, signature="serving_masked"):
    tensors = {}
    for name, value in inputs.items():
        if isinstance(value, tf.Tensor):
            tensors[name] = value
        elif isinstance(value, np.ndarray) and value.dtype == object:
            tensors[name] = tf.constant(list(value.reshape(-1)), tf.string)
            tensors[name] = tf.reshape(tensors[name], value.shape)
        else:
            tensors[name] = tf.constant(value)
    return served.signatures[signature](**tensors)


def truncated_png():
    data = png_bytes(np.zeros((1, 32, 32, 3), "float32"))[0]
    return data[: len(data) // 2]


def _with(name, value):
    def change(inputs):
        inputs[name] = value(inputs) if callable(value) else value
        return inputs

    return change


def _set_row(name, row, value):
    def change(inputs):
        inputs[name] = inputs[name].copy()
        inputs[name][row] = value
        return inputs

    return change


CASES = {
    # dtype (the signature's dtype check)
    "image as float32": (_with("image", tf.zeros([BATCH], tf.float32)), r"string|float"),
    "text as int32": (_with("text", tf.zeros([BATCH], tf.int32)), r"string|int32"),
    "audio as float64": (_with("audio", lambda x: tf.constant(x["audio"], tf.float64)),
                         r"float|double"),
    "audio as int32": (_with("audio", tf.zeros([BATCH, 8000], tf.int32)), r"float|int32"),
    "mask as int32": (_with("modality_mask", tf.ones([BATCH, 3], tf.int32)), r"float|int32"),
    # rank (checked at run time: signatures do not check shapes)
    "image of rank 2": (_with("image", lambda x: x["image"].reshape(BATCH, 1)), r"tensor image"),
    "image scalar": (_with("image", lambda x: x["image"][:1].reshape(())), r"tensor image"),
    "text of rank 2": (_with("text", lambda x: x["text"].reshape(BATCH, 1)), r"tensor text"),
    "audio of rank 1": (_with("audio", lambda x: x["audio"][0]), r"tensor audio"),
    "audio of rank 3": (_with("audio", lambda x: x["audio"][..., None]), r"tensor audio"),
    "mask of rank 1": (_with("modality_mask", np.ones(3, "float32")), r"tensor modality_mask"),
    # batch sizes
    "one image fewer": (_with("image", lambda x: x["image"][:-1]), r"same batch size"),
    "one text more": (_with("text", lambda x: np.concatenate([x["text"], x["text"][:1]])),
                      r"same batch size"),
    "audio batch of 1": (_with("audio", lambda x: x["audio"][:1]), r"same batch size"),
    "mask batch of 1": (_with("modality_mask", np.ones((1, 3), "float32")), r"same batch size"),
    # images
    "empty image bytes": (_set_row("image", 1, b""), r"image: expected non-empty"),
    "text instead of image bytes": (_set_row("image", 0, b"not an image"),
                                    r"image: expected encoded images"),
    "random bytes": (_set_row("image", 2, bytes(range(256))), r"image: expected encoded images"),
    "truncated PNG": (_set_row("image", 0, truncated_png()), r"PNG|png|image|data"),
    # text
    "invalid UTF-8": (_set_row("text", 2, b"caf\xe9 \xff"), r"text: expected UTF-8"),
    # audio
    "NaN audio": (_set_row("audio", (1, 100), np.nan), r"audio: expected finite"),
    "infinite audio": (_set_row("audio", (0, 0), np.inf), r"audio: expected finite"),
    "-inf audio": (_set_row("audio", (2, 7999), -np.inf), r"audio: expected finite"),
    # mask
    "mask with 2 columns": (_with("modality_mask", np.ones((BATCH, 2), "float32")),
                            r"tensor modality_mask"),
    "mask with 4 columns": (_with("modality_mask", np.ones((BATCH, 4), "float32")),
                            r"tensor modality_mask"),
    "mask value 0.5": (_set_row("modality_mask", (0, 1), 0.5), r"modality_mask: expected 0"),
    "mask value 2": (_set_row("modality_mask", (1, 0), 2.0), r"modality_mask: expected 0"),
    "mask NaN": (_set_row("modality_mask", (2, 2), np.nan), r"modality_mask: expected 0"),
    "mask row of zeros": (_set_row("modality_mask", 1, 0.0), r"at least one present"),
}


def test_valid_inputs_are_served(served):
    out = call(served, valid_inputs())
    assert out["probabilities"].shape == (BATCH, 10)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused(served, case):
    change, message = CASES[case]
    with pytest.raises(REFUSED, match=message):
        call(served, change(valid_inputs()))


@pytest.mark.parametrize("case", ["empty image bytes", "NaN audio", "one image fewer",
                                  "image of rank 2", "invalid UTF-8", "audio as float64"])
def test_default_signature_refuses_too(served, case):
    change, message = CASES[case]
    inputs = change(valid_inputs())
    inputs.pop("modality_mask")
    with pytest.raises(REFUSED, match=message):
        call(served, inputs, "serving_default")


def test_masked_out_image_may_be_empty_but_not_present_one(served):
    inputs = valid_inputs()
    inputs["image"][1] = b""
    inputs["modality_mask"][1, 0] = 0.0
    assert call(served, inputs)["probabilities"].shape == (BATCH, 10)
    inputs["modality_mask"][1, 0] = 1.0
    with pytest.raises(REFUSED, match=r"image: expected non-empty .* \[1\]"):
        call(served, inputs)


def test_missing_input_is_refused(served):
    inputs = valid_inputs()
    del inputs["text"]
    with pytest.raises(REFUSED):
        call(served, inputs)


def test_restored_function_refuses_wrong_dtype_and_rank(served):
    inputs = {k: v for k, v in valid_inputs().items() if k != "modality_mask"}
    tensors = {
        "image": tf.constant(list(inputs["image"])),
        "text": tf.constant(list(inputs["text"])),
        "audio": tf.constant(inputs["audio"]),
    }
    with pytest.raises(REFUSED):
        served.serve({**tensors, "audio": tf.cast(tensors["audio"], tf.float64)})
    with pytest.raises(REFUSED):
        served.serve({**tensors, "image": tf.reshape(tensors["image"], [BATCH, 1])})


@pytest.mark.parametrize("case,message", [
    ("ids out of range", r"text: expected token ids in \[0, "),
    ("negative ids", r"text: expected token ids"),
    ("NaN image", r"image: expected finite"),
    ("short waveform", r"tensor audio"),
    ("image of wrong size", r"tensor image"),
])
def test_preprocessed_signature_refuses_bad_tensors(served, tokenizer, case, message):
    rng = np.random.default_rng(0)
    x = {
        "image": rng.uniform(0, 1, (2, 32, 32, 3)).astype("float32"),
        "text": rng.integers(0, tokenizer.vocabulary_size, (2, 32)).astype("int32"),
        "audio": rng.uniform(-0.5, 0.5, (2, 8000)).astype("float32"),
        "modality_mask": np.ones((2, 3), "float32"),
    }
    if case == "ids out of range":
        x["text"][1, 3] = tokenizer.vocabulary_size + 5
    elif case == "negative ids":
        x["text"][0, 0] = -1
    elif case == "NaN image":
        x["image"][1, 2, 3, 0] = np.nan
    elif case == "short waveform":
        x["audio"] = x["audio"][:, :4000]
    else:
        x["image"] = x["image"][:, :16]
    with pytest.raises(REFUSED, match=message):
        call(served, x, "serving_preprocessed")


# Property-based: random corruptions of valid inputs ------------------------------------

def _set(name, value, sample=None):
    """Sets one row (or one `(row, sample)` entry) of an input. It is a no-op only when
    an earlier change emptied or reshaped the input, which already made it malformed."""
    def change(inputs, row):
        array = inputs[name]
        if array.ndim == 0 or len(array) == 0:
            return inputs
        index = row % len(array)
        if sample is not None:
            if array.ndim != 2 or array.shape[1] == 0:
                return inputs
            index = (index, sample % array.shape[1])
        array = array.copy()
        with np.errstate(over="ignore"):  # huge floats in a float32 mask become inf
            array[index] = value
        inputs[name] = array
        return inputs
    return change


def _resize_batch(name, size):
    def change(inputs, row):
        value = inputs[name]
        take = np.resize(np.arange(len(value)), size) if len(value) else []
        inputs[name] = value[take] if len(value) else np.resize(value, (size, *value.shape[1:]))
        return inputs
    return change


def _reshape(name, shape_of):
    def change(inputs, row):
        inputs[name] = inputs[name].reshape(shape_of(inputs[name]))
        return inputs
    return change


def _mask_width(width):
    def change(inputs, row):
        inputs["modality_mask"] = np.ones((len(inputs["modality_mask"]), width), "float32")
        return inputs
    return change


def _zero_mask_row(inputs, row):
    return _set("modality_mask", 0.0)(inputs, row)


def _not_binary_in_float32(value):
    with np.errstate(over="ignore"):
        return np.float32(value) not in (np.float32(0.0), np.float32(1.0))


def _corruption():
    """A strategy of `(change, row)`: each change alone makes valid inputs malformed, and
    no later change can undo an earlier one (batch sizes never return to BATCH, ranks and
    widths never return to the expected ones)."""
    not_an_image = st.binary(max_size=40).filter(
        lambda b: not b.startswith(tuple(magic for _, magic in IMAGE_SIGNATURES))
    )
    invalid_utf8 = st.sampled_from([b"\xff", b"\xc3", b"\xe9t\xe9", b"\xed\xa0\x80", b"\xf8\x88"])
    bad_float = st.sampled_from([np.nan, np.inf, -np.inf])
    bad_mask = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(_not_binary_in_float32),
        st.sampled_from([0.5, -1.0, 2.0, np.nan]),
    )
    name = st.sampled_from(["image", "text", "audio", "modality_mask"])
    change = st.one_of(
        not_an_image.map(lambda data: _set("image", data)),
        invalid_utf8.map(lambda data: _set("text", b"ok " + data)),
        st.builds(lambda value, sample: _set("audio", value, sample), bad_float,
                  st.integers(0, 7999)),
        st.builds(lambda value, column: _set("modality_mask", value, column), bad_mask,
                  st.integers(0, 2)),
        st.just(_zero_mask_row),
        st.builds(_resize_batch, name, st.sampled_from([0, 1, 2, 4, 5])),
        st.sampled_from([
            _reshape("image", lambda a: (a.size, 1)),
            _reshape("text", lambda a: (1, a.size)),
            _reshape("audio", lambda a: (-1,)),
            _reshape("audio", lambda a: (*a.shape, 1)),
            _reshape("modality_mask", lambda a: (-1,)),
        ]),
        st.sampled_from([0, 1, 2, 4, 5]).map(_mask_width),
    )
    return st.tuples(change, st.integers(0, BATCH - 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corruptions=st.lists(_corruption(), min_size=1, max_size=3), seed=st.integers(0, 3))
def test_malformed_inputs_never_return_a_prediction(served, corruptions, seed):
    inputs = valid_inputs(seed=seed)
    for change, row in corruptions:
        inputs = change(inputs, row)
    # Refused by one of the boundary checks, with a message naming the input.
    with pytest.raises(tf.errors.InvalidArgumentError, match=NAMED_REFUSAL):
        call(served, inputs)


@settings(max_examples=15, deadline=None)
@given(
    heights=st.lists(st.integers(1, 64), min_size=2, max_size=2),
    texts=st.lists(st.text(max_size=30), min_size=2, max_size=2),
    samples=st.integers(0, 9000),
    mask_rows=st.lists(st.lists(st.sampled_from([0.0, 1.0]), min_size=3, max_size=3)
                       .filter(lambda r: max(r) == 1.0), min_size=2, max_size=2),
)
def test_well_formed_inputs_are_always_served(served, heights, texts, samples, mask_rows):
    rng = np.random.default_rng(len(texts[0]) + samples)
    images = [
        tf.io.encode_png(rng.integers(0, 256, (h, 40, 3), dtype=np.uint8)).numpy()
        for h in heights
    ]
    inputs = {
        "image": np.array(images, dtype=object),
        "text": np.array([t.encode("utf-8") for t in texts], dtype=object),
        "audio": rng.uniform(-1, 1, (2, samples)).astype("float32"),
        "modality_mask": np.array(mask_rows, "float32"),
    }
    out = call(served, inputs)["probabilities"].numpy()
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
