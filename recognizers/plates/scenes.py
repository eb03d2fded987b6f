"""`matthan eval scenes`: plate recall, precision, end-to-end reads and latency on labelled frames.

Labels are a CSV with one row per labelled plate, `image,x1,y1,x2,y2,text` (pixels; `text` may be
empty), or a YOLO label folder of the vn-plate-scenes form (`class x1 y1 x2 y2 ...` normalised
polygons; no text). Every image in the folder and its subfolders is scored, labelled or not. The CSV's
`image` is the image's path under the images folder (`cam1/0001.jpg`) or just its file name when that
is unique there; a header may carry a byte-order mark (Excel's "CSV UTF-8") and any letter case. An
image that cannot be decoded is left out of the scores and listed in the summary's
`unreadable_images`, as labelled images not found are counted in `labelled_images_not_found`. A
detection matches a label at IoU >= 0.5 (greedy, best score first). `end_to_end_exact` counts plates
with text that were detected and read exactly on the `[A-Z0-9]` form; a missed plate counts as wrong.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.base import Detections
from matthan.recognizers.plates.detector import order_corners

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
IOU_MATCH = 0.5


@dataclass(frozen=True)
class LabelledPlate:
    image: str
    box: tuple[float, float, float, float]
    text: str = ""


@dataclass
class _Tally:
    n_images: int = 0
    n_plates: int = 0
    matched: int = 0
    n_detections: int = 0
    true_detections: int = 0
    with_text: int = 0
    exact: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_images": self.n_images,
            "n_plates": self.n_plates,
            "n_detections": self.n_detections,
            "recall": round(self.matched / self.n_plates, 4) if self.n_plates else None,
            "precision": round(self.true_detections / self.n_detections, 4) if self.n_detections else None,
            "n_plates_with_text": self.with_text,
            "end_to_end_exact": round(self.exact / self.with_text, 4) if self.with_text else None,
        }
        if self.latencies_ms:
            lat = np.asarray(self.latencies_ms)
            out["latency_ms_p50"] = round(float(np.percentile(lat, 50)), 2)
            out["latency_ms_p95"] = round(float(np.percentile(lat, 95)), 2)
        return out


def normalise_text(text: str | None) -> str:
    """The comparison form of a plate: upper case, only `[A-Z0-9]`."""
    return re.sub(r"[^A-Z0-9]", "", (text or "").upper())


def read_labels_csv(path: Path) -> list[LabelledPlate]:
    """Rows `image,x1,y1,x2,y2,text` (a header row is required; column names in any case, a UTF-8
    byte-order mark allowed). A box given right to left or bottom to top is put in order."""
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = {"image", "x1", "y1", "x2", "y2"} - set(header)
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for i, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            r = dict(zip(header, values, strict=False))
            try:
                x1, y1, x2, y2 = (float(r[k]) for k in ("x1", "y1", "x2", "y2"))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{i}: bad box: {exc}") from exc
            if not all(np.isfinite((x1, y1, x2, y2))):
                raise ValueError(f"{path}:{i}: bad box: {x1, y1, x2, y2}")
            box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            image = r["image"].strip().replace("\\", "/")
            rows.append(LabelledPlate(image, box, (r.get("text") or "").strip()))
    return rows


def read_yolo_labels(label_dir: Path, images_dir: Path) -> list[LabelledPlate]:
    """Axis-aligned boxes (min/max over each polygon) from YOLO label files, without text."""
    rows = []
    for img_path in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        label = label_dir / (img_path.stem + ".txt")
        if not label.is_file():
            continue
        image = cv2.imread(str(img_path))
        if image is None:
            continue
        h, w = image.shape[:2]
        for line in label.read_text().splitlines():
            v = line.split()
            if len(v) < 5:
                continue
            pts = np.asarray(v[1:], np.float64).reshape(-1, 2) * [w, h]
            box = (
                float(pts[:, 0].min()),
                float(pts[:, 1].min()),
                float(pts[:, 0].max()),
                float(pts[:, 1].max()),
            )
            rows.append(LabelledPlate(img_path.name, box))
    return rows


def read_yolo_polygons(
    label_file: Path, w: int, h: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Corners (K, 4, 2) in pixels and layouts (K,) from one YOLO-segmentation label file."""
    corners, layouts = [], []
    if label_file.is_file():
        for line in label_file.read_text().splitlines():
            v = line.split()
            if len(v) < 7:
                continue
            pts = np.asarray(v[1:], np.float32).reshape(-1, 2) * np.array([w, h], np.float32)
            corners.append(order_corners(pts))
            layouts.append(int(float(v[0])))
    if not corners:
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.int64)
    return np.stack(corners).astype(np.float32), np.asarray(layouts, np.int64)


