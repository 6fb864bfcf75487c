"""The `manifest` dataset: your own examples, listed in CSV or JSONL files.

A manifest has one row per example and one column per input: image files
(PNG, JPEG, BMP, GIF), WAV recordings, or text, plus a label column. Paths are
relative to the manifest's folder unless absolute. Give train, validation and test
files, or one file cut into seeded splits:

    dataset:
      name: manifest
      options:
        train: data/train.csv        # required
        validation: data/val.csv     # optional: else cut from train
        test: data/test.csv          # optional: else cut from train
        split: {validation: 0.1, test: 0.1}   # fractions cut from train
        group_by: speaker            # rows of one speaker stay in one split
        label: label                 # the label column
        task: auto                   # or multiclass, binary, multilabel, regression

What is inferred, and the option that overrides it:

- the kind of each column (`inputs: {photo: image, caption: text, id: null}`):
  image and audio by file extension, anything else text (`mmzoo.data.profile`);
- the task from the label column (`task`; `mmzoo.data.tasks.infer_task`);
- image size and channels from the training images (`image_size: [H, W]`,
  `image_channels`), the audio rate and length (`sample_rate`, `duration` in
  seconds), the text length in tokens (`text_length`).

Every row of a split is checked before training (`mmzoo.data.read_manifest`): files
exist and decode, recordings hold no NaN, texts are not empty after standardization,
labels fit the task. A broken row is an error naming file, row and column, unless
`skip_bad_rows: true`.

Examples are dicts keyed by input name (the column name, made a valid identifier)
plus `"label"`: images float32 `(H, W, C)` in [0, 1] (EXIF orientation applied,
padded to the size), audio float32 `(num_samples,)` at the sample rate (centred),
text raw strings; labels as `mmzoo.data.tasks.LabelEncoder` gives them.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> rows = "".join(f"{w} day,{'good' if w in 'fine nice' else 'bad'}\\n"
...                for w in ["fine", "nice", "grim", "dull"] * 5)
>>> _ = (folder / "m.csv").write_text("caption,label\\n" + rows)
>>> fields = info(train=str(folder / "m.csv"))
>>> fields["task"], fields["class_names"], fields["modalities"]["caption"]["modality"]
('binary', ('bad', 'good'), 'text')
>>> example = next(iter(load("train", train=str(folder / "m.csv"))))
>>> sorted(example)
['caption', 'label']
"""

import functools
import os
import re

OPTIONS = ("train", "validation", "test", "split", "group_by", "label", "task",
           "label_separator", "inputs", "encoding", "skip_bad_rows", "image_size",
           "image_channels", "sample_rate", "duration", "text_length")
DEFAULT_SPLIT = {"validation": 0.1, "test": 0.1}
DESCRIPTION = ("Your own examples listed in CSV/JSONL manifests (options train, validation, "
               "test, label ...); image, audio and text columns")


def info(**options):
    """Fields of the `DatasetInfo`: inputs, sizes, task and classes read from the files."""
    plan = _plan(**options)
    return {
        "description": DESCRIPTION,
        "modalities": plan["modalities"],
        "class_names": tuple(plan["encoder"].class_names),
        "task": plan["encoder"].task,
    }


def is_available(data_dir=None):
    """A manifest names its own files: always usable once its options are given."""
    return True


def load(split="train", data_dir=None, seed=0, **options):
    """The checked examples of one split as an unbatched `tf.data.Dataset` of dicts.

    Args:
        split: `"train"`, `"validation"` or `"test"`.
        data_dir: unused (paths come from the options).
        seed: seed of the splits cut from the train file.
        **options: see the module docstring.

    Raises:
        ValueError: a bad option, an unreadable manifest or a missing column.
        mmzoo.data.ManifestError: broken rows (naming each), unless `skip_bad_rows`.
    """
    import numpy as np

    from mmzoo.data.manifest import read_manifest

    plan = _plan(seed=seed, **options)
    path, rows = plan["splits"][split]
    kinds = {column: plan["modalities"][name]["modality"]
             for column, name in plan["columns"].items()}
    manifest = read_manifest(path, kinds, plan["label"], labels=plan["encoder"],
                             skip_bad_rows=bool(options.get("skip_bad_rows")),
                             encoding=options.get("encoding"), rows=rows)
    values = {plan["columns"][column]: manifest.columns[column] for column in kinds}
    values["label"] = np.stack([np.asarray(t) for t in manifest.labels])
    # Images are padded to their size, as the model's Preprocessor does when serving.
    decoders = {name: decoder(spec) for name, spec in plan["modalities"].items()}
    return _decoded(values, decoders)


