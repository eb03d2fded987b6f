"""`matthan plates detect IMAGE...` and `matthan eval scenes`: the detect -> rectify -> read path."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from matthan.edge.errors import CommandError
from matthan.models import ModelMissingError
from matthan.recognizers.base import Detections, RecognizerError
from matthan.recognizers.plates import scenes
from matthan.recognizers.plates.cli import IMAGE_FAILED, plates_subcommands, print_image_error, warn_left_out
from matthan.recognizers.plates.detector import PlateDetector, PlatesConfig
from matthan.recognizers.plates.reader import load_image


def _add_detector_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="plate detector ONNX file (default: the installed model)")
    p.add_argument("--threshold", type=float, default=None, help="minimum detector score (default 0.4)")
    p.add_argument("--max-side", type=int, default=None, help="shrink frames to this longest side (640)")
    p.add_argument(
        "--fine-side",
        type=int,
        default=None,
        help="also look at each frame resized to this longest side, for small plates (default 0: off)",
    )
    p.add_argument(
        "--fine-enlarge",
        type=float,
        default=None,
        help="that pass enlarges small frames at most this much (default 2; 1: never)",
    )
    p.add_argument("--no-read", action="store_true", help="only detect; do not run the plate reader")
    p.add_argument(
        "--reader-model", type=Path, help="plate reader ONNX file (default: the installed plate-reader)"
    )
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")


def register(commands: Any, eval_commands: Any) -> None:
    group = plates_subcommands(commands)
    p = group.add_parser(
        "detect",
        help="find and read the plates in images (one JSON line per image)",
        description="Prints one JSON line per image: {image, plates: [{box, score, layout, text, ...}]}.",
    )
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _add_detector_options(p)
    p.set_defaults(func=run_detect)

    e = eval_commands.add_parser(
        "scenes",
        help="plate recall/precision, end-to-end reads and latency on labelled frames",
        description=(
            "Labels: a CSV with rows image,x1,y1,x2,y2,text (pixels; text may be empty), or a folder of "
            "YOLO polygon labels. The last line printed is a JSON summary."
        ),
    )
    e.add_argument("--images", type=Path, required=True, help="folder of frames")
    e.add_argument("--labels", type=Path, required=True, help="labels CSV (or YOLO label folder)")
    e.add_argument("--out", type=Path, help="also write the summary and per-image results here (JSON)")
    e.add_argument("--verbose", action="store_true", help="print one JSON line per image too")
    e.add_argument(
        "--labelled-only",
        action="store_true",
        help="only the images the labels name (default: every image; unnamed ones have no plates)",
    )
    _add_detector_options(e)
    e.set_defaults(func=run_eval_scenes)


def _detector(args: argparse.Namespace) -> PlateDetector:
    options: dict[str, Any] = {"threads": args.threads, "read": not args.no_read}
    if args.model is not None:
        options["model_path"] = args.model
    if args.reader_model is not None:
        if not args.reader_model.is_file():
            raise CommandError(f"{args.reader_model}: no such file")
        options["reader_model_path"] = args.reader_model
    if args.threshold is not None:
        options["score_threshold"] = args.threshold
    if args.max_side is not None:
        options["max_side"] = args.max_side
    if args.fine_side is not None:
        options["fine_side"] = args.fine_side
    if args.fine_enlarge is not None:
        options["fine_enlarge"] = args.fine_enlarge
    try:
        detector = PlateDetector(PlatesConfig(**options))
        detector.load()
    except ModelMissingError as exc:
        raise CommandError(str(exc)) from exc
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise CommandError(f"bad option: {exc}") from exc
    return detector


def plates_json(dets: Detections) -> list[dict[str, Any]]:
    """One JSON object per plate of a `PlateDetector` result."""
    out = []
    for i in range(len(dets)):
        item: dict[str, Any] = {
            "box": [round(float(v), 1) for v in dets.boxes[i]],
            "score": round(float(dets.scores[i]), 4),
        }
        for key, values in dets.data.items():
            value = values[i]
            item[key] = value.tolist() if isinstance(value, np.ndarray) else value
        out.append(item)
    return out


def run_detect(args: argparse.Namespace) -> int:
    detector = _detector(args)
    status = 0
    for path in args.images:
        try:
            dets = detector(load_image(path), Detections.empty())
        except RecognizerError as exc:
            print_image_error(path, exc)
            status = IMAGE_FAILED
            continue
        print(json.dumps({"image": str(path), "plates": plates_json(dets)}, ensure_ascii=False), flush=True)
    return status


def run_eval_scenes(args: argparse.Namespace) -> int:
    if not args.images.is_dir():
        raise CommandError(f"--images {args.images}: not a folder")
    if not args.labels.exists():
        raise CommandError(f"--labels {args.labels}: no such file")
    try:
        labels = scenes.read_labels(args.labels, args.images)
    except (OSError, ValueError, KeyError) as exc:
        raise CommandError(f"--labels {args.labels}: {exc}") from exc
    detector = _detector(args)
    records: list[dict[str, Any]] = []

    def on_image(record: dict[str, Any]) -> None:
        records.append(record)
        if args.verbose:
            print(json.dumps(record, ensure_ascii=False), flush=True)

    try:
        summary = scenes.evaluate(
            lambda f: detector(f, Detections.empty()), args.images, labels, on_image, args.labelled_only
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if summary.get("labelled_images_not_found"):
        examples = ", ".join(summary["labelled_images_not_found_examples"])
        print(
            f"matthan: warning: {summary['labelled_images_not_found']} image(s) named in {args.labels} "
            f"are not under {args.images} (their plates are not scored): {examples}",
            file=sys.stderr,
        )
    warn_left_out(summary.get("unreadable_images", []), "image(s) that could not be decoded")
    summary["model"] = str(detector.model_path)
    summary["reader"] = detector.reader is not None
    if args.out is not None:
        scenes.write_report(args.out, summary, records)
    print(json.dumps(summary), flush=True)
    return 0