def corner_boxes(corners: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Axis-aligned boxes (K, 4) x1 y1 x2 y2 around corners (K, 4, 2)."""
    c = np.asarray(corners, np.float64).reshape(-1, 4, 2)
    return np.concatenate([c.min(1), c.max(1)], axis=1)


def read_labels(path: Path, images_dir: Path) -> list[LabelledPlate]:
    if path.is_dir():
        return read_yolo_labels(path, images_dir)
    return read_labels_csv(path)


def iou_matrix(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9), np.float64)


def match(
    pred: npt.NDArray[Any], scores: npt.NDArray[Any], gt: npt.NDArray[Any], iou: float = IOU_MATCH
) -> list[int]:
    """For each ground-truth box the index of its matched prediction, or -1 (greedy, best score first)."""
    assigned = [-1] * len(gt)
    if len(pred) == 0 or len(gt) == 0:
        return assigned
    ious = iou_matrix(pred, gt)
    for p in np.argsort(-np.asarray(scores), kind="stable"):
        cand = [(ious[p, g], g) for g in range(len(gt)) if assigned[g] < 0 and ious[p, g] >= iou]
        if cand:
            assigned[max(cand)[1]] = int(p)
    return assigned


def prefix_of(name: str) -> str:
    """Sub-source of an image by file prefix (`carlong_x.jpg` -> `carlong_`); '' when there is none."""
    head, sep, _ = name.partition("_")
    return head + sep if sep else ""


def list_images(images_dir: Path) -> list[Path]:
    """The images in `images_dir` and its subfolders (by suffix, any case), sorted."""
    return sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _file_name(key: str) -> str:
    return key.rpartition("/")[2]


def _folder(key: str) -> str:
    return key.rpartition("/")[0] or "."


class ImageIndex:
    """The images under a folder, each named by its path there with `/` (`cam1/0001.jpg`). A label
    finds its image by that path or, where the file name is unique there, by the name alone (so
    `valid/images/a.jpg` and `a.jpg` both find `a.jpg`)."""

    def __init__(self, images_dir: Path) -> None:
        self.paths = {p.relative_to(images_dir).as_posix(): p for p in list_images(images_dir)}
        self._by_name: dict[str, list[str]] = defaultdict(list)
        for key in self.paths:
            self._by_name[_file_name(key)].append(key)

    def find(self, name: str) -> str | None:
        """The key of the image `name` names, or None."""
        name = name.removeprefix("./")
        if name in self.paths:
            return name
        same = self._by_name.get(_file_name(name), [])
        return same[0] if len(same) == 1 else None


def assign_labels(
    labels: Iterable[LabelledPlate], index: ImageIndex
) -> tuple[dict[str, list[LabelledPlate]], list[str]]:
    """Labelled plates by image key, and the label image names that match no image."""
    by_image: dict[str, list[LabelledPlate]] = defaultdict(list)
    absent: set[str] = set()
    for row in labels:
        key = index.find(row.image)
        if key is None:
            absent.add(row.image)
        else:
            by_image[key].append(row)
    return by_image, sorted(absent)


def evaluate(
    detect: Callable[[npt.NDArray[np.uint8]], Detections],
    images_dir: Path,
    labels: Iterable[LabelledPlate],
    on_image: Callable[[dict[str, Any]], None] | None = None,
    labelled_only: bool = False,
) -> dict[str, Any]:
    """Run `detect` on every image under `images_dir` (or only those `labels` name) and score it."""
    index = ImageIndex(images_dir)
    paths = index.paths
    by_image, absent = assign_labels(labels, index)
    keys = sorted(by_image) if labelled_only else sorted(paths)
    if not keys:
        raise ValueError(f"no images in {images_dir}" + (" that the labels name" if paths else ""))
    folders = {_folder(k) for k in keys}
    total = _Tally()
    per_prefix: dict[str, _Tally] = defaultdict(_Tally)
    per_folder: dict[str, _Tally] = defaultdict(_Tally)
    unreadable: list[str] = []
    for key in keys:
        frame = cv2.imread(str(paths[key]))
        if frame is None:
            unreadable.append(key)
            continue
        t0 = time.perf_counter()
        dets = detect(np.asarray(frame, np.uint8))
        ms = (time.perf_counter() - t0) * 1000
        tallies = (total, per_prefix[prefix_of(_file_name(key))], per_folder[_folder(key)])
        gt_rows = by_image.get(key, [])
        gt = np.asarray([r.box for r in gt_rows], np.float64).reshape(-1, 4)
        assigned = match(dets.boxes, dets.scores, gt)
        texts = dets.data.get("text", [None] * len(dets))
        matched_preds = {p for p in assigned if p >= 0}
        record: dict[str, Any] = {
            "image": key,
            "plates": [],
            "missed": [],
            "false": [],
            "ms": round(ms, 2),
        }
        for tally in tallies:
            tally.n_images += 1
            tally.n_plates += len(gt_rows)
            tally.matched += len(matched_preds)
            tally.n_detections += len(dets)
            tally.latencies_ms.append(ms)
        for row, p in zip(gt_rows, assigned, strict=True):
            read = normalise_text(texts[p]) if p >= 0 else ""
            ok = bool(row.text) and p >= 0 and read == normalise_text(row.text)
            if row.text:
                for tally in tallies:
                    tally.with_text += 1
                    tally.exact += int(ok)
            if p < 0:
                record["missed"].append([round(v, 1) for v in row.box])
            else:
                record["plates"].append(
                    {"label": row.text, "read": read, "score": round(float(dets.scores[p]), 3)}
                )
        record["false"] = [
            [round(float(v), 1) for v in dets.boxes[i]] for i in range(len(dets)) if i not in matched_preds
        ]
        for tally in tallies:
            tally.true_detections += len(matched_preds)
        if on_image is not None:
            on_image(record)
    summary = total.summary()
    summary["by_prefix"] = {k: v.summary() for k, v in sorted(per_prefix.items())}
    if len(folders) > 1:
        summary["by_folder"] = {k: v.summary() for k, v in sorted(per_folder.items())}
    if absent:
        summary["labelled_images_not_found"] = len(absent)
        summary["labelled_images_not_found_examples"] = absent[:10]
    if unreadable:
        summary["unreadable_images"] = unreadable
    if total.n_images == 0:
        raise ValueError(f"none of the {len(keys)} images in {images_dir} could be decoded")
    return summary


def write_report(path: Path, summary: dict[str, Any], images: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": summary, "images": images}, indent=1) + "\n")