def model_examples(preprocessor, path, label=None, encoder=None, encoding=None,
                   skip_bad_rows=False):
    """A manifest's rows as examples for a trained model (evaluate or predict a file).

    Each model input is read from the column of the same name (as `input_name` makes
    it), decoded exactly as the model's `Preprocessor` says (image size, channels
    and resizing; audio rate and length), after the manifest check.

    Args:
        preprocessor: the model's `mmzoo.Preprocessor`.
        path: a CSV or JSONL manifest.
        label: the label column; None for a file without labels.
        encoder: the `mmzoo.data.tasks.LabelEncoder` of the model's labels (needed
            with `label`).
        encoding: the file's text encoding (default UTF-8, BOM or not).
        skip_bad_rows: leave broken rows out (listed in the manifest's `skipped`).

    Returns:
        `(examples, manifest)`: an unbatched `tf.data.Dataset` of dicts keyed by
        input name (plus `"label"` with `label`), and the checked `Manifest`.

    Raises:
        ValueError: a model input has no column, or the file is unreadable.
        mmzoo.data.ManifestError: broken rows, unless `skip_bad_rows`.
    """
    import numpy as np

    from mmzoo.data.manifest import read_manifest, read_rows

    table = read_rows(path, encoding)
    columns = {input_name(column): column for column in (table[0] if table else {})}
    missing = [name for name in preprocessor.input_names if name not in columns]
    if missing:
        raise ValueError(f"Manifest {path} has no column for the model input(s) {missing}. "
                         f"Received: columns {list(columns.values())}")
    kinds = {columns[name]: preprocessor.modality(name) for name in preprocessor.input_names}
    manifest = read_manifest(path, kinds, label, labels=encoder, encoding=encoding,
                             skip_bad_rows=skip_bad_rows)
    values = {name: manifest.columns[columns[name]] for name in preprocessor.input_names}
    if label is not None:
        values["label"] = np.stack([np.asarray(t) for t in manifest.labels])
    decoders = {name: decoder(layer_spec(preprocessor, name), getattr(layer, "mode", "pad"))
                for name, layer in preprocessor.layers.items()}
    return _decoded(values, decoders), manifest


def layer_spec(preprocessor, name):
    """The input spec (as in `info()["modalities"]`) of a model input's preprocessing."""
    layer, modality = preprocessor.layers[name], preprocessor.modality(name)
    if modality == "image":
        return {"modality": "image", "shape": (*layer.size, layer.channels)}
    if modality == "audio":
        return {"modality": "audio", "sample_rate": layer.sample_rate,
                "num_samples": layer.num_samples}
    return {"modality": modality}


def decoder(spec, resize="pad"):
    """The function from one manifest value (a path or a text) to a model tensor.

    Args:
        spec: an input's spec of `info()["modalities"]`.
        resize: how images reach their size (see `mmzoo.preprocessing.resize_image`).
    """
    import tensorflow as tf

    from mmzoo.preprocessing.audio import preprocess_audio
    from mmzoo.preprocessing.image import preprocess_image

    if spec["modality"] == "image":
        return lambda path: preprocess_image(tf.io.read_file(path), spec["shape"][:2],
                                             spec["shape"][2], resize)
    if spec["modality"] == "audio":
        return lambda path: preprocess_audio(tf.io.read_file(path), spec["sample_rate"],
                                             spec["num_samples"])
    return _same


def input_name(column):
    """The model input name of a column: the column, made a valid identifier.

    >>> input_name("Image Path"), input_name("caption"), input_name("2nd")
    ('image_path', 'caption', 'input_2nd')
    """
    name = re.sub(r"\W+", "_", str(column).strip()).strip("_").lower() or "input"
    return name if name[0].isalpha() else f"input_{name}"


def _same(value):
    return value


