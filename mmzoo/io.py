"""Atomic file and folder writes: a reader sees the old version or the new one, never half.

Every file mmzoo writes for a run or an export goes through these helpers: the
content is written to a temporary name in the same folder (so the final rename never
crosses file systems), flushed to disk, then moved over the destination with
`os.replace`, which is atomic on POSIX and Windows. A crash (even `SIGKILL`) leaves
either the previous file or the new one, plus at worst a stray `.tmp` file.

>>> import json, pathlib, tempfile
>>> from mmzoo.io import atomic_write_json, atomic_path
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_json(folder / "metrics.json", {"accuracy": 0.9})
>>> json.loads((folder / "metrics.json").read_text())
{'accuracy': 0.9}
>>> with atomic_path(folder / "model.keras") as tmp:   # a writer that needs a path
...     _ = pathlib.Path(tmp).write_text("weights")
>>> (folder / "model.keras").read_text()
'weights'
"""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile

_TMP_PREFIX = ".tmp-"


def atomic_write_bytes(path, data):
    """Writes `data` (bytes) to `path` atomically; creates the parent folder.

    Args:
        path: the destination file (str or path-like).
        data: the bytes to write.

    Raises:
        OSError: the folder cannot be created or the file cannot be written.

    >>> import pathlib, tempfile
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "sub" / "blob.bin"
    >>> atomic_write_bytes(file, b"abc")
    >>> file.read_bytes()
    b'abc'
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def atomic_write_text(path, text, encoding="utf-8"):
    """Writes `text` to `path` atomically; creates the parent folder.

    Args:
        path: the destination file (str or path-like).
        text: the string to write.
        encoding: the text encoding.

    Raises:
        UnicodeEncodeError: `text` cannot be encoded with `encoding`.
        OSError: the folder cannot be created or the file cannot be written.

    >>> import pathlib, tempfile
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> atomic_write_text(file, "hello")
    >>> file.read_text()
    'hello'
    """
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path, obj, indent=2):
    """Writes `obj` as indented JSON with a trailing newline, atomically.

    numpy scalars and arrays are written as lists or numbers, path-likes as strings.

    Args:
        path: the destination file (str or path-like).
        obj: a JSON-serializable object.
        indent: spaces per indentation level.

    Raises:
        TypeError: `obj` holds a value JSON cannot represent.
        OSError: the folder cannot be created or the file cannot be written.

    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "m.json"
    >>> atomic_write_json(file, {"loss": np.float32(0.5), "shape": (2, 3)}, indent=None)
    >>> file.read_text()
    '{"loss": 0.5, "shape": [2, 3]}\\n'
    """
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; on success it replaces `path` atomically.

    The temporary name keeps `path`'s suffix (`.tmp-<random>-model.keras`), so writers
    that check extensions (`model.save`, `save_weights`) accept it. On error the
    temporary file is removed and `path` is left untouched.

    Args:
        path: the destination file (str or path-like); its parent folder is created.

    Yields:
        str: the temporary path to write to (it does not exist yet).

    Raises:
        FileNotFoundError: the block ended without writing the temporary path.

    >>> import pathlib, tempfile
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "model.keras"
    >>> with atomic_path(file) as tmp:
    ...     _ = pathlib.Path(tmp).write_text("weights")
    >>> file.read_text()
    'weights'
    >>> with atomic_path(file) as tmp:
    ...     pass
    Traceback (most recent call last):
    ...
    FileNotFoundError: Nothing was written to the temporary path ...
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=f"-{path.name}", dir=path.parent)
    os.close(handle)
    os.remove(tmp)  # the writer creates it; some refuse to overwrite
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"Nothing was written to the temporary path {tmp}.")
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary folder beside `path`; on success it becomes `path`.

    An existing `path` is first moved aside and removed after the new folder is in
    place, so at every moment either the complete old folder or the complete new one
    exists under `path` (between the two renames, briefly, neither: readers retry or
    find the old one in `.tmp-old-*`).

    Args:
        path: the destination folder (str or path-like); its parent is created.

    Yields:
        pathlib.Path: an empty temporary folder to fill. On error it is removed and
        `path` is left untouched.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "export"
    >>> with atomic_directory(folder) as tmp:
    ...     _ = (tmp / "card.json").write_text("{}")
    >>> sorted(p.name for p in folder.iterdir())
    ['card.json']
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, suffix=f"-{path.name}", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = pathlib.Path(
                tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}old-", suffix=f"-{path.name}", dir=path.parent)
            )
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(folder):
    """Removes `.tmp-*` leftovers of writes interrupted by a crash in `folder`.

    Args:
        folder: the folder to clean (str or path-like); a missing folder is a no-op.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / ".tmp-abc-model.keras").write_text("half")
    >>> _ = (folder / "model.keras").write_text("whole")
    >>> remove_stale_temporaries(folder)
    >>> sorted(p.name for p in folder.iterdir())
    ['model.keras']
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return
    for item in folder.glob(f"{_TMP_PREFIX}*"):
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                item.unlink()


def _fsync_dir(folder):
    # Makes the rename itself durable; not supported on every platform.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _json_default(obj):
    # numpy scalars and arrays, tuples in configs, paths.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def read_format_json(path, expected_format, what, error=ValueError):
    """The JSON object in `path`, whose `"format"` must be `expected_format`.

    Args:
        path: the JSON file (a model card, a preprocessor file...).
        expected_format: the `"format"` value the file must hold.
        what: what the file is, for the error message (e.g. "mmzoo model card").
        error: the exception class raised on a wrong format.

    Returns:
        The decoded dict.

    Raises:
        `error`: the file's `"format"` differs (`ValueError` by default).
        FileNotFoundError: `path` does not exist.
        json.JSONDecodeError: the file is not JSON.

    >>> import tempfile, pathlib
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> atomic_write_json(file, {"format": "other/1"})
    >>> read_format_json(file, "mine/1", "mmzoo file")
    Traceback (most recent call last):
    ...
    ValueError: ... is not an mmzoo file (format 'mine/1'). Received: format='other/1'
    """
    content = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    if not isinstance(content, dict) or content.get("format") != expected_format:
        received = content.get("format") if isinstance(content, dict) else type(content).__name__
        raise error(
            f"{path} is not an {what} (format {expected_format!r}). Received: format={received!r}"
        )
    return content
