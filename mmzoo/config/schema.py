"""The config schema: every key with its default, its check and a one-line description.

Choices that other modules own are imported from them: the strategies from
`mmzoo.training.strategy`, the tokenizer kinds from `mmzoo.preprocessing.text`.

>>> from mmzoo.config.schema import default_config, describe_config
>>> default_config()["training"]["epochs"]
20
>>> [line for line in describe_config() if line.startswith("distribution.strategy")]
["distribution.strategy = 'auto'  # tf.distribute strategy"]
"""

import copy
import dataclasses

from mmzoo.config.values import (
    auto_or,
    boolean,
    choice,
    class_weight,
    jit_setting,
    mapping,
    non_negative_float,
    non_negative_int,
    optional,
    positive_float,
    positive_int,
    rate,
    run_name,
    string,
    unit_interval,
)
from mmzoo.preprocessing.text import TOKENIZER_KINDS
from mmzoo.training.strategy import MIXED_PRECISION_POLICIES, STRATEGY_KINDS

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")
# A SentencePiece tokenizer needs a trained model, which a config cannot give.
TOKENIZERS = tuple(kind for kind in TOKENIZER_KINDS if kind != "sentencepiece")
VERBOSITY = ("auto", 0, 1, 2)


@dataclasses.dataclass(frozen=True)
class Field:
    """One config key: its default, its check and a one-line description."""

    default: object
    check: object
    doc: str


