"""Manifests: CSV or JSONL files listing one example per row.

A manifest has a column per model input (a file path for images and audio, inline
text for text) and a label column. Relative paths are resolved against the
manifest's folder. Before anything trains, `read_manifest` checks every row (files
exist and decode, texts are not empty, labels are known) and reports each broken
row by number, column and file; with `skip_bad_rows=True` it drops those rows and
says which.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "m.csv").write_text("text,label\\nhello there,greeting\\nbye now,farewell\\n")
>>> manifest = read_manifest(folder / "m.csv", {"text": "text"})
>>> manifest.labels, manifest.class_names
([1, 0], ['farewell', 'greeting'])
"""

import csv
import dataclasses
import json
import pathlib
import re
import warnings

import keras
import tensorflow as tf

from mmzoo.preprocessing.audio import decode_wav
from mmzoo.preprocessing.image import decode_image

MODALITY_KINDS = ("image", "audio", "text")


class ManifestError(ValueError):
    """Rows of a manifest that cannot be used; `bad_rows` lists them.

    A `ValueError`; its message lists up to 50 bad rows by number and column.

    Args:
        path: the manifest file, for the message.
        bad_rows: list of `BadRow`.

    >>> error = ManifestError("m.csv", [BadRow(2, "image", "file not found: a.png")])
    >>> print(error)  # doctest: +NORMALIZE_WHITESPACE
    Manifest m.csv has 1 bad row(s) (rows count from 1 after the header; pass
    skip_bad_rows=True to train without them):
      row 2, column 'image': file not found: a.png
    """

    def __init__(self, path, bad_rows):
        self.bad_rows = bad_rows
        lines = [f"  row {b.row}, column {b.column!r}: {b.reason}" for b in bad_rows[:50]]
        more = f"\n  ... and {len(bad_rows) - 50} more" if len(bad_rows) > 50 else ""
        super().__init__(
            f"Manifest {path} has {len(bad_rows)} bad row(s) (rows count from 1 after the "
            f"header; pass skip_bad_rows=True to train without them):\n" + "\n".join(lines) + more
        )


@dataclasses.dataclass(frozen=True)
class BadRow:
    """One problem of a manifest row.

    Attributes:
        row: the row number, counting from 1 after the header.
        column: the column (input name or label column) at fault.
        reason: what is wrong, e.g. `"file not found: ..."`.

    >>> BadRow(3, "text", "empty text")
    BadRow(row=3, column='text', reason='empty text')
    """

    row: int
    column: str
    reason: str


@dataclasses.dataclass
class Manifest:
    """The usable rows of a manifest: resolved columns, label indices, what was skipped.

    Returned by `read_manifest`; `len(manifest)` is the number of usable rows.

    Attributes:
        path: the manifest file.
        columns: dict from input name to a list (one entry per usable row) of absolute
            file paths (image, audio) or texts.
        labels: list of int class indices into `class_names`, one per usable row.
        class_names: list of class names, in index order.
        skipped: list of `BadRow` for the rows left out (`skip_bad_rows=True`).

    >>> m = Manifest(pathlib.Path("m.csv"), {"text": ["hi", "bye"]}, [1, 0], ["a", "b"], [])
    >>> len(m)
    2
    """

    path: pathlib.Path
    columns: dict  # input name -> list of file paths or texts
    labels: list
    class_names: list
    skipped: list  # BadRow entries of the rows left out

    def __len__(self):
        return len(self.labels)


