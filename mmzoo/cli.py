"""The `mmzoo` command line: list, datasets, train, evaluate, report, predict, export,
verify.

    mmzoo list                                   # presets, towers, fusions, datasets
    mmzoo datasets                               # known datasets, found locally or not
    mmzoo train --config configs/demo.yaml       # train, test and export
    mmzoo train --config configs/demo.yaml --epochs 3 --set model.fusion=concat
    mmzoo train --data train.csv [--validation val.csv] [--test test.csv] [--label COLUMN]
    mmzoo evaluate saved_models/demo --split test
    mmzoo evaluate saved_models/train --data test.csv   # a manifest of your own
    mmzoo report saved_models/demo                      # saved_models/demo/report/index.html
    mmzoo report runs/train --data test.csv --out report/
    mmzoo predict saved_models/demo --image x.png --text "..." --audio y.wav
    mmzoo predict saved_models/train --data new.csv --out predictions.csv
    mmzoo export runs/demo --out saved_models/demo   # SavedModel, .keras, card
    mmzoo verify saved_models/demo                   # hashes and parity examples

Every subcommand has `--help`. A bad config or argument prints one line naming the
key, e.g. `mmzoo: error: training.epochs must be a positive integer. Received:
training.epochs='ten'`, and exits with status 2.

>>> from mmzoo.cli import main
>>> main(["list", "--what", "fusions"])  # doctest: +ELLIPSIS
Fusions:
  attention ...
0
"""

import argparse
import json
import os
import sys

from mmzoo.export import cli as export_commands
from mmzoo.training.strategy import MIXED_PRECISION_POLICIES, STRATEGY_KINDS

EXIT_USAGE = 2

