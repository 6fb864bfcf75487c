"""How fast is the check of a large manifest, and how much memory does it take?

Before anything trains, `mmzoo.data.read_manifest` checks every row: each image
decodes, each WAV decodes and holds no NaN, each text is not empty once standardized,
each label fits. This measures that pass over a manifest of `--rows` rows (default
100,000) with its progress bar shown, as `mmzoo train --data` runs it.

The manifest is built in a temporary folder (deleted at the end): `--images` distinct
MNIST test digits written as PNG files and the 2,500 FSDD recordings of the shared
data folder, listed round-robin (so rows re-read files, as a manifest of several
captions per photo does), a caption in English or Chinese, and the digit's name as
the label. Figures: rows per second of the whole check (three columns a row), files
per second, and the process's peak resident memory before and after the check (so
its growth is what the check holds: the table, the resolved paths, the texts).

Results go to `benchmarks/results/manifest_check.json`.

Usage: `.venv/bin/python benchmarks/manifest_check.py [--rows 100000] [--images 5000]
[--data-dir DIR]` (about 3 minutes on 2 CPU cores). The data dir defaults to
`$MMZOO_DATA_DIR`, else `../shared/data` beside the repository.
"""

import argparse
import csv
import gzip
import json
import os
import pathlib
import platform
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "manifest_check.json"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
CHINESE = "零一二三四五六七八九"


def peak_rss_mb():
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(folder, data_dir, rows, images):
    import tensorflow as tf

    with gzip.open(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        pixels = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    (folder / "images").mkdir()
    for i in range(images):
        (folder / "images" / f"{i}.png").write_bytes(tf.io.encode_png(pixels[i][..., None]).numpy())
    recordings = sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))
    by_digit = {d: [r for r in recordings if r.name.startswith(f"{d}_")] for d in range(10)}
    path = folder / "manifest.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "audio", "caption", "label"])
        for row in range(rows):
            image = row % images
            digit = int(labels[image])
            wav = by_digit[digit][row % len(by_digit[digit])]
            caption = (f"手写的数字{CHINESE[digit]}" if row % 2 else f"a handwritten {DIGITS[digit]}")
            writer.writerow([f"images/{image}.png", str(wav), caption, DIGITS[digit]])
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--data-dir", default=os.environ.get("MMZOO_DATA_DIR")
                        or REPO.parent / "shared" / "data")
    args = parser.parse_args()
    data_dir = pathlib.Path(args.data_dir)

    from mmzoo.data import read_manifest

    folder = pathlib.Path(tempfile.mkdtemp(prefix="manifest-check-"))
    try:
        start = time.perf_counter()
        path = build(folder, data_dir, args.rows, args.images)
        built = time.perf_counter() - start
        before = peak_rss_mb()
        start = time.perf_counter()
        manifest = read_manifest(path, {"image": "image", "audio": "audio", "caption": "text"},
                                 progress=True)
        seconds = time.perf_counter() - start
        after = peak_rss_mb()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = {
        "rows": args.rows,
        "distinct_images": args.images,
        "usable_rows": len(manifest),
        "check_seconds": round(seconds, 2),
        "rows_per_second": round(args.rows / seconds),
        "files_per_second": round(2 * args.rows / seconds),
        "peak_rss_mb_before_check": round(before),
        "peak_rss_mb_after_check": round(after),
        "build_seconds": round(built, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