def _decoded(values, decoders):
    """An unbatched dataset of `values` (dict of columns) mapped through `decoders`."""
    import tensorflow as tf

    examples = tf.data.Dataset.from_tensor_slices(values)
    return examples.map(
        lambda example: {key: decoders.get(key, _same)(value) for key, value in example.items()},
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def planned(make_plan):
    """`make_plan(seed, **options)`, cached until an option or a named file changes.

    A dataset's plan (its splits, inputs, sizes and label encoder) is read from its
    files once for `info` and the three `load` calls of a run.
    """
    @functools.lru_cache(maxsize=8)
    def cached(seed, key, stamps):
        import ast

        return make_plan(seed, **{k: ast.literal_eval(v) for k, v in key})

    def plan(seed=0, **options):
        key = tuple(sorted((k, repr(v)) for k, v in options.items()))
        files = [options.get(s) for s in ("train", "validation", "test")]
        stamps = tuple(os.stat(f).st_mtime_ns if f and os.path.isfile(f) else None
                       for f in files)
        return cached(seed, key, stamps)

    return plan


def _make_plan(seed, train=None, validation=None, test=None, split=None, group_by=None,
               label="label", task="auto", label_separator="|", inputs=None, encoding=None,
               skip_bad_rows=False, image_size=None, image_channels=None,
               sample_rate=None, duration=None, text_length=None):
    from mmzoo.data import profile
    from mmzoo.data.manifest import read_rows
    from mmzoo.data.tasks import TASKS, LabelEncoder

    if not train:
        raise ValueError("The manifest dataset needs a train file: dataset.options.train "
                         "(or mmzoo train --data FILE). Received: train=None")
    if task not in ("auto", *TASKS):
        raise ValueError(f"Unknown task; valid tasks: auto, {', '.join(TASKS)}. "
                         f"Received: task={task!r}")
    train = _existing(train, "train")
    table = read_rows(train, encoding)
    columns = list(table[0]) if table else []
    if not table:
        raise ValueError(f"Manifest {train} has no rows. Received: an empty file")
    if label not in columns:
        raise ValueError(
            f"Manifest {train} has no label column {label!r}: name it with --label COLUMN "
            f"(dataset.options.label). Received: columns {columns}"
        )
    splits = _splits(train, table, validation, test, split, group_by, seed)
    train_indices = splits["train"][1]
    train_rows = table if train_indices is None else [table[i] for i in train_indices]
    kinds = _kinds(train, columns, train_rows, label, group_by, inputs)
    encoder = LabelEncoder.fit([row[label] for row in train_rows], task, label_separator)
    folder = os.path.dirname(train)
    modalities, names = {}, {}
    for column, kind in kinds.items():
        name = input_name(column)
        if name in modalities or name in ("label", "modality_mask"):
            raise ValueError(f"Columns {column!r} and another become the same input {name!r}: "
                             f"rename one. Received: columns {columns}")
        names[column] = name
        values = [row[column] for row in train_rows if str(row[column] or "").strip()]
        paths = [profile.resolve(v, folder) for v in values if kind != "text"]
        paths = [p for p in paths if os.path.isfile(p)]
        if kind == "image":
            shape = profile.image_shape(paths, seed) if paths else (64, 64, 3)
            if image_size is not None:
                shape = (*[int(s) for s in image_size], shape[2])
            if image_channels is not None:
                shape = (*shape[:2], int(image_channels))
            modalities[name] = {"modality": "image", "shape": tuple(shape)}
        elif kind == "audio":
            rate, samples = profile.audio_format(paths, seed) if paths else (16000, 16000)
            rate = int(sample_rate or rate)
            if duration is not None or sample_rate is not None:
                samples = int(round(rate * float(duration or samples / rate)))
            modalities[name] = {"modality": "audio", "sample_rate": rate, "num_samples": samples}
        else:
            length = int(text_length or profile.text_length(values, seed))
            modalities[name] = {"modality": "text", "sequence_length": length}
    if not modalities:
        raise ValueError(f"Manifest {train} has no input column besides the label {label!r}. "
                         f"Received: columns {columns}")
    return {"splits": splits, "columns": names, "modalities": modalities, "encoder": encoder,
            "label": label}


_plan = planned(_make_plan)


def _existing(path, what):
    path = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.isfile(path):
        raise ValueError(f"The {what} manifest does not exist. Received: {what}={path!r}")
    return path


def _splits(train, table, validation, test, split, group_by, seed):
    """`{split: (file, row indices or None)}`: given files, else cut from train."""
    from mmzoo.data.splits import split_rows

    fractions = dict(DEFAULT_SPLIT if split is None else split)
    missing = {name: fractions.get(name, 0.0) for name, given in
               (("validation", validation), ("test", test)) if not given}
    if any(f <= 0 for f in missing.values()):
        raise ValueError(
            f"Give a {' and '.join(n for n, f in missing.items() if f <= 0)} file or a fraction "
            f"of the train file for it (dataset.options.split). Received: split={split!r}")
    groups = None
    if group_by is not None:
        if group_by not in table[0]:
            raise ValueError(f"Manifest {train} has no column {group_by!r} to group by. "
                             f"Received: group_by={group_by!r}, columns {list(table[0])}")
        groups = [row[group_by] for row in table]
    cut = split_rows(len(table), missing, seed, groups) if missing else None
    out = {"train": (train, cut["train"] if cut else None)}
    for name, given in (("validation", validation), ("test", test)):
        out[name] = (_existing(given, name), None) if given else (train, cut[name])
    return out


def _kinds(train, columns, rows, label, group_by, inputs):
    """Each input column's kind: inferred from the values, then `inputs` overrides it
    (`null` leaves a column out)."""
    from mmzoo.data import profile

    candidates = [c for c in columns if c not in (label, group_by)]
    kinds = profile.column_kinds({c: [row[c] for row in rows] for c in candidates})
    inputs = dict(inputs or {})
    unknown = sorted(set(inputs) - set(columns))
    if unknown:
        raise ValueError(f"Manifest {train} has no column(s) {unknown}. "
                         f"Received: inputs {inputs}, columns {columns}")
    bad = {c: k for c, k in inputs.items() if k not in ("image", "audio", "text", None)}
    if bad:
        raise ValueError(f"An input kind is image, audio, text or null (to leave the "
                         f"column out). Received: {bad}")
    kinds.update(inputs)
    return {column: kind for column, kind in kinds.items() if kind is not None}