TRAIN_FLAGS = {
    # flag: (dotted key, type, help)
    "--name": ("name", str, "run name: runs/NAME/ and saved_models/NAME/"),
    "--preset": ("model.preset", str, "model preset (see `mmzoo list`)"),
    "--fusion": ("model.fusion", str, "fusion layer (see `mmzoo list`)"),
    "--dataset": ("dataset.name", str, "dataset (see `mmzoo datasets`)"),
    "--data-dir": ("dataset.data_dir", str, "data folder (default: $MMZOO_DATA_DIR)"),
    "--epochs": ("training.epochs", int, "training epochs"),
    "--batch-size": ("training.batch_size", int, "batch size per replica"),
    "--learning-rate": ("training.optimizer.learning_rate", float, "peak learning rate"),
    "--seed": ("training.seed", int, "seed of weights, shuffling and dropout"),
    "--strategy": ("distribution.strategy", str,
                   "auto (TPU, then TF_CONFIG workers, then several GPUs, else default), "
                   + ", ".join(STRATEGY_KINDS[1:])),
    "--cpu-devices": ("distribution.cpu_devices", int,
                      "split the CPU into N logical devices (e.g. to try --strategy mirrored)"),
    "--mixed-precision": ("speed.mixed_precision", str, ", ".join(MIXED_PRECISION_POLICIES)),
    "--jit-compile": ("speed.jit_compile", "jit", "XLA: auto, on or off"),
    "--steps-per-execution": ("speed.steps_per_execution", int, "batches per tf.function call"),
    "--runs-dir": ("output.runs_dir", str, "folder of run directories (default: runs)"),
    "--saved-models-dir": ("output.saved_models_dir", str,
                           "folder of exported models (default: saved_models)"),
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with status 2 and one clean line."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser():
    """The `mmzoo` argument parser with its subcommands.

    Returns:
        An `argparse.ArgumentParser` with the subcommands `list`, `datasets`,
        `train`, `evaluate`, `predict`, `export` and `verify`; a usage error prints
        one line and exits with status 2.

    >>> args = build_parser().parse_args(["train", "--epochs", "3", "--set", "name=demo"])
    >>> args.command, args.epochs, args.set
    ('train', '3', ['name=demo'])
    """
    parser = _Parser(
        prog="mmzoo",
        description="mmzoo: multimodal models (image, text, audio) on Keras 3 and TensorFlow.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    listing = commands.add_parser("list", help="presets, towers, fusions and datasets",
                                  description="List presets, towers, fusions and datasets, "
                                  "one line each.")
    listing.add_argument("--what", choices=("all", "presets", "towers", "fusions", "datasets"),
                         default="all", help="what to list (default: all)")
    listing.add_argument("pattern", nargs="?", help="shell pattern, e.g. 'trimodal_*'")

    data = commands.add_parser("datasets", help="known datasets and whether they are found",
                               description="List the known datasets and whether their data "
                               "is found locally.")
    data.add_argument("--data-dir", help="data folder (default: $MMZOO_DATA_DIR)")

    train = commands.add_parser(
        "train", help="train, test and export a model",
        description="Train a model from a YAML config, test it and export it to "
        "saved_models/NAME/. Re-running the same command after a crash resumes from the "
        "last completed epoch.",
        epilog="Config keys and defaults: run `mmzoo train --show-defaults`.",
    )
    train.add_argument("--config", "-c", help="YAML config file (default: all defaults)")
    train.add_argument("--set", "-s", action="append", default=[], metavar="KEY=VALUE",
                       help="dotted override, e.g. --set training.epochs=3 (repeatable)")
    for flag, (key, kind, text) in TRAIN_FLAGS.items():
        if kind == "jit":
            train.add_argument(flag, choices=("auto", "on", "off"), help=f"{text} [{key}]")
        else:  # values are checked by the config, so errors name the config key
            train.add_argument(flag, metavar=flag[2:].replace("-", "_").upper(),
                               help=f"{text} [{key}]")
    own = train.add_argument_group(
        "your own data", "train on a CSV/JSONL manifest (or .npz arrays) instead of a named "
        "dataset; input kinds, the task and tower sizes are read from the data and printed")
    own.add_argument("--data", metavar="FILE",
                     help="the training manifest (.csv, .jsonl) or arrays (.npz)")
    own.add_argument("--validation", metavar="FILE",
                     help="validation file (default: 10%% cut from --data)")
    own.add_argument("--test", metavar="FILE", help="test file (default: 10%% cut from --data)")
    own.add_argument("--label", metavar="COLUMN", help="the label column (default: label)")
    own.add_argument("--task", help="auto (default), multiclass, binary, multilabel, regression")
    own.add_argument("--group-by", metavar="COLUMN",
                     help="keep the rows of one group (a speaker, a patient) in one split")
    own.add_argument("--column", action="append", default=[], metavar="COLUMN=KIND",
                     help="a column's kind: image, audio, text, or null to leave it out")
    own.add_argument("--encoding", help="the manifest's text encoding (default: UTF-8)")
    own.add_argument("--skip-bad-rows", action="store_true", default=None,
                     help="train without the rows the check finds broken (listed in a warning)")
    train.add_argument("--deterministic", action="store_true", default=None,
                       help="bit-identical runs for a seed (slower) [training.deterministic]")
    train.add_argument("--fresh", action="store_true",
                       help="start over instead of resuming from a backup of this run")
    train.add_argument("--show-config", action="store_true",
                       help="print the resolved config and exit (no training)")
    train.add_argument("--show-defaults", action="store_true",
                       help="print every config key with its default and exit")
    train.add_argument("--quiet", "-q", action="store_true", help="no progress output")

    evaluate = commands.add_parser(
        "evaluate", help="evaluate a run or saved model on a dataset split",
        description="Evaluate a saved model (saved_models/NAME/), a run (runs/NAME/: its "
        "best checkpoint) or a .keras file on a dataset split, with all modalities and "
        "with each modality alone.",
    )
    _add_evaluation_data(evaluate)
    evaluate.add_argument("--no-per-modality", action="store_true",
                          help="skip the one-modality-at-a-time evaluation")
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")

    report = commands.add_parser(
        "report", help="the evaluation report of a run or saved model (HTML, PNG, JSON)",
        description="Evaluate a saved model or a run and write its report: index.html (one "
        "self-contained page), the figures as PNG and report.json with every number. "
        "Metrics per class, calibration, what each modality contributes, robustness to "
        "noise, and cost.",
    )
    _add_evaluation_data(report)
    report.add_argument("--out", metavar="DIR",
                        help="the report folder (default: MODEL/report/)")
    report.add_argument("--skip", action="append", default=[], metavar="SECTION",
                        choices=("modalities", "robustness", "cost"),
                        help="leave a section out: modalities, robustness or cost "
                        "(repeatable)")
    report.add_argument("--attribution-examples", type=int, default=64, metavar="N",
                        help="examples attributed by integrated gradients (default 64)")
    report.add_argument("--quiet", "-q", action="store_true", help="no progress output")

    predict = commands.add_parser(
        "predict", help="predict from files and text with a saved model",
        description="Predict with a saved model from image/audio files and text given on "
        "the command line, preprocessed exactly as in training. Inputs left out are "
        "masked out (the model predicts from the others).",
    )
    predict.add_argument("model", help="saved model folder, run folder or .keras file")
    predict.add_argument("--image", help="image file (PNG, JPEG, BMP, GIF) for input 'image'")
    predict.add_argument("--text", help="text for input 'text'")
    predict.add_argument("--audio", help="WAV file for input 'audio'")
    predict.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                         help="any input by name: a file path, or the text of a text input")
    predict.add_argument("--top", type=int, default=3, help="classes shown (default 3)")
    predict.add_argument("--data", metavar="FILE",
                         help="predict every row of a CSV/JSONL manifest (needs --out)")
    predict.add_argument("--out", metavar="FILE",
                         help="where --data's predictions go (CSV, written atomically)")
    predict.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    predict.add_argument("--encoding", help="--data's text encoding (default: UTF-8)")
    predict.add_argument("--json", action="store_true", help="print the result as JSON")
    export_commands.add_parsers(commands)
    return parser


