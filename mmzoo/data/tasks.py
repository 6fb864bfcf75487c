"""The task a label column asks for, and its labels as model targets.

`infer_task` reads a column of raw labels (strings as a CSV gives them, or numbers)
and says which task head fits:

- `"regression"`: every label is a number and some are not whole numbers, or they
  are whole numbers with more than `MAX_INTEGER_CLASSES` distinct values;
- `"multilabel"`: some label joins several classes with the separator (`"cat|dog"`;
  an empty label is an example of no class);
- `"binary"`: exactly two distinct labels;
- `"multiclass"`: anything else (strings, or a few distinct integers).

`LabelEncoder` turns raw labels into what the head is trained on (see its docstring
for the dtypes and shapes), and back into class names for predictions.

>>> infer_task(["cat", "dog", "bird"]), infer_task(["0.5", "1.25"]), infer_task(["a|b", "a"])
('multiclass', 'regression', 'multilabel')
>>> encoder = LabelEncoder.fit(["no", "yes", "no"])
>>> encoder.task, encoder.class_names, encoder.encode("yes").tolist()
('binary', ['no', 'yes'], [1.0])
"""

import dataclasses
import math

import numpy as np

TASKS = ("multiclass", "binary", "multilabel", "regression")
#: Whole-number labels with more distinct values than this are a regression target.
MAX_INTEGER_CLASSES = 50
DEFAULT_SEPARATOR = "|"


class LabelError(ValueError):
    """A label that does not fit the task: its message says which and why."""


def infer_task(labels, separator=DEFAULT_SEPARATOR):
    """The task head that fits a column of raw labels.

    Args:
        labels: a sequence of labels (str, int or float); missing labels (None or
            blank) are ignored.
        separator: what joins several classes in one multilabel label.

    Returns:
        One of `TASKS` (see the module docstring for the rule).

    Raises:
        ValueError: no label is given.

    >>> infer_task([1, 0, 1]), infer_task(["3", "7", "1"]), infer_task([str(i) for i in range(80)])
    ('binary', 'multiclass', 'regression')
    """
    values = [_text(label) for label in labels]
    present = [v for v in values if v]
    if not present:
        raise ValueError("The label column holds no label. Received: only empty labels")
    numbers = [_number(v) for v in present]
    if all(n is not None for n in numbers):
        whole = all(float(n).is_integer() for n in numbers)
        if not whole or len(set(numbers)) > MAX_INTEGER_CLASSES:
            return "regression"
    if separator and any(separator in v for v in present):
        return "multilabel"
    return "binary" if len(set(present)) == 2 else "multiclass"


@dataclasses.dataclass
class LabelEncoder:
    """Raw labels -> training targets for one task, and the class names.

    Targets: multiclass, an int64 class index `()`; binary, float32 `(1,)` holding
    1.0 for `class_names[1]` (the label that sorts last, e.g. "yes" of "no"/"yes");
    multilabel, float32 multi-hot `(num_classes,)`; regression, float32 `(1,)`.

    Attributes:
        task: one of `TASKS`.
        class_names: the classes in index order (sorted; numbers sort by value);
            empty for regression.
        separator: what joins the classes of a multilabel label.

    >>> LabelEncoder.fit(["b|a", "c", ""], task="multilabel").encode("a|c").tolist()
    [1.0, 0.0, 1.0]
    >>> LabelEncoder.fit(["1.5", "2"], task="regression").encode("2").tolist()
    [2.0]
    """

    task: str
    class_names: list
    separator: str = DEFAULT_SEPARATOR

    @classmethod
    def fit(cls, labels, task="auto", separator=DEFAULT_SEPARATOR, class_names=None):
        """The encoder of a column of raw labels (the training split's).

        Args:
            labels: the raw labels.
            task: one of `TASKS`, or `"auto"` (`infer_task`).
            separator: what joins the classes of a multilabel label.
            class_names: the classes in index order; default the labels' distinct
                values, sorted.

        Raises:
            ValueError: an unknown task, or a binary column with other than 2 classes.
        """
        if task == "auto":
            task = infer_task(labels, separator)
        if task not in TASKS:
            raise ValueError(f"Unknown task; valid tasks: auto, {', '.join(TASKS)}. "
                             f"Received: task={task!r}")
        if task == "regression":
            return cls(task, [], separator)
        if class_names is None:
            names = set()
            for label in labels:
                names.update(_classes(_text(label), task, separator))
            class_names = sorted(names, key=_sort_key)
        class_names = [str(name) for name in class_names]
        if task == "binary" and len(class_names) != 2:
            raise ValueError(f"A binary label column needs exactly 2 classes. Received: "
                             f"{len(class_names)} class(es) {class_names[:10]}")
        return cls(task, class_names, separator)

    @property
    def num_outputs(self):
        """The head's width: 1 for binary and regression, else the classes."""
        return 1 if self.task in ("binary", "regression") else len(self.class_names)

    def encode(self, label):
        """One raw label as a training target (see the class docstring).

        Raises:
            LabelError: the label is missing, no number (regression) or an unknown
                class; the message says which.
        """
        text = _text(label)
        if self.task == "regression":
            number = _number(text)
            if number is None or not math.isfinite(number):
                raise LabelError(f"label {text!r} is not a finite number (regression)")
            return np.array([number], "float32")
        index = {name: i for i, name in enumerate(self.class_names)}
        if self.task == "multilabel":
            target = np.zeros(len(self.class_names), "float32")
            for name in _classes(text, self.task, self.separator):
                if name not in index:
                    raise LabelError(f"label {name!r} is not one of {self.class_names}")
                target[index[name]] = 1.0
            return target
        if not text:
            raise LabelError("the label is empty")
        if text not in index:
            number = _number(text)  # "1.0" in a file whose classes are "0", "1"
            text = _number_text(number) if number is not None else text
        if text not in index:
            raise LabelError(f"label {text!r} is not one of {self.class_names}")
        if self.task == "binary":
            return np.array([float(index[text])], "float32")
        return np.int64(index[text])

    def encode_all(self, labels):
        """The targets of many labels, stacked (see `encode`)."""
        return np.stack([np.asarray(self.encode(label)) for label in labels])

    def get_config(self):
        """A JSON-able dict; `LabelEncoder(**config)` rebuilds it."""
        return dataclasses.asdict(self)


def _text(label):
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return ""
    if isinstance(label, (bool, np.bool_)):
        return str(int(label))
    if isinstance(label, (int, np.integer)) or (
            isinstance(label, (float, np.floating)) and float(label).is_integer()):
        return str(int(label))
    return str(label).strip()


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _number_text(number):
    return str(int(number)) if float(number).is_integer() else str(number)


def _classes(text, task, separator):
    if task != "multilabel":
        return [text] if text else []
    return [part.strip() for part in text.split(separator) if part.strip()]


def _sort_key(name):
    number = _number(name)
    return (0, number, name) if number is not None else (1, 0.0, name)
