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

import codecs
import csv
import dataclasses
import io
import json
import os
import pathlib
import re
import warnings

import keras
import tensorflow as tf

from mmzoo.preprocessing.audio import decode_wav, nonfinite_samples
from mmzoo.preprocessing.image import decode_image

_graph_code = tf.autograph.experimental.do_not_convert

MODALITY_KINDS = ("image", "audio", "text")


class ManifestError(ValueError):
    """Rows of a manifest that cannot be used; `bad_rows` lists them.

    A `ValueError`; its message lists up to 50 bad rows by number and column.

    Args:
        path: the manifest file, for the message.
        bad_rows: list of `BadRow`.

    >>> error = ManifestError("m.csv", [BadRow(2, "image", "file not found: a.png")])
    >>> print(error)  # doctest: +NORMALIZE_WHITESPACE
    Manifest m.csv has 1 bad row(s) (rows count from 1 after the header; to train
    without them pass skip_bad_rows=True, or mmzoo train --skip-bad-rows):
      row 2, column 'image': file not found: a.png
    """

    def __init__(self, path, bad_rows):
        self.bad_rows = bad_rows
        lines = [f"  row {b.row}, column {b.column!r}: {b.reason}" for b in bad_rows[:50]]
        more = f"\n  ... and {len(bad_rows) - 50} more" if len(bad_rows) > 50 else ""
        super().__init__(
            f"Manifest {path} has {len(bad_rows)} bad row(s) (rows count from 1 after the "
            f"header; to train without them pass skip_bad_rows=True, or mmzoo train "
            f"--skip-bad-rows):\n" + "\n".join(lines) + more
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
    """The usable rows of a manifest: resolved columns, targets, what was skipped.

    Returned by `read_manifest`; `len(manifest)` is the number of usable rows.

    Attributes:
        path: the manifest file.
        columns: dict from input name to a list (one entry per usable row) of absolute
            file paths (image, audio) or texts.
        labels: one training target per usable row: an int class index into
            `class_names` for a multiclass label, else what `encoder.encode` gives;
            empty for a manifest read without a label column.
        class_names: list of class names, in index order.
        skipped: list of `BadRow` for the rows left out (`skip_bad_rows=True`).
        encoder: the `mmzoo.data.tasks.LabelEncoder` of the labels (None without).
        num_rows: the number of usable rows.

    >>> m = Manifest(pathlib.Path("m.csv"), {"text": ["hi", "bye"]}, [1, 0], ["a", "b"], [])
    >>> len(m)
    2
    """

    path: pathlib.Path
    columns: dict  # input name -> list of file paths or texts
    labels: list
    class_names: list
    skipped: list  # BadRow entries of the rows left out
    encoder: object = None
    num_rows: int = None

    def __len__(self):
        return self.num_rows if self.num_rows is not None else len(self.labels)


def read_manifest(path, inputs, label_column="label", class_names=None, skip_bad_rows=False,
                  progress=None, labels=None, encoding=None, rows=None):
    """Reads and checks a CSV or JSONL manifest.

    Args:
        path: the manifest file (`.csv` or `.jsonl`).
        inputs: dict from model input name to its kind, `"image"`, `"audio"` or `"text"`;
            the input name is the manifest column.
        label_column: the column holding each row's label; None for a manifest
            without labels (e.g. to predict).
        class_names: the valid classes of a multiclass label, in index order; by
            default the sorted distinct labels of the manifest.
        skip_bad_rows: drop broken rows (listed in `Manifest.skipped`) instead of raising.
        progress: show a progress bar; by default for manifests over 1,000 rows
            written to a terminal.
        labels: a `mmzoo.data.tasks.LabelEncoder` for other tasks (binary,
            multilabel, regression); it wins over `class_names`.
        encoding: the file's text encoding; by default UTF-8, with or without a
            byte-order mark (a UTF-16 or UTF-32 file is told by its mark).
        rows: optional row indices (from 0) to read, e.g. one split of the file;
            errors still give the rows' numbers in the file.

    Returns:
        A `Manifest` of the usable rows. Skipped rows are also reported by a
        `UserWarning`.

    Raises:
        ManifestError: naming every broken row, unless `skip_bad_rows`.
        ValueError: the file is missing, is not `.csv`/`.jsonl`, is not in the
            encoding (naming file, line and encoding), holds invalid JSON, lacks a
            needed column or has no rows; an input kind is unknown; or no row is usable.

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
    from mmzoo.data.tasks import LabelEncoder, LabelError

    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"Manifest file not found. Received: path={str(path)!r}")
    for name, kind in inputs.items():
        if kind not in MODALITY_KINDS:
            raise ValueError(
                f"Input {name!r} has an unknown kind; valid kinds: {', '.join(MODALITY_KINDS)}. "
                f"Received: inputs[{name!r}]={kind!r}"
            )
    table = read_rows(path, encoding)
    numbers = list(range(1, len(table) + 1)) if rows is None else [int(i) + 1 for i in rows]
    rows = [table[number - 1] for number in numbers]
    needed = [*inputs] + ([label_column] if label_column is not None else [])
    missing = [c for c in needed if rows and c not in rows[0]]
    if not rows or missing:
        raise ValueError(
            f"Manifest {path} needs the columns {needed}; "
            f"{'it has no rows' if not rows else f'missing {missing}'}. "
            f"Received: columns {list(rows[0]) if rows else []}"
        )
    encoder = None
    if label_column is not None:
        encoder = labels or LabelEncoder.fit(
            [r[label_column] for r in rows], task="multiclass", class_names=class_names)

    show = progress if progress is not None else len(rows) > 1000 and _is_terminal()
    checked = {name: _check_column(kind, [row[name] for row in rows], path.parent, show)
               for name, kind in inputs.items()}
    bad, columns, targets = [], {name: [] for name in inputs}, []
    for index, (number, row) in enumerate(zip(numbers, rows)):
        problems = []
        target = None
        if encoder is not None:
            try:
                target = encoder.encode(row[label_column])
            except LabelError as error:
                problems.append(BadRow(number, label_column, str(error)))
        for name in inputs:
            value, reason = checked[name][index]
            if reason:
                problems.append(BadRow(number, name, reason))
        if problems:
            bad.extend(problems)
            continue
        for name in inputs:
            columns[name].append(checked[name][index][0])
        targets.append(target)
    if bad and not skip_bad_rows:
        raise ManifestError(path, bad)
    if bad:
        rows_left_out = sorted({b.row for b in bad})
        warnings.warn(
            f"Manifest {path}: skipped {len(rows_left_out)} bad row(s) of the {len(rows)} read "
            f"(skip_bad_rows=True): rows {rows_left_out[:50]}"
            f"{' ...' if len(rows_left_out) > 50 else ''}; `Manifest.skipped` says why.",
            stacklevel=2,
        )
    if not targets:
        raise ValueError(f"Manifest {path} has no usable rows. Received: {len(rows)} rows, all bad")
    if encoder is not None and encoder.task == "multiclass":
        targets = [int(t) for t in targets]
    return Manifest(path, columns, targets if encoder is not None else [],
                    list(encoder.class_names) if encoder is not None else [], bad,
                    encoder, len(targets))


def read_rows(path, encoding=None):
    """The rows of a CSV or JSONL file as dicts (column -> value), in file order.

    CSV: the first line is the header; quoted fields may hold commas, quotes and
    line breaks; CRLF and LF line ends both work. JSONL: one JSON object a line,
    blank lines skipped.

    Args:
        path: a `.csv` or `.jsonl` file.
        encoding: the text encoding (see `read_manifest`); default UTF-8 with or
            without a byte-order mark.

    Raises:
        ValueError: another suffix; bytes that are not in the encoding (naming the
            line, the byte and the encoding); invalid JSON (naming the line); a CSV
            row with more fields than the header.

    >>> import pathlib, tempfile
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = file.write_bytes(b"\\xef\\xbb\\xbftext,label\\r\\n\\"a, b\\",x\\r\\n")
    >>> read_rows(file)
    [{'text': 'a, b', 'label': 'x'}]
    """
    path = pathlib.Path(path)
    if path.suffix.lower() not in (".csv", ".jsonl"):
        raise ValueError(f"A manifest must be a .csv or .jsonl file. Received: path={str(path)!r}")
    text = _decode(path, path.read_bytes(), encoding)
    if path.suffix.lower() == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"Manifest {path} line {number} is not valid JSON: {error}") from None
            if not isinstance(row, dict):
                raise ValueError(f"Manifest {path} line {number} must be a JSON object. "
                                 f"Received: {type(row).__name__}")
            rows.append(row)
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey=_EXTRA)
    rows = []
    for row in reader:
        if _EXTRA in row:
            raise ValueError(
                f"Manifest {path} line {reader.line_num} has more fields than the header "
                f"({len(reader.fieldnames)}): quote fields that hold commas. "
                f"Received: {row[_EXTRA]!r} beyond the last column"
            )
        rows.append({key.strip() if isinstance(key, str) else key: value
                     for key, value in row.items()})
    return rows


_EXTRA = "\0extra"
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _decode(path, data, encoding):
    if encoding is None:
        encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"Unknown text encoding. Received: encoding={encoding!r}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(
            f"Manifest {path} is not valid {encoding}: line {line} holds the byte "
            f"{data[error.start:error.start + 1]!r} ({error.reason}). Save it as UTF-8, or "
            f"name its encoding (dataset.options.encoding, --encoding), e.g. cp1252 or "
            f"latin-1. Received: encoding={encoding!r}"
        ) from None


def _is_terminal():
    import sys

    return sys.stdout.isatty()


def _check_column(kind, values, folder, progress):
    """`[(resolved value, reason it is bad or None)]` for one column's values.

    Files are read and decoded by a parallel `tf.data` pass (the pipeline's own
    decoders, so what passes here the pipeline can read); only the files that fail
    it are checked again one by one, to say why.
    """
    if kind == "text":
        return _check_texts(values)
    out = [(value, f"empty {kind}") if value is None or not str(value).strip() else
           (str(_resolve(value, folder)), None) for value in values]
    files = [(i, path) for i, (path, reason) in enumerate(out) if reason is None]
    missing = {i for i, path in files if not os.path.isfile(path)}
    for i in missing:
        out[i] = (out[i][0], f"file not found: {out[i][0]}")
    files = [(i, path) for i, path in files if i not in missing]
    passed = set()
    if files:
        indices, paths = zip(*files)
        checks = tf.data.Dataset.from_tensor_slices((list(indices), list(paths))).map(
            lambda index, path: (index, _decodes(kind, tf.io.read_file(path))),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).ignore_errors()
        bar = keras.utils.Progbar(len(files), unit_name="file") if progress else None
        for index, ok in checks.batch(256).as_numpy_iterator():
            passed.update(int(i) for i in index[ok])
            if bar is not None:
                bar.add(len(index))
        if bar is not None and bar._seen_so_far < len(files):
            bar.update(len(files))
    for i, _ in files:
        if i not in passed:  # the slow path, for the reason
            out[i] = _check_value(kind, values[i], folder)
    return out


@_graph_code
def _decodes(kind, data):
    """True when `data` decodes as `kind` (raises when it does not decode at all)."""
    if kind == "image":
        return tf.size(decode_image(data)) > 0
    waveform, _ = decode_wav(data)
    return tf.logical_and(tf.size(waveform) > 0, tf.reduce_all(tf.math.is_finite(waveform)))


def _resolve(value, folder):
    file = pathlib.Path(str(value).strip())
    return file if file.is_absolute() else folder / file


def _check_texts(values):
    from mmzoo.preprocessing.vocabulary import empty_after_standardization

    texts = ["" if v is None else str(v) for v in values]
    empty = empty_after_standardization(texts)
    out = []
    for text, is_empty in zip(texts, empty):
        if not text.strip():
            out.append((text, "empty text"))
        elif is_empty:
            out.append((text, f"the text {text[:40]!r} is empty after standardization "
                              "(it holds only punctuation or symbols)"))
        else:
            out.append((text, None))
    return out


def check_file(kind, path):
    """Why the image or WAV file `path` cannot be used, or None when it can.

    The manifest check of one file: it exists, decodes with the pipeline's own
    decoders, and (audio) has samples, all finite.

    >>> check_file("image", "no/such.png")
    'file not found: no/such.png'
    """
    return _check_value(kind, str(path), pathlib.Path("."))[1]


def _check_value(kind, value, folder):
    """Returns `(resolved value, reason it is bad or None)`."""
    if value is None or not str(value).strip():
        return value, f"empty {kind}"
    if kind == "text":
        return str(value), None
    file = _resolve(value, folder)
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
            count, first = nonfinite_samples(waveform)
            if count:
                return str(file), (f"the wav holds {count} NaN or infinite sample(s), the "
                                   f"first at sample {first}: {file}")
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        return str(file), f"cannot decode {kind} file {file}: {decode_error_reason(error)}"
    return str(file), None


def decode_error_reason(error):
    """What a decoding `tf.errors.OpError` says, without TensorFlow's decorations.

    Drops Keras' "Exception encountered when calling ..." wrapper, function-node
    and op names, and keeps only a `tf.debugging` assertion's own message.

    >>> import tensorflow as tf
    >>> try:
    ...     tf.io.decode_image(b"junk")
    ... except tf.errors.InvalidArgumentError as error:
    ...     print(decode_error_reason(error))
    Unknown image file format. One of JPEG, JPEG XL, PNG, GIF, BMP, WebP required.
    """
    message = re.sub(r"\{\{function_node [^}]*\}\}|\[Op:[^\]]*\].*", "", error.message)
    message = re.sub(r"Exception encountered when calling [^\n]*", "", message)
    assertion = re.search(r"Summarized data: b?([\"'])(.*?)\1", message, re.S)
    if assertion:  # a tf.debugging assert: keep only its own message
        message = assertion.group(2)
    return message.strip().splitlines()[0][:200] if message.strip() else type(error).__name__