def _add_evaluation_data(parser):
    """The model and data arguments `evaluate` and `report` share."""
    parser.add_argument("model", help="saved model folder, run folder or .keras file")
    parser.add_argument("--dataset", help="dataset (default: the one it was trained on)")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"),
                        help="split (default: test)")
    parser.add_argument("--data", metavar="FILE",
                        help="a CSV/JSONL manifest to evaluate on instead of a split")
    parser.add_argument("--label", metavar="COLUMN",
                        help="its label column (default: the training manifest's)")
    parser.add_argument("--encoding", help="its text encoding (default: UTF-8)")
    parser.add_argument("--data-dir", help="data folder")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="dataset option, e.g. --option num_test=200 (repeatable)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")


def _dataset_options(args):
    """`--option KEY=VALUE` pairs as a dict of YAML values, or None."""
    import yaml

    return {key: yaml.safe_load(value) for key, value in
            _parse_pairs(args.option, "--option").items()} or None


def main(argv=None):
    """Runs the `mmzoo` command; returns the exit status.

    A `ValueError` or `FileNotFoundError` of a subcommand (a bad config key, a
    missing file) is printed as one line on stderr, and 2 is returned; with
    `$MMZOO_DEBUG` set it is raised instead.

    Args:
        argv: the arguments, without the program name (default: `sys.argv[1:]`).

    Returns:
        0 on success, 1 when `verify` finds a mismatch, 2 for a bad argument or input.

    Raises:
        SystemExit: from argparse, for `--help` or unparsable arguments (status 2).

    >>> main(["list", "--what", "datasets"])
    Datasets:
      av_mnist  MNIST handwritten digits (TFDS 'mnist') paired by label with ...
      embedded  ...
    0
    >>> main(["train", "--epochs", "ten", "--show-config"])
    2
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {
        "list": _list,
        "datasets": _datasets,
        "train": _train,
        "evaluate": _evaluate,
        "report": _report,
        "predict": _predict,
        **export_commands.HANDLERS,
    }[args.command]
    try:
        return handler(args) or 0
    except (ValueError, FileNotFoundError) as error:
        # One line: the message's own lines (e.g. one per bad row) joined by "; ".
        message = "; ".join(" ".join(line.split()) for line in str(error).splitlines()
                            if line.strip()).replace(":;", ":")
        if len(message) > 1000:
            message = message[:1000] + " ..."
        if os.environ.get("MMZOO_DEBUG"):
            raise
        print(f"mmzoo {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


# Subcommands ------------------------------------------------------------------------


def _first_line(obj):
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0].rstrip(".") if doc else ""


def _list(args):
    import fnmatch

    from mmzoo import datasets
    from mmzoo.presets import PRESETS

    def keep(name):
        return args.pattern is None or fnmatch.fnmatchcase(name, args.pattern)

    sections = []
    if args.what in ("all", "presets"):
        rows = [(n, PRESETS.get(n)["description"]) for n in PRESETS.names() if keep(n)]
        sections.append(("Presets", rows))
    if args.what in ("all", "towers"):
        from mmzoo.towers import TOWERS

        rows = [(n, _first_line(TOWERS.get(n))) for n in TOWERS.names() if keep(n)]
        sections.append(("Towers", rows))
    if args.what in ("all", "fusions"):
        from mmzoo.fusion import FUSIONS

        rows = [(n, _first_line(FUSIONS.get(n))) for n in FUSIONS.names() if keep(n)]
        sections.append(("Fusions", rows))
    if args.what in ("all", "datasets"):
        rows = [(n, datasets.description(n).split(";")[0])
                for n in datasets.list_datasets() if keep(n)]
        sections.append(("Datasets", rows))
    for index, (title, rows) in enumerate(sections):
        if index:
            print()
        print(f"{title}:")
        width = max((len(name) for name, _ in rows), default=0)
        for name, text in rows:
            print(f"  {name:<{width}}  {text}")


def _datasets(args):
    from mmzoo import datasets

    folder = datasets.find_data_dir(args.data_dir)
    rows = []
    for name in datasets.list_datasets():
        if name in datasets.FILE_KINDS:
            continue
        info = datasets.info(name)
        found = datasets.is_available(name, args.data_dir)
        if name == "embedded":
            where = "generated locally, no files needed"
        else:
            where = f"found in {folder}" if found else f"not found in {folder}"
        rows.append((name, "yes" if found else "no", where,
                     ", ".join(info.modalities), info.num_classes))
    width = max(len(r[0]) for r in rows)
    print(f"  {'dataset':<{width}}  available  modalities              classes  data")
    for name, found, where, modalities, classes in rows:
        print(f"  {name:<{width}}  {found:<9}  {modalities:<22}  {classes:<7}  {where}")
    print(f"Data folder: {folder} (set MMZOO_DATA_DIR or --data-dir to change it)")
    print("\nYour own data (dataset.name, with dataset.options):")
    for name in datasets.FILE_KINDS:
        print(f"  {name:<9} {datasets.description(name)}")
    prepared = sorted(p.parent.parent.name for p in folder.glob("*/*/dataset_info.json"))
    if prepared:
        print(f"  TFDS datasets prepared in {folder}: {', '.join(sorted(set(prepared)))}")
    print("  e.g. mmzoo train --data train.csv --label label   (see mmzoo train --help)")


def _train_overrides(args):
    overrides = []
    for flag, (key, kind, _) in TRAIN_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is None:
            continue
        if kind == "jit":
            value = {"auto": "auto", "on": True, "off": False}[value]
        elif kind is not str:
            value = _yaml_value(value)
        overrides.append((key, value))
    overrides.extend(_data_overrides(args))
    if args.deterministic:
        overrides.append(("training.deterministic", True))
    if args.quiet:
        overrides.append(("output.verbose", 0))
    return overrides


def _data_overrides(args):
    """The config of `mmzoo train --data FILE ...`: a manifest (or npz) dataset and, without
    --preset, default towers sized from the data; the run is named after the file."""
    given = {flag: getattr(args, flag) for flag in ("validation", "test", "label", "task",
                                                    "group_by", "encoding", "skip_bad_rows")}
    if args.data is None:
        used = [f"--{k.replace('_', '-')}" for k, v in given.items() if v] + (
            ["--column"] if args.column else [])
        if used:
            raise ValueError(f"{', '.join(used)} describe(s) the --data file: give --data FILE "
                             f"too. Received: {' '.join(used)} without --data")
        return []
    kind = "npz" if args.data.lower().endswith(".npz") else "manifest"
    options = {"train": os.path.abspath(args.data)}
    for split in ("validation", "test"):
        if given[split]:
            options[split] = os.path.abspath(given[split])
    for key in ("label", "task", "group_by", "encoding", "skip_bad_rows"):
        if given[key]:
            options[key] = given[key]
    if args.column:
        options["inputs"] = {k: _yaml_value(v) for k, v in
                             _parse_pairs(args.column, "--column").items()}
    overrides = [("dataset.name", kind)]
    overrides += [(f"dataset.options.{key}", value) for key, value in options.items()]
    if args.preset is None:
        overrides.append(("model.preset", None))
    if args.name is None:
        stem = os.path.splitext(os.path.basename(args.data))[0]
        overrides.append(("name", "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)))
    return overrides


def _yaml_value(text):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _train(args):
    from mmzoo.config import (
        describe_config,
        load_config,
        parse_override,
        to_yaml,
    )

    if args.show_defaults:
        print("\n".join(describe_config()))
        return 0
    # Flags first, then --set: a dotted --set key refines what a flag set.
    overrides = dict(_train_overrides(args))
    overrides.update(parse_override(text) for text in args.set)
    if args.show_config:
        print(to_yaml(load_config(args.config, overrides)), end="")
        return 0
    from mmzoo.workflows import train

    log = (lambda *a, **k: None) if args.quiet else print
    train(args.config, overrides, fresh=args.fresh, log=log)
    return 0


def _parse_pairs(items, what):
    pairs = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what} must look like NAME=VALUE. Received: {item!r}")
        key, value = item.split("=", 1)
        pairs[key.strip()] = value
    return pairs


def _evaluate(args):
    from mmzoo.training.evaluate import evaluate

    options = _dataset_options(args)
    verbose = 0 if args.json else (1 if sys.stdout.isatty() else 0)
    result = evaluate(
        args.model, dataset=args.dataset, split=args.split, data_dir=args.data_dir,
        options=options, batch_size=args.batch_size, per_modality=not args.no_per_modality,
        verbose=verbose, data=args.data, label=args.label, encoding=args.encoding,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    metrics = result["metrics"]
    print(f"{result['model']} on {result['dataset']} {result['split']} "
          f"({result['examples']} examples):")
    for key, values in metrics.items():
        label = "all modalities" if key == "all" else key.replace("only_", "") + " only"
        print(f"  {label:<16} " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    return 0


def _report(args):
    from mmzoo.evaluation import SECTIONS, report

    if args.batch_size < 1 or args.attribution_examples < 0:
        raise ValueError("--batch-size must be positive and --attribution-examples at least "
                         f"0. Received: --batch-size={args.batch_size}, "
                         f"--attribution-examples={args.attribution_examples}")
    result = report(
        args.model, out=args.out, split=args.split, data=args.data, label=args.label,
        encoding=args.encoding, dataset=args.dataset, data_dir=args.data_dir,
        options=_dataset_options(args), batch_size=args.batch_size,
        sections=[s for s in SECTIONS if s not in args.skip],
        attribution_examples=args.attribution_examples,
        log=None if args.quiet else print,
    )
    print(f"Report: {result['path']}/index.html")
    return 0


def _predict(args):
    from mmzoo.training.evaluate import predict

    if (args.data is None) != (args.out is None):
        raise ValueError("--data FILE and --out FILE go together: the predictions of every "
                         f"row of FILE are written to --out. Received: --data={args.data!r}, "
                         f"--out={args.out!r}")
    if args.data is not None:
        from mmzoo.training.evaluate import predict_file

        verbose = 1 if sys.stdout.isatty() and not args.json else 0
        result = predict_file(args.model, args.data, args.out, args.batch_size,
                              args.encoding, verbose)
        print(json.dumps(result, indent=2) if args.json else
              f"Wrote {result['rows']} predictions of {result['data']} to {result['out']}")
        return 0
    given = _parse_pairs(args.input, "--input")
    for name in ("image", "text", "audio"):
        value = getattr(args, name)
        if value is not None:
            given[name] = value
    if not given:
        raise ValueError("Give at least one input: --image, --text, --audio or --input "
                         "NAME=VALUE. Received: no inputs")
    result = predict(args.model, given, top=args.top)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    masked = result["masked_out"]
    print(f"inputs: {', '.join(result['inputs'])}"
          + (f" (masked out: {', '.join(masked)})" if masked else ""))
    if "top" in result:
        for label, probability in result["top"]:
            print(f"  {probability:.3f}  {label}")
    else:
        print("  outputs: " + ", ".join(f"{v:.4f}" for v in result["outputs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
