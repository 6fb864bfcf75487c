import gzip
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mmzoo.data.manifest import ManifestError, read_manifest

INPUTS = {"image": "image", "audio": "audio", "text": "text"}


def _mnist_images(data_dir, count):
    with gzip.open(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:count]


@pytest.fixture
def folder(tmp_path, data_dir):
    """Six good rows (real MNIST PNGs, real FSDD wavs) and one broken row of each kind."""
    for i, image in enumerate(_mnist_images(data_dir, 7)):
        (tmp_path / f"digit{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    wavs = sorted((data_dir / "fsdd" / "recordings").glob("*_jackson_0.wav"))[:7]
    for i, wav in enumerate(wavs):
        shutil.copy(wav, tmp_path / f"say{i}.wav")
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    (tmp_path / "empty.wav").write_bytes(
        tf.audio.encode_wav(tf.zeros((0, 1)), 8000).numpy()
    )
    (tmp_path / "garbage.wav").write_bytes(b"RIFF....WAVEjunk")
    rows = [
        {"image": f"digit{i}.png", "audio": f"say{i}.wav", "text": f"digit number {i}",
         "label": "even" if i % 2 == 0 else "odd"}
        for i in range(6)
    ]
    rows += [
        {"image": "missing.png", "audio": "say0.wav", "text": "a", "label": "even"},  # row 7
        {"image": "broken.png", "audio": "say0.wav", "text": "a", "label": "even"},  # row 8
        {"image": "digit0.png", "audio": "empty.wav", "text": "a", "label": "even"},  # row 9
        {"image": "digit0.png", "audio": "garbage.wav", "text": "a", "label": "even"},  # row 10
        {"image": "digit0.png", "audio": "say0.wav", "text": "  ", "label": "even"},  # row 11
        {"image": "digit0.png", "audio": "say0.wav", "text": "a", "label": "prime"},  # row 12
    ]
    with (tmp_path / "manifest.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    header = "image,audio,text,label\n"
    (tmp_path / "manifest.csv").write_text(
        header + "".join(f"{r['image']},{r['audio']},{r['text']},{r['label']}\n" for r in rows)
    )
    return tmp_path


EXPECTED_BAD = {
    (7, "image"): "file not found",
    (8, "image"): "cannot decode image",
    (9, "audio"): "empty wav",
    (10, "audio"): "cannot decode audio",
    (11, "text"): "empty text",
    (12, "label"): "'prime' is not one of",
}


@pytest.mark.parametrize("name", ["manifest.jsonl", "manifest.csv"])
def test_every_broken_row_is_reported_before_training(folder, name):
    with pytest.raises(ManifestError) as raised:
        read_manifest(folder / name, INPUTS, class_names=["even", "odd"])
    found = {(b.row, b.column): b.reason for b in raised.value.bad_rows}
    assert set(found) == set(EXPECTED_BAD)
    for key, fragment in EXPECTED_BAD.items():
        assert fragment in found[key]
        assert f"row {key[0]}, column '{key[1]}'" in str(raised.value)
    assert "missing.png" in str(raised.value) and "broken.png" in str(raised.value)
    for noise in ("function_node", "[Op:", "Summarized data", "tf.Tensor"):
        assert noise not in str(raised.value)  # TensorFlow's wording, not the user's problem


def test_skip_bad_rows_keeps_exactly_the_good_ones(folder):
    manifest = read_manifest(
        folder / "manifest.jsonl", INPUTS, class_names=["even", "odd"], skip_bad_rows=True
    )
    assert len(manifest) == 6
    assert manifest.labels == [0, 1, 0, 1, 0, 1]
    assert sorted({b.row for b in manifest.skipped}) == [7, 8, 9, 10, 11, 12]
    assert manifest.columns["image"][0] == str(folder / "digit0.png")
    assert manifest.columns["text"][5] == "digit number 5"


def test_manifest_structure_errors(folder):
    with pytest.raises(ValueError, match="path"):
        read_manifest(folder / "nope.csv", INPUTS)
    with pytest.raises(ValueError, match=r"missing \['caption'\]"):
        read_manifest(folder / "manifest.csv", {"caption": "text"})
    with pytest.raises(ValueError, match="kind"):
        read_manifest(folder / "manifest.csv", {"text": "video"})
    (folder / "bad.jsonl").write_text('{"text": "a", "label": "x"}\n{oops\n')
    with pytest.raises(ValueError, match="line 2"):
        read_manifest(folder / "bad.jsonl", {"text": "text"})


def test_from_manifest_fails_before_training_and_skip_trains_on_the_good_rows(folder):
    import mmzoo
    from mmzoo.preprocessing.text import TextTokenizer

    tokenizer = TextTokenizer(sequence_length=4, vocabulary=["digit", "number"])
    inputs = {
        "image": {"kind": "image", "size": (28, 28), "channels": 1},
        "audio": {"kind": "audio", "sample_rate": 8000, "num_samples": 4000},
        "text": {"kind": "text", "tokenizer": tokenizer},
    }
    with pytest.raises(ManifestError, match=r"row 7, column 'image'.*missing\.png"):
        mmzoo.data.from_manifest(folder / "manifest.csv", inputs, class_names=["even", "odd"])
    with pytest.warns(UserWarning, match=r"skipped 6 bad row\(s\) of the 12 read.*\[7, 8, 9, 10, 11, 12\]"):
        dataset, manifest = mmzoo.data.from_manifest(
            folder / "manifest.csv", inputs, class_names=["even", "odd"], skip_bad_rows=True,
            batch_size=4, training=True,
        )
    assert sorted({b.row for b in manifest.skipped}) == [7, 8, 9, 10, 11, 12]
    model = mmzoo.build_model(
        {
            "image": {"tower": "lenet", "input_shape": (28, 28, 1), "additional_layers": 1},
            "audio": {"tower": "log_mel_conv", "input_shape": (4000,), "filters": (4,)},
            "text": {"tower": "cnn", "input_shape": (4,), "vocab_size": 4, "filters": 4},
        },
        num_outputs=2,
    )
    model.compile("adam")
    seen = sum(int(y.shape[0]) for _, y in dataset)
    assert seen == 6
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_from_manifest_takes_a_checked_manifest_without_reading_it_again(folder):
    import mmzoo

    manifest = read_manifest(
        folder / "manifest.csv", {"text": "text"}, class_names=["even", "odd"],
        skip_bad_rows=True,
    )
    texts = {"text": {"kind": "text"}}
    dataset, same = mmzoo.data.from_manifest(manifest, texts, batch_size=32, shuffle=False)
    assert same is manifest
    x, y = next(iter(dataset))
    assert [t.decode() for t in x["text"].numpy()] == manifest.columns["text"]
    assert y.numpy().tolist() == manifest.labels
    with pytest.raises(ValueError, match=r"without the input\(s\) \['image'\]"):
        mmzoo.data.from_manifest(manifest, {"image": {"kind": "image", "size": (8, 8)}})
