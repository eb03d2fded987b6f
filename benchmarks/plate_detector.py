"""Plate detector benchmark: accuracy on vn-plate-scenes/valid and latency per 640-px and per 1280-px
frame, one thread.

    python -m matthan.benchmarks.plate_detector [--shared ../shared] [--frames 200]

Writes `benchmarks/results/plate_detector.json` and the `## Plate detector` section of
`benchmarks/RESULTS.md` (other sections of that file are left as they are).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from matthan.benchmarks.common import cpu_model, speed_reference_ms, write_section
from matthan.recognizers.base import Detections
from matthan.recognizers.plates import scenes
from matthan.recognizers.plates.detector import PlateDetector, PlatesConfig

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results" / "plate_detector.json"
SECTION = "## Plate detector"
#: plate texts read by eye for plates of vn-plate-scenes/valid images (the data set has none)
TEXT_LABELS = HERE / "data" / "vn-plate-scenes-valid-text.csv"


def frames_at(images_dir: Path, n: int, side: int = 640) -> list[np.ndarray[Any, Any]]:
    """`n` frames of the validation images scaled so that their longest side is `side` px."""
    frames = []
    paths = sorted(images_dir.glob("*.jpg"))
    step = max(len(paths) // n, 1)
    for path in paths[::step][:n]:
        img = cv2.imread(str(path))
        if img is None:
            continue
        h, w = img.shape[:2]
        f = side / max(h, w)
        frames.append(cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_LINEAR))
    return frames


def time_path(detector: PlateDetector, frames: list[np.ndarray[Any, Any]], repeats: int) -> dict[str, Any]:
    for f in frames[:10]:
        detector(f, Detections.empty())
    wall, cpu = [], []
    for _ in range(repeats):
        for f in frames:
            t0, c0 = time.perf_counter(), time.thread_time()
            detector(f, Detections.empty())
            cpu.append((time.thread_time() - c0) * 1000)
            wall.append((time.perf_counter() - t0) * 1000)
    w, c = np.asarray(wall), np.asarray(cpu)
    return {
        "p50": round(float(np.percentile(w, 50)), 2),
        "p95": round(float(np.percentile(w, 95)), 2),
        "cpu_p50": round(float(np.percentile(c, 50)), 2),
        # this machine's speed changes from minute to minute: each pass over the frames on its own
        "p50_by_pass": [round(float(np.percentile(part, 50)), 2) for part in np.split(w, repeats)],
    }


def _shown(path: Path | None) -> str:
    """A model file's path relative to the repository where it lies inside it."""
    if path is None:
        return "unknown"
    try:
        return str(Path(path).resolve().relative_to(HERE.parent.resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--fine-side",
        type=int,
        nargs="*",
        default=[1920],
        help="also measure the detector with its fine pass at these sizes, enlarging small frames "
        "(none: skip)",
    )
    p.add_argument("--fine-enlarge", type=float, default=2.0, help="how much those passes may enlarge")
    args = p.parse_args(argv)
    valid = args.shared / "datasets" / "vn-plate-scenes" / "valid"
    if not (valid / "images").is_dir():
        raise SystemExit(f"{valid}/images not found: pass --shared DIR")

    load_at_start = os.getloadavg()[0]
    detect_only = PlateDetector(PlatesConfig(read=False))
    detect_only.load()
    full = PlateDetector(PlatesConfig(read=True))
    full.load()
    assert detect_only.model_path is not None
    labels = scenes.read_yolo_labels(valid / "labels", valid / "images")
    accuracy = scenes.evaluate(lambda f: detect_only(f, Detections.empty()), valid / "images", labels)
    frames = frames_at(valid / "images", args.frames)
    frames_1280 = frames_at(valid / "images", args.frames, 1280)
    result: dict[str, Any] = {
        "machine": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
        "speed_reference_ms": round(speed_reference_ms(), 1),
        "load_average": round(load_at_start, 2),
        "threads": 1,
        "model": _shown(detect_only.model_path),
        "model_bytes": detect_only.model_path.stat().st_size,
        "valid": accuracy,
        "latency_640_detect_ms": time_path(detect_only, frames, args.repeats),
        # what a 720p or larger camera costs: shrunk to 640 px, or also searched at 1280 px
        "latency_1280_detect_ms": time_path(detect_only, frames_1280, 1),
        "latency_1280_fine_1280_detect_ms": time_path(
            PlateDetector(PlatesConfig(read=False, fine_side=1280)), frames_1280, 1
        ),
        "reader": full.reader is not None,
    }
    if full.reader is not None:
        result["reader_model"] = _shown(getattr(full.reader, "model_path", None))
        result["latency_640_detect_read_ms"] = time_path(full, frames, 1)
        result["end_to_end"] = scenes.evaluate(
            lambda f: full(f, Detections.empty()),
            valid / "images",
            scenes.read_labels(TEXT_LABELS, valid / "images"),
            labelled_only=True,
        )
    result["fine_pass"] = {}
    for side in args.fine_side:
        fine = PlateDetector(PlatesConfig(read=False, fine_side=side, fine_enlarge=args.fine_enlarge))
        fine.load()
        run = functools.partial(fine, detections=Detections.empty())
        found = scenes.evaluate(run, valid / "images", labels)
        result["fine_pass"][str(side)] = {
            "valid": {k: found[k] for k in ("n_plates", "recall", "precision")},
            "fine_enlarge": args.fine_enlarge,
            "latency_640_detect_ms": time_path(fine, frames, 1),
        }
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(result, indent=1) + "\n")

    rows = [
        f"| {k or 'all'} | {v['n_images']} | {v['n_plates']} | {v['recall']} | {v['precision']} |"
        for k, v in [("", accuracy), *accuracy["by_prefix"].items()]
    ]
    lat = result["latency_640_detect_ms"]
    lines = [
        SECTION,
        "",
        f"Machine: {result['machine']}, one onnxruntime thread. Model `{result['model']}` "
        f"({result['model_bytes'] / 1e6:.2f} MB). Command: `python -m matthan.benchmarks.plate_detector`.",
        "",
        "Detection on `vn-plate-scenes/valid` (never trained on), native image size, IoU 0.5, "
        "score >= 0.4, the default `PlatesConfig` (a full-size pass plus a half-size pass for close-ups). "
        "Street scenes are only partly labelled, so their precision is pessimistic.",
        "",
        "| sub-source | images | plates | recall | precision |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Latency per 640-px frame ({len(frames)} validation frames scaled to 640 px, longest side): "
        f"detect p50 {lat['p50']} ms, p95 {lat['p95']} ms wall ({lat['cpu_p50']} ms CPU at p50; load "
        f"average {result['load_average']} on the 2-core machine when the run started; p50 of each of "
        f"the {len(lat['p50_by_pass'])} passes over the frames, back to back: "
        f"{', '.join(str(v) for v in lat['p50_by_pass'])} ms). Measured "
        f"{result['date']}, when a fixed single-thread workload (`benchmarks.common.speed_reference_ms`) "
        f"took {result['speed_reference_ms']:.0f} ms (a rough guide to the day's speed only: it does not "
        "scale with this network's time).",
    ]
    l1280, f1280 = result["latency_1280_detect_ms"], result["latency_1280_fine_1280_detect_ms"]
    lines.append(
        f"Per 1280-px frame (the same frames scaled to 1280 px): detect p50 {l1280['p50']} ms (shrunk to "
        f"640 px); with the fine pass at `fine_side: 1280` (also searched at 1280 px) p50 {f1280['p50']} ms, "
        f"p95 {f1280['p95']} ms wall."
    )
    for side, fine_result in result["fine_pass"].items():
        v, fl = fine_result["valid"], fine_result["latency_640_detect_ms"]
        lines.append(
            f"With the fine pass at `fine_side: {side}, fine_enlarge: {fine_result['fine_enlarge']:g}` (each "
            f"frame also searched at up to {side} px, small frames enlarged up to "
            f"{fine_result['fine_enlarge']:g} times): recall {v['recall']}, precision "
            f"{v['precision']}; detect p50 {fl['p50']} ms, p95 {fl['p95']} ms wall per 640-px frame."
        )
    if "latency_640_detect_read_ms" in result:
        lr = result["latency_640_detect_read_ms"]
        lines.append(
            f"Detect + read every plate (two views each, seven where they disagree): p50 {lr['p50']} ms, "
            f"p95 {lr['p95']} ms wall."
        )
        e2e = result["end_to_end"]
        parts = ", ".join(
            f"{k} {v['end_to_end_exact']} ({v['n_plates_with_text']} plates)"
            for k, v in e2e["by_prefix"].items()
        )
        lines += [
            "",
            f"End to end with `{result['reader_model']}` (detect -> read the rectified crop and the upright "
            "box, the better reading kept, or the vote of five more cuts where the two disagree; exact on "
            "`[A-Z0-9]`, a missed plate counts as wrong) on "
            f"the {e2e['n_plates_with_text']} plates of `benchmarks/data/vn-plate-scenes-valid-text.csv` "
            f"(texts read by eye here; plates not legible by eye have none): **{e2e['end_to_end_exact']}** "
            f"({parts}); recall on its {e2e['n_plates']} plates {e2e['recall']}.",
        ]
    else:
        lines.append("The plate reader model was not installed: detect + read was not timed.")
    write_section(SECTION, "\n".join(lines))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
