"""`matthan faces enroll|match` and `matthan eval face-detect|faces-verify`."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from matthan.edge.errors import CommandError
from matthan.models import ModelMissingError
from matthan.recognizers.faces.evaluate import (
    EvalInputError,
    dlib_xml_to_rows,
    evaluate_detection,
    evaluate_verification,
    read_box_labels,
    read_image,
    read_pairs,
    write_box_labels,
)
from matthan.recognizers.faces.pipeline import DetectorSettings, FacePipeline, largest, resolve_embedder
from matthan.recognizers.faces.quality import QualityGates
from matthan.recognizers.faces.watchlist import (
    DEFAULT_THRESHOLD,
    UNKNOWN,
    WatchlistError,
    WatchlistStore,
    default_db_path,
)


def register(commands: Any, eval_commands: Any) -> None:
    faces = commands.add_parser("faces", help="face watchlists: enrol people, match faces in images")
    faces.set_defaults(func=lambda _args: _usage(faces))
    sub = faces.add_subparsers(dest="faces_command", metavar="ACTION")

    enroll = sub.add_parser("enroll", help="add a person's face images to a watchlist")
    _db_option(enroll)
    enroll.add_argument("--watchlist", required=True, help="watchlist name")
    enroll.add_argument("--person", required=True, help="the person's id")
    enroll.add_argument(
        "images", nargs="+", type=Path, metavar="IMAGE", help="one face per image (largest used)"
    )
    _threads_option(enroll)
    enroll.set_defaults(func=enroll_command)

    match = sub.add_parser("match", help="match every face in images against the watchlists (JSON lines)")
    _db_option(match)
    match.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"largest distance that counts as the same person (default {DEFAULT_THRESHOLD}, FMR 1e-4)",
    )
    match.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _threads_option(match)
    match.set_defaults(func=match_command)

    detect = eval_commands.add_parser("face-detect", help="face detection recall/precision at IoU 0.5")
    detect.add_argument("--images", type=Path, required=True, help="folder of the labelled images")
    detect.add_argument(
        "--labels", type=Path, required=True, help="CSV image,x1,y1,x2,y2 per face (or a dlib imglab .xml)"
    )
    detect.add_argument("--iou", type=float, default=0.5)
    detect.add_argument(
        "--box-style",
        choices=("detector", "square"),
        default="detector",
        help="compare the detector's boxes as they are, or as squares of equal centre and area "
        "(for labels drawn as squares, like dlib's)",
    )
    detect.add_argument("--score-threshold", type=float, default=DetectorSettings.score_threshold)
    detect.add_argument(
        "--max-side",
        type=int,
        default=DetectorSettings.max_side,
        help=f"downscale larger images for detection (default {DetectorSettings.max_side}; 0: never)",
    )
    _threads_option(detect)
    detect.set_defaults(func=face_detect_command)

    verify = eval_commands.add_parser("faces-verify", help="face verification AUC, TAR@FAR, EER on pairs")
    verify.add_argument("--pairs", type=Path, required=True, help="CSV file_x,file_y,same (1/0 or Yes/No)")
    verify.add_argument("--images", type=Path, required=True, help="folder the pair files are relative to")
    _threads_option(verify)
    verify.set_defaults(func=faces_verify_command)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=None, help=f"watchlist database (default {default_db_path()})"
    )


def _threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")


def _pipeline(args: argparse.Namespace, *, embed: bool = True, max_side: int | None = None) -> FacePipeline:
    settings = DetectorSettings(
        score_threshold=getattr(args, "score_threshold", DetectorSettings.score_threshold),
        max_side=DetectorSettings.max_side if max_side is None else max_side,
    )
    try:
        return FacePipeline.from_store(QualityGates(), settings, embed=embed, threads=args.threads)
    except ModelMissingError as exc:
        raise CommandError(str(exc)) from None


def _store(path: Path | None, *, create: bool) -> WatchlistStore:
    db = path or default_db_path()
    if not create and not db.is_file():
        raise CommandError(
            f"{db}: no watchlist database; create one with `matthan faces enroll --db {db} ...`"
        )
    try:
        return WatchlistStore(db, resolve_embedder().sha256, create=create)
    except (ModelMissingError, WatchlistError) as exc:
        raise CommandError(str(exc)) from None


def _read_all(paths: list[Path]) -> list[np.ndarray[Any, np.dtype[np.uint8]]]:
    """Every image, or a CommandError naming the first that cannot be read (before any work)."""
    try:
        return [read_image(p) for p in paths]
    except EvalInputError as exc:
        raise CommandError(str(exc)) from None


def enroll_command(args: argparse.Namespace) -> int:
    """All images are checked first: one without a usable face enrols nothing."""
    images = _read_all(args.images)
    pipeline = _pipeline(args)
    rows = []
    for path, image in zip(args.images, images, strict=True):
        faces = pipeline.analyse(image)
        face = largest(faces)
        if face is None:
            raise CommandError(f"{path}: no face found; nothing was enrolled")
        if face.embedding is None:
            q = face.quality
            raise CommandError(
                f"{path}: the face is not good enough to enrol (quality {q.score:.2f}, failed gate "
                f"{q.reason!r}: size {q.size_px:.0f}px, sharpness {q.sharpness:.0f}, yaw {q.yaw:+.2f}, "
                f"pitch {q.pitch:.2f}); nothing was enrolled"
            )
        rows.append((path, face))
    with _store(args.db, create=True) as store:
        try:
            ids = store.enroll(
                args.watchlist,
                args.person,
                [(f.embedding, f.quality.score, str(p)) for p, f in rows if f.embedding is not None],
            )
        except WatchlistError as exc:
            raise CommandError(str(exc)) from None
        for (path, face), row_id in zip(rows, ids, strict=True):
            print(
                json.dumps(
                    {
                        "image": str(path),
                        "enrolled": row_id,
                        "person": args.person,
                        "watchlist": args.watchlist,
                        "box": [round(float(v), 1) for v in face.box],
                        "quality": face.quality.score,
                    }
                )
            )
    return 0


def match_command(args: argparse.Namespace) -> int:
    images = _read_all(args.images)
    pipeline = _pipeline(args)
    with _store(args.db, create=False) as store:
        for path, image in zip(args.images, images, strict=True):
            faces = pipeline.analyse(image)
            if not faces:
                print(f"matthan: {path}: no face found", file=sys.stderr)
            out = []
            for face in faces:
                entry: dict[str, Any] = {
                    "box": [round(float(v), 1) for v in face.box],
                    "person": UNKNOWN,
                    "watchlist": None,
                    "distance": None,
                    "quality": face.quality.score,
                }
                if face.embedding is not None:
                    match = store.nearest(face.embedding, args.threshold)
                    entry["person"] = match.person
                    entry["watchlist"] = match.watchlist
                    entry["distance"] = round(match.distance, 4) if np.isfinite(match.distance) else None
                out.append(entry)
            print(json.dumps({"image": str(path), "faces": out}), flush=True)
    return 0


def face_detect_command(args: argparse.Namespace) -> int:
    try:
        if not args.labels.is_file():
            raise EvalInputError(f"{args.labels}: no such file")
        if args.labels.suffix.lower() == ".xml":
            with tempfile.TemporaryDirectory() as tmp:
                labels = read_box_labels(write_box_labels(dlib_xml_to_rows(args.labels), Path(tmp) / "l.csv"))
        else:
            labels = read_box_labels(args.labels)
    except (OSError, EvalInputError) as exc:
        raise CommandError(str(exc)) from None
    pipeline = _pipeline(args, embed=False, max_side=args.max_side)
    try:
        result = evaluate_detection(
            pipeline.detector, args.images, labels, iou=args.iou, box_style=args.box_style
        )
    except EvalInputError as exc:
        raise CommandError(str(exc)) from None
    for miss in result.misses:
        print(f"missed: {miss}")
    summary = result.summary() | {"iou": args.iou, "box_style": args.box_style}
    print(json.dumps(summary))
    return 0


def faces_verify_command(args: argparse.Namespace) -> int:
    try:
        pairs = read_pairs(args.pairs)
    except (OSError, EvalInputError) as exc:
        raise CommandError(str(exc)) from None
    pipeline = _pipeline(args)
    try:
        result = evaluate_verification(pipeline, args.images, pairs)
    except EvalInputError as exc:
        raise CommandError(str(exc)) from None
    for name in result.no_face:
        print(f"no face: {name}")
    print(json.dumps(result.summary()))
    return 0
