"""The `export` and `verify` subcommands of the `mmzoo` command.

    mmzoo export runs/demo --out saved_models/demo            # SavedModel + .keras + LiteRT
    mmzoo export saved_models/demo --out /tmp/demo --formats saved_model
    mmzoo verify saved_models/demo                            # hashes + parity examples

`add_parsers(commands)` adds both to an `argparse` subparsers object and `HANDLERS`
maps each name to its handler (`handler(args) -> exit status`); `main(argv)` runs
them on their own (`python -m mmzoo.export export RUN --out PATH`).

>>> from mmzoo.export.cli import build_parser
>>> args = build_parser().parse_args(["export", "runs/demo", "--out", "saved_models/demo"])
>>> args.formats, args.out
('saved_model,keras,litert', 'saved_models/demo')
"""

import argparse
import json
import os
import sys

EXIT_USAGE = 2
EXIT_VERIFY_FAILED = 1


def add_parsers(commands):
    """Adds the `export` and `verify` subparsers to `commands` (from `add_subparsers`).

    Args:
        commands: the object `argparse.ArgumentParser.add_subparsers` returned.

    Returns:
        `(export, verify)`: the two new subparsers.

    >>> parser = argparse.ArgumentParser(prog="tool")
    >>> export, verify = add_parsers(parser.add_subparsers(dest="command"))
    >>> vars(parser.parse_args(["verify", "out", "--hashes-only"]))
    {'command': 'verify', 'path': 'out', 'hashes_only': True, 'json': False}
    """
    export = commands.add_parser(
        "export", help="export a run or saved model: SavedModel, .keras, LiteRT, model card",
        description="Export a trained model (a run folder runs/NAME, a saved model folder or "
        "a .keras file) to one folder: a SavedModel taking raw "
        "inputs (text, encoded images, waveforms) with its preprocessing inside, model.keras, "
        "model.tflite, parity examples and model_card.json with the SHA-256 of every file. "
        "The folder is written aside and renamed into place.",
    )
    export.add_argument("model", help="run folder, saved model folder or .keras file")
    export.add_argument("--out", "-o", required=True, help="export folder, e.g. saved_models/NAME")
    export.add_argument("--formats", default="saved_model,keras,litert",
                        help="comma-separated formats among saved_model, keras, litert "
                        "(default: all three)")
    export.add_argument("--no-check", action="store_true",
                        help="skip running the parity examples before the export is put in place")
    export.add_argument("--json", action="store_true", help="print the model card as JSON")

    verify = commands.add_parser(
        "verify", help="check an exported model's file hashes and parity examples",
        description="Check every file of an exported model against the SHA-256 in its "
        "model_card.json (naming each changed, missing or extra file), then run the stored "
        "parity examples through the SavedModel, .keras and LiteRT files and compare the "
        "outputs within 1e-5. Exit status 1 when a check fails.",
    )
    verify.add_argument("path", help="exported model folder")
    verify.add_argument("--hashes-only", action="store_true", help="skip the parity examples")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    return export, verify


def run_export(args):
    """`mmzoo export`: exports and prints a summary; returns the exit status.

    Args:
        args: the parsed `export` arguments (`model`, `out`, `formats`, `no_check`,
            `json`).

    Returns:
        0, or 2 when LiteRT conversion failed (the message says how to export
        without it).

    Raises:
        ValueError, FileNotFoundError: from `mmzoo.export.export` (bad formats, no
            model at `args.model`...); `main` prints them and returns 2.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> args = build_parser().parse_args(["export", f"{folder}/none", "--out", f"{folder}/x"])
    >>> run_export(args)
    Traceback (most recent call last):
    ...
    FileNotFoundError: No model at .../none: give a saved model folder ...
    """
    from mmzoo.export.api import export

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    try:
        card = export(args.model, args.out, formats=formats, check=not args.no_check)
    except RuntimeError as error:  # LiteRT conversion: no option converted the model
        message = " ".join(str(error).split())
        print(f"mmzoo export: error: {message[:1000]} (export without it: --formats "
              "saved_model,keras)", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(card, indent=2))
        return 0
    print(f"Exported {args.model} to {args.out}/")
    for name, info in card["formats"].items():
        extra = ""
        if name == "litert":
            batch = info.get("batch_size") or "any"
            extra = f" ({info['bytes']:,} bytes, {info['ops']}, batch {batch})"
        print(f"  {name:<12} {info['path']}{extra}")
    errors = (card.get("parity") or {}).get("max_abs_error")
    if errors:
        print("  parity (max abs error): " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    if card.get("requires"):
        needed = ", ".join(card["requires"])
        print(f"  loading it needs: import {needed} (before tf.saved_model.load)")
    return 0


def run_verify(args):
    """`mmzoo verify`: checks hashes and parity; returns 0, or 1 when a check fails.

    Args:
        args: the parsed `verify` arguments (`path`, `hashes_only`, `json`).

    Returns:
        0 when every check passes, 1 (`EXIT_VERIFY_FAILED`) when one fails.

    Raises:
        FileNotFoundError: `args.path` holds no `model_card.json`.

    >>> import pathlib, tempfile
    >>> from mmzoo.export.card import FORMAT, write_card
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "model.keras").write_bytes(b"weights")
    >>> _ = write_card(folder, {"format": FORMAT})
    >>> run_verify(build_parser().parse_args(["verify", str(folder), "--hashes-only"]))
    /...: 1 files match model_card.json
    OK
    0
    >>> _ = (folder / "model.keras").write_bytes(b"changed")
    >>> run_verify(build_parser().parse_args(["verify", str(folder), "--hashes-only"]))
    1
    """
    from mmzoo.export.verification import verify
    from mmzoo.export.card import VerificationError

    try:
        result = verify(args.path, parity_check=not args.hashes_only)
    except VerificationError as error:
        if args.json:
            print(json.dumps({"path": args.path, "ok": False, "error": str(error)}, indent=2))
        else:
            print(f"mmzoo verify: FAILED: {error}", file=sys.stderr)
        return EXIT_VERIFY_FAILED
    if args.json:
        print(json.dumps({**result, "ok": True}, indent=2))
        return 0
    print(f"{args.path}: {result['files']} files match model_card.json")
    if result["parity"]:
        print("parity examples (max abs error): "
              + ", ".join(f"{k} {v:.1e}" for k, v in result["parity"].items()))
    print("OK")
    return 0


HANDLERS = {"export": run_export, "verify": run_verify}


def build_parser():
    """A parser with just the `export` and `verify` subcommands.

    Returns:
        An `argparse.ArgumentParser`; a usage error exits with status 2.

    >>> build_parser().parse_args(["verify", "saved_models/demo"]).hashes_only
    False
    """
    parser = argparse.ArgumentParser(prog="python -m mmzoo.export")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    add_parsers(commands)
    return parser


def main(argv=None):
    """Runs `export` or `verify`; returns the exit status (2 for a usage error).

    A `ValueError` or `FileNotFoundError` is printed as one line on stderr (raised
    instead when `$MMZOO_DEBUG` is set).

    Args:
        argv: the arguments, without the program name (default: `sys.argv[1:]`).

    Returns:
        0 on success, 1 when `verify` finds a mismatch, 2 for a bad argument or input.

    Raises:
        SystemExit: from argparse, for `--help` or unparsable arguments.

    >>> import tempfile
    >>> main(["verify", tempfile.mkdtemp()])  # no model card there
    2
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        return HANDLERS[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        if os.environ.get("MMZOO_DEBUG"):
            raise
        message = " ".join(str(error).split())
        print(f"mmzoo {args.command}: error: {message[:1000]}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