def read_manifest(path, inputs, label_column="label", class_names=None, skip_bad_rows=False,
                  progress=None):
    """Reads and checks a CSV or JSONL manifest.

    Args:
        path: the manifest file (`.csv` or `.jsonl`).
        inputs: dict from model input name to its kind, `"image"`, `"audio"` or `"text"`;
            the input name is the manifest column.
        label_column: the column holding the class name of each row.
        class_names: the valid classes, in index order; by default the sorted distinct
            labels of the manifest.
        skip_bad_rows: drop broken rows (listed in `Manifest.skipped`) instead of raising.
        progress: show a progress bar; by default for manifests over 1,000 rows.

    Returns:
        A `Manifest` of the usable rows. Skipped rows are also reported by a
        `UserWarning`.

    Raises:
        ManifestError: naming every broken row, unless `skip_bad_rows`.
        ValueError: the file is missing, is not `.csv`/`.jsonl`, holds invalid JSON,
            lacks a needed column or has no rows; an input kind is unknown; or no row
            is usable.

    >>> import pathlib, tempfile, warnings
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "m.jsonl").write_text(
    ...     '{"text": "hi", "label": "a"}\\n{"text": "", "label": "b"}\\n')
    >>> read_manifest(folder / "m.jsonl", {"text": "text"})
    Traceback (most recent call last):
    ...
    mmzoo.data.manifest.ManifestError: Manifest ... has 1 bad row(s) ...
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     manifest = read_manifest(folder / "m.jsonl", {"text": "text"}, skip_bad_rows=True)
    >>> manifest.columns, manifest.labels, manifest.skipped
    ({'text': ['hi']}, [0], [BadRow(row=2, column='text', reason='empty text')])
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"Manifest file not found. Received: path={str(path)!r}")
    for name, kind in inputs.items():
        if kind not in MODALITY_KINDS:
            raise ValueError(
                f"Input {name!r} has an unknown kind; valid kinds: {', '.join(MODALITY_KINDS)}. "
                f"Received: inputs[{name!r}]={kind!r}"
            )
    rows = _read_rows(path)
    missing = [c for c in [*inputs, label_column] if rows and c not in rows[0]]
    if not rows or missing:
        raise ValueError(
            f"Manifest {path} needs the columns {[*inputs, label_column]}; "
            f"{'it has no rows' if not rows else f'missing {missing}'}. "
            f"Received: columns {list(rows[0]) if rows else []}"
        )
    if class_names is None:
        class_names = sorted({str(r[label_column]) for r in rows if str(r[label_column]).strip()})
    class_index = {str(c): i for i, c in enumerate(class_names)}

    bad, columns, labels = [], {name: [] for name in inputs}, []
    show = progress if progress is not None else len(rows) > 1000
    bar = keras.utils.Progbar(len(rows), unit_name="row") if show else None
    for number, row in enumerate(rows, start=1):
        problems = [BadRow(number, label_column, f"label {row[label_column]!r} is not one of "
                                                  f"{class_names}")] \
            if str(row[label_column]) not in class_index else []
        values = {}
        for name, kind in inputs.items():
            value, reason = _check_value(kind, row[name], path.parent)
            if reason:
                problems.append(BadRow(number, name, reason))
            values[name] = value
        if problems:
            bad.extend(problems)
        else:
            for name, value in values.items():
                columns[name].append(value)
            labels.append(class_index[str(row[label_column])])
        if bar is not None:
            bar.update(number)
    if bad and not skip_bad_rows:
        raise ManifestError(path, bad)
    if bad:
        rows_left_out = sorted({b.row for b in bad})
        warnings.warn(
            f"Manifest {path}: skipped {len(rows_left_out)} bad row(s) of {len(rows)} "
            f"(skip_bad_rows=True): rows {rows_left_out[:50]}"
            f"{' ...' if len(rows_left_out) > 50 else ''}; `Manifest.skipped` says why.",
            stacklevel=2,
        )
    if not labels:
        raise ValueError(f"Manifest {path} has no usable rows. Received: {len(rows)} rows, all bad")
    return Manifest(path, columns, labels, list(class_names), bad)


def _read_rows(path):
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"Manifest {path} line {number} is not valid JSON: {error}") from None
        return rows
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    raise ValueError(f"A manifest must be a .csv or .jsonl file. Received: path={str(path)!r}")


def _check_value(kind, value, folder):
    """Returns `(resolved value, reason it is bad or None)`."""
    if value is None or not str(value).strip():
        return value, f"empty {kind}"
    if kind == "text":
        return str(value), None
    file = pathlib.Path(value)
    file = file if file.is_absolute() else folder / file
    if not file.is_file():
        return str(file), f"file not found: {file}"
    data = tf.io.read_file(str(file))
    try:
        # The pipeline's own decoders: what passes here, the pipeline can read.
        if kind == "image":
            decode_image(data)
        else:
            waveform, _ = decode_wav(data)
            if waveform.shape[0] == 0:
                return str(file), f"empty wav (no samples): {file}"
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        return str(file), f"cannot decode {kind} file {file}: {_reason(error)}"
    return str(file), None


def _reason(error):
    """TensorFlow's message without its op and function-node decorations."""
    message = re.sub(r"\{\{function_node [^}]*\}\}|\[Op:[^\]]*\].*", "", error.message)
    assertion = re.search(r"Summarized data: b?([\"'])(.*?)\1", message, re.S)
    if assertion:  # a tf.debugging assert: keep only its own message
        message = assertion.group(2)
    return message.strip().splitlines()[0][:200] if message.strip() else type(error).__name__