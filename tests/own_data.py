"""A manifest of real files, as a user would have it, built from `../shared/data`.

Each row pairs an MNIST digit (written as a PNG), a Free Spoken Digit recording of
the same digit (a WAV) and a caption in English or Chinese, labelled with the
digit's name. The data folder comes from `$MMZOO_DATA_DIR` (else `../shared/data`).
"""

import csv
import gzip
import os
import pathlib

import numpy as np

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
CHINESE = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]


def shared_data():
    """The shared data folder, or None when it is missing."""
    folder = pathlib.Path(os.environ.get("MMZOO_DATA_DIR") or
                          pathlib.Path(__file__).resolve().parents[2] / "shared" / "data")
    return folder if (folder / "mnist").is_dir() and (folder / "fsdd").is_dir() else None


def mnist_images(count, seed=0):
    """`count` MNIST test images `(count, 28, 28)` uint8 and their digits."""
    folder = shared_data() / "mnist"
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    picked = np.random.default_rng(seed).choice(len(images), count, replace=False)
    return images[picked], labels[picked]


def write_digit_manifest(folder, count=300, classes=(0, 1, 2), seed=0, language="mixed",
                         name="digits.csv"):
    """Writes PNGs and a CSV manifest `image,audio,caption,speaker,label` to `folder`.

    Args:
        folder: where the files go (images/ and the CSV; the WAVs stay in the shared
            folder and are referenced by absolute path).
        count: rows.
        classes: the digits used.
        seed: picks images, recordings and caption words.
        language: "english", "chinese" or "mixed" (each row one or the other).

    Returns:
        The manifest's path.
    """
    import tensorflow as tf

    folder = pathlib.Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, labels = mnist_images(20 * count, seed)
    recordings = sorted((shared_data() / "fsdd" / "recordings").glob("*.wav"))
    by_digit = {d: [r for r in recordings if r.name.startswith(f"{d}_")] for d in classes}
    rows = []
    for index in range(count):
        digit = int(classes[index % len(classes)])
        image_index = int(np.flatnonzero(labels == digit)[index // len(classes)])
        png = folder / "images" / f"{index}.png"
        png.write_bytes(tf.io.encode_png(images[image_index][..., None]).numpy())
        recording = by_digit[digit][int(rng.integers(len(by_digit[digit])))]
        chinese = language == "chinese" or (language == "mixed" and index % 2 == 1)
        caption = (f"手写的数字{CHINESE[digit]}" if chinese else f"a handwritten {DIGITS[digit]}")
        rows.append({"image": f"images/{index}.png", "audio": str(recording),
                     "caption": caption, "speaker": recording.stem.split("_")[1],
                     "label": DIGITS[digit]})
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