SCHEMA = {
    "name": Field(None, optional(run_name), "run name (default: the preset's name, or 'run')"),
    "dataset": {
        "name": Field("embedded", string, "a dataset of `mmzoo datasets`"),
        "options": Field({}, mapping, "dataset options, e.g. num_train: 500"),
        "data_dir": Field(None, optional(string), "data folder (default: $MMZOO_DATA_DIR)"),
        "seed": Field(0, non_negative_int, "seed of the dataset's generation/pairing"),
        "limits": Field({}, mapping, "use the first N examples of a split, e.g. train: 1000"),
    },
    "model": {
        "preset": Field("trimodal_gated", optional(string), "a preset of `mmzoo list`, or null"),
        "inputs": Field({}, mapping, "input name -> tower spec, merged into the preset's"),
        "fusion": Field(None, optional(string), "fusion layer (default: the preset's, else concat)"),
        "fusion_options": Field({}, mapping, "fusion layer arguments"),
        "head": Field(None, optional(string), "task head (default: the preset's, else multiclass)"),
        "head_options": Field({}, mapping, "TaskHead arguments (hidden_units, dropout)"),
        "modality_dropout": Field(None, optional(rate), "rate of dropping whole modalities"),
        "pretrained": Field({}, mapping, "input name -> keras-hub preset (name, handle or "
                            "folder), or {preset: ..., trainable: ...}: that input gets a "
                            "pretrained tower"),
    },
    "text": {
        "tokenizer": Field("vectorization", choice(*TOKENIZERS), "tokenizer kind"),
        "max_tokens": Field(None, optional(positive_int), "vocabulary size (default: the tower's)"),
        "sequence_length": Field(None, optional(positive_int),
                                 "tokens per text (default: the model's, else the dataset's, "
                                 "else 32)"),
    },
    "training": {
        "epochs": Field(20, positive_int, "passes over the train split"),
        "batch_size": Field(64, positive_int, "examples per batch and replica"),
        "seed": Field(0, non_negative_int, "seed of weights, shuffling and dropout"),
        "deterministic": Field(False, boolean, "bit-identical runs (slower ops)"),
        "shuffle_buffer": Field(None, optional(positive_int), "default: the whole split"),
        "optimizer": {
            "name": Field("adam", choice(*OPTIMIZERS), "optimizer"),
            "learning_rate": Field(0.002, positive_float, "peak learning rate"),
            "weight_decay": Field(None, optional(non_negative_float), "decoupled weight decay"),
            "clipnorm": Field(None, optional(positive_float), "gradient norm clipping"),
        },
        "schedule": {
            "name": Field("cosine", choice(*SCHEDULES), "learning-rate schedule"),
            "warmup_epochs": Field(1, non_negative_int, "linear warm-up epochs (cosine)"),
            "alpha": Field(0.0, unit_interval, "final learning rate as a fraction (cosine)"),
        },
        "monitor": Field("auto", string, "metric of the best checkpoint, e.g. val_accuracy"),
        "early_stopping_patience": Field(None, optional(positive_int), "epochs without gain"),
        "restore_best": Field(True, boolean, "test and export the best checkpoint"),
        "class_weight": Field(None, optional(class_weight),
                              "'balanced' (n / (classes x n_class)) or {class: weight}"),
        "loss": Field("auto", choice("auto", "focal"), "the head's loss, or a focal loss"),
        "focal_gamma": Field(2.0, non_negative_float, "focusing parameter of the focal loss"),
        "fine_tuning": {
            "frozen_epochs": Field(0, non_negative_int, "first epochs with the pretrained "
                                   "towers frozen; then their `trainable` setting applies"),
            "learning_rate_factor": Field(0.1, positive_float, "learning rate after the "
                                          "frozen epochs, as a fraction of the schedule's"),
        },
        "batch_norm_calibration": Field(
            True, boolean, "recompute BatchNorm statistics before validation and at the end"
        ),
    },
    "distribution": {
        "strategy": Field("auto", choice(*STRATEGY_KINDS), "tf.distribute strategy"),
        "cpu_devices": Field(None, optional(positive_int), "logical CPU devices to create"),
        "tpu": Field(None, optional(string), "TPU name or address for the cluster resolver"),
    },
    "speed": {
        "mixed_precision": Field("auto", choice(*MIXED_PRECISION_POLICIES), "dtype policy"),
        "jit_compile": Field("auto", jit_setting, "XLA compilation"),
        "steps_per_execution": Field("auto", auto_or(positive_int), "batches per tf.function call"),
    },
    "output": {
        "runs_dir": Field("runs", string, "folder of run directories"),
        "saved_models_dir": Field("saved_models", string, "folder of exported models"),
        "tensorboard": Field(True, boolean, "write TensorBoard logs"),
        "export": Field(True, boolean, "export the model to saved_models/<name>/"),
        "verbose": Field("auto", choice(*VERBOSITY), "progress output: auto, 0, 1 or 2"),
    },
    "evaluation": {
        "per_modality": Field(True, boolean, "also test each modality alone (mask)"),
        "baselines": Field({}, mapping, "reference accuracies printed beside the results"),
        "report": Field(False, boolean, "write the evaluation report (mmzoo report) of the "
                        "test split after training: <export or run>/report/index.html"),
    },
}


def default_config():
    """The complete config with every default filled in (a fresh dict).

    >>> default_config()["model"]["preset"]
    'trimodal_gated'
    """
    return defaults_of(SCHEMA)


def describe_config(schema=None, prefix=""):
    """Lines `key = default  # description` for every key (for `--help` and docs).

    Args:
        schema: a (sub)schema; by default `SCHEMA`.
        prefix: dotted prefix of its keys.

    Returns:
        A list of strings, e.g. `"training.epochs = 20  # passes over the train split"`.
    """
    lines = []
    for key, entry in (schema or SCHEMA).items():
        path = f"{prefix}{key}"
        if isinstance(entry, dict):
            lines.extend(describe_config(entry, f"{path}."))
        else:
            lines.append(f"{path} = {entry.default!r}  # {entry.doc}")
    return lines


def defaults_of(schema):
    """The defaults of a (sub)schema as a fresh nested dict."""
    return {
        key: defaults_of(entry) if isinstance(entry, dict) else copy.deepcopy(entry.default)
        for key, entry in schema.items()
    }
