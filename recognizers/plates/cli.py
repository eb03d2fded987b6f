"""``matthan plates read IMAGE...`` and ``matthan eval plates``.

Other plate commands (``matthan plates detect``) join the same ``plates`` group through
:func:`plates_subcommands`, whichever module registers first.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matthan.edge.errors import CommandError
from matthan.models import ModelMissingError
from matthan.recognizers.base import RecognizerError
from matthan.recognizers.plates.detector import crop_reader
from matthan.recognizers.plates.evaluate import evaluate, read_label_fixes, read_labels, reader_fn, split_of
from matthan.recognizers.plates.reader import DEFAULT_MAX_FORCE_COST, VN_FLOOR, PlateReader, load_image


def plates_subcommands(commands: Any) -> Any:
    """The sub-parser collection of ``matthan plates`` to add an action to, made on first use.

    Whichever plate module registers first creates the group; the others find it on the parser.
    """
    parser = commands.choices.get("plates")
    if parser is None:
        parser = commands.add_parser("plates", help="licence plates: read (and detect)")
        group = parser.add_subparsers(dest="plates_command", metavar="ACTION")
        usage_of = parser

        def usage(_args: argparse.Namespace) -> int:
            usage_of.print_help(sys.stderr)
            return 2

        parser.set_defaults(func=usage)
        return group
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="plates_command", metavar="ACTION")


def register(commands: Any, eval_commands: Any) -> None:
    read = plates_subcommands(commands).add_parser(
        "read",
        help="read the plate text of crop images (one JSON line each)",
        description="Read one plate per image (a crop around the plate) and print one JSON line per image.",
    )
    read.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _model_options(read)
    read.set_defaults(func=run_read)

    ev = eval_commands.add_parser(
        "plates",
        help="plate reader accuracy and latency on labelled crops",
        description="Compare readings with a labels CSV (columns image,text[,family,layout]) on the "
        "normalised form [A-Z0-9]; the JSON summary is the last line printed.",
    )
    ev.add_argument("--crops", type=Path, required=True, help="folder of the crop images")
    ev.add_argument("--labels", type=Path, required=True, help="CSV with at least image,text")
    ev.add_argument("--out", type=Path, help="also write the summary and per-crop results here (JSON)")
    ev.add_argument(
        "--fixes",
        type=Path,
        help="label corrections to apply first (CSV image,text,reason; empty text drops)",
    )
    ev.add_argument(
        "--split",
        choices=("all", "train", "val", "foreign"),
        default="all",
        help="only this part of the reader's training split (by file name; foreign needs a country column)",
    )
    _model_options(ev)
    ev.set_defaults(func=run_eval)


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="ONNX file (default: the model store's plate-reader)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument(
        "--max-force-cost",
        type=float,
        default=DEFAULT_MAX_FORCE_COST,
        help="how much less likely (log) a grammar-valid reading may be than the raw one (a fix of "
        "one character; with --vn-floor above its confidence, it is reported as read)",
    )
    parser.add_argument(
        "--vn-floor",
        type=float,
        default=VN_FLOOR,
        help=f"least confidence of a reading given a Vietnamese format (default {VN_FLOOR}; 0: none)",
    )
    parser.add_argument(
        "--no-locate",
        dest="locate",
        action="store_false",
        help="read each crop only as given: no second look at the plate the detector finds in an unsure one",
    )


def _reader(args: argparse.Namespace) -> PlateReader:
    if args.model is not None and not args.model.is_file():
        raise CommandError(f"{args.model}: no such model file")
    try:
        return crop_reader(
            args.model,
            threads=args.threads,
            max_force_cost=args.max_force_cost,
            locate=args.locate,
            vn_floor=args.vn_floor,
        )
    except ModelMissingError as exc:
        raise CommandError(str(exc)) from exc


#: exit status of `matthan plates read` / `detect` when some image could not be read or analysed
IMAGE_FAILED = 2


def print_image_error(path: Path, exc: RecognizerError) -> None:
    """An image that could not be read or analysed: its JSON line with `error` (so that there is one
    line per image given, in order), and the message on standard error."""
    message = str(exc)
    prefix = f"{path}: "
    if message.startswith(prefix):  # load_image names the file; the line's `image` already does
        message = message[len(prefix) :]
    print(json.dumps({"image": str(path), "error": message}, ensure_ascii=False), flush=True)
    print(f"matthan: error: {path}: {message}", file=sys.stderr)


def warn_left_out(names: Sequence[str], what: str) -> None:
    """One warning line for images an evaluation left out (the first ten named)."""
    if names:
        print(
            f"matthan: warning: {len(names)} {what}, left out of the scores: {', '.join(names[:10])}",
            file=sys.stderr,
        )


def run_read(args: argparse.Namespace) -> int:
    reader = _reader(args)
    status = 0
    for path in args.images:
        try:
            reading = reader.read(load_image(path))
        except RecognizerError as exc:
            print_image_error(path, exc)
            status = IMAGE_FAILED
            continue
        print(json.dumps({"image": str(path), **reading.to_dict()}, ensure_ascii=False), flush=True)
    return status


def run_eval(args: argparse.Namespace) -> int:
    if not args.crops.is_dir():
        raise CommandError(f"{args.crops}: no such folder of crops")
    if args.fixes is not None and not args.fixes.is_file():
        raise CommandError(f"{args.fixes}: no such label fixes file")
    fixes = read_label_fixes(args.fixes) if args.fixes is not None else None
    try:
        rows = read_labels(args.labels, fixes)
    except (FileNotFoundError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    if args.split != "all":
        rows = [r for r in rows if split_of(r.image, r.extra.get("country", "VN")) == args.split]
    if not rows:
        raise CommandError(f"{args.labels}: no labelled crops to evaluate")
    reader = _reader(args)
    try:
        summary = evaluate(reader_fn(reader), args.crops, rows)
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from exc
    results = summary.pop("results")
    warn_left_out(summary.get("unreadable_images", []), "labelled crop(s) missing or not decodable")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**summary, "results": results}, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(summary, ensure_ascii=False))
    return 0
