"""Accuracy and latency of face detection and verification on labelled data.

Detection: labels are `image,x1,y1,x2,y2` rows (one per face); a detection is a true positive when
it overlaps a not-yet-matched label with IoU >= 0.5 (greedy, best score first).
Verification: pairs are `file_x,file_y,same` rows (`same` 1/0 or Yes/No; a column named `Decision`
or `decision` is accepted too). Each image's largest face is embedded; a pair's score is the
euclidean distance (smaller = same person). An image without a face makes its pairs count as
maximally distant (a miss for genuine pairs, a correct reject for impostors) and is reported.
"""

from __future__ import annotations

import csv
import itertools
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.faces.align import align
from matthan.recognizers.faces.boxes import iou_matrix
from matthan.recognizers.faces.pipeline import FacePipeline
from matthan.recognizers.faces.yunet import YuNetDetector

FloatArray = npt.NDArray[np.float32]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}


class EvalInputError(ValueError):
    """A labels or pairs file the user gave cannot be used (the message says why)."""


def read_image(path: Path) -> npt.NDArray[np.uint8]:
    """A BGR uint8 image; raises EvalInputError naming the file when it cannot be read."""
    if not path.is_file():
        raise EvalInputError(f"{path}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise EvalInputError(f"{path}: not a readable image")
    return np.asarray(image, np.uint8)


# --------------------------------------------------------------------------------------------
# Detection


def read_box_labels(path: Path) -> dict[str, FloatArray]:
    """`image,x1,y1,x2,y2` CSV (header optional) -> boxes per image name."""
    labels: dict[str, list[list[float]]] = {}
    with path.open(newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), 1):
            if not row or (lineno == 1 and row[0].strip().lower() == "image"):
                continue
            if len(row) != 5:
                raise EvalInputError(f"{path}:{lineno}: expected image,x1,y1,x2,y2, got {len(row)} fields")
            try:
                box = [float(v) for v in row[1:]]
            except ValueError as exc:
                raise EvalInputError(f"{path}:{lineno}: {exc}") from None
            labels.setdefault(row[0].strip(), []).append(box)
    if not labels:
        raise EvalInputError(f"{path}: no labelled boxes")
    return {k: np.asarray(v, np.float32).reshape(-1, 4) for k, v in labels.items()}


def dlib_xml_to_rows(xml_path: Path) -> list[tuple[str, float, float, float, float]]:
    """Boxes of a dlib imglab XML file (`<box top left width height>`) as label rows."""
    rows = []
    for image in ET.parse(xml_path).getroot().iter("image"):
        for box in image.iter("box"):
            if box.get("ignore") == "1":
                continue
            left, top = float(box.get("left", 0)), float(box.get("top", 0))
            width, height = float(box.get("width", 0)), float(box.get("height", 0))
            rows.append((image.get("file", ""), left, top, left + width, top + height))
    return rows


def write_box_labels(rows: Iterable[tuple[str, float, float, float, float]], path: Path) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "x1", "y1", "x2", "y2"])
        for row in rows:
            writer.writerow([row[0], *(f"{v:g}" for v in row[1:])])
    return path


def square_boxes(boxes: FloatArray) -> FloatArray:
    """Squares with the same centre and area as `boxes` (for labels drawn as squares, e.g. dlib's)."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = np.sqrt(np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 0, None))
    return np.concatenate([centre - side[:, None] / 2, centre + side[:, None] / 2], axis=1).astype(np.float32)


@dataclass(frozen=True)
class DetectionResult:
    images: int
    faces: int
    true_positives: int
    false_positives: int
    latency_ms: float  # mean per image
    misses: list[str]  # "image x1,y1,x2,y2" of labels no detection matched

    @property
    def recall(self) -> float:
        return self.true_positives / self.faces if self.faces else 0.0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "images": self.images,
            "faces": self.faces,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "latency_ms_per_image": round(self.latency_ms, 2),
        }


def match_boxes(
    detections: FloatArray, scores: FloatArray, labels: FloatArray, iou: float = 0.5
) -> tuple[int, int, list[int]]:
    """(true positives, false positives, indices of unmatched labels): greedy by score."""
    overlap = iou_matrix(detections, labels)
    used = np.zeros(len(labels), bool)
    tp = fp = 0
    for i in np.argsort(-scores, kind="stable"):
        candidates = np.where(used, -1.0, overlap[i]) if len(labels) else np.zeros(0)
        j = int(np.argmax(candidates)) if len(candidates) else -1
        if j >= 0 and candidates[j] >= iou:
            used[j] = True
            tp += 1
        else:
            fp += 1
    return tp, fp, [int(j) for j in np.flatnonzero(~used)]


def evaluate_detection(
    detector: YuNetDetector,
    images: Path,
    labels: dict[str, FloatArray],
    *,
    iou: float = 0.5,
    box_style: str = "detector",
) -> DetectionResult:
    """Run the detector on every labelled image (images without labels are not scored)."""
    tp = fp = 0
    misses: list[str] = []
    elapsed = 0.0
    for name, truth in sorted(labels.items()):
        image = read_image(images / name)
        start = time.perf_counter()
        found = detector.detect(image)
        elapsed += time.perf_counter() - start
        boxes = square_boxes(found.boxes) if box_style == "square" else found.boxes
        t, f, missed = match_boxes(boxes, found.scores, truth, iou)
        tp, fp = tp + t, fp + f
        misses += [f"{name} {','.join(f'{v:g}' for v in truth[j])}" for j in missed]
    n = sum(len(v) for v in labels.values())
    return DetectionResult(len(labels), n, tp, fp, 1000 * elapsed / max(len(labels), 1), misses)


# --------------------------------------------------------------------------------------------
# Verification

_TRUE = {"1", "yes", "true", "same", "y"}
_FALSE = {"0", "no", "false", "different", "n"}


def read_pairs(path: Path) -> list[tuple[str, str, bool]]:
    """`file_x,file_y,same` CSV (header required) -> (x, y, same) rows."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields = {f.strip().lower(): f for f in reader.fieldnames or []}
        label = next((fields[k] for k in ("same", "decision", "label", "issame") if k in fields), None)
        if "file_x" not in fields or "file_y" not in fields or label is None:
            raise EvalInputError(f"{path}: needs columns file_x,file_y,same (same = 1/0 or Yes/No)")
        pairs = []
        for lineno, row in enumerate(reader, 2):
            value = (row[label] or "").strip().lower()
            if value not in _TRUE | _FALSE:
                raise EvalInputError(f"{path}:{lineno}: same must be 1/0 or Yes/No, got {row[label]!r}")
            pairs.append((row[fields["file_x"]].strip(), row[fields["file_y"]].strip(), value in _TRUE))
    if not pairs:
        raise EvalInputError(f"{path}: no pairs")
    return pairs


def write_pairs(pairs: Iterable[tuple[str, str, bool]], path: Path) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file_x", "file_y", "same"])
        for x, y, same in pairs:
            writer.writerow([x, y, int(same)])
    return path


def identity_pairs(root: Path) -> list[tuple[str, str, bool]]:
    """Every pair of images under `root/<identity>/` (ORL's layout): genuine and impostor."""
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.glob("*/*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    return [(a, b, a.split("/")[0] == b.split("/")[0]) for a, b in itertools.combinations(files, 2)]


def _resolve_image(images: Path, name: str) -> Path:
    """`name` under `images`; falls back to its base name (pair lists often carry another prefix)."""
    path = images / name
    if path.is_file():
        return path
    return images / Path(name).name


def roc_auc(genuine: FloatArray, impostor: FloatArray) -> float:
    """P(a genuine pair is closer than an impostor pair), ties counting half (Mann-Whitney U)."""
    scores = np.concatenate([genuine, impostor])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    n_g, n_i = len(genuine), len(impostor)
    rank_sum_impostor = ranks[n_g:].sum()
    u = rank_sum_impostor - n_i * (n_i + 1) / 2.0
    return float(u / (n_g * n_i))


def threshold_at_far(impostor: FloatArray, far: float) -> float:
    """The largest distance threshold accepting at most `far` of the impostor pairs (d <= t)."""
    ordered = np.sort(impostor)
    allowed = int(np.floor(far * len(ordered)))
    if allowed >= len(ordered):
        return float(ordered[-1])
    # accept strictly fewer than the (allowed+1)-th smallest impostor distance
    return float(np.nextafter(ordered[allowed], -np.inf))


def equal_error_rate(genuine: FloatArray, impostor: FloatArray) -> float:
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    frr = np.array([(genuine > t).mean() for t in thresholds])
    far = np.array([(impostor <= t).mean() for t in thresholds])
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)


@dataclass(frozen=True)
class VerificationResult:
    pairs: int
    genuine: FloatArray
    impostor: FloatArray
    images: int
    no_face: list[str]
    latency_ms: float  # mean per face embedding (alignment + network)
    detect_ms: float  # mean per image

    def tar_at_far(self, far: float) -> float:
        return float((self.genuine <= threshold_at_far(self.impostor, far)).mean())

    def summary(self) -> dict[str, object]:
        far = 1e-3
        return {
            "pairs": self.pairs,
            "genuine_pairs": len(self.genuine),
            "impostor_pairs": len(self.impostor),
            "images": self.images,
            "images_without_face": len(self.no_face),
            "auc": round(roc_auc(self.genuine, self.impostor), 4),
            "tar_at_far_1e-3": round(self.tar_at_far(far), 4),
            "threshold_at_far_1e-3": round(threshold_at_far(self.impostor, far), 4),
            "far_resolution": round(1.0 / max(len(self.impostor), 1), 6),
            "eer": round(equal_error_rate(self.genuine, self.impostor), 4),
            "latency_ms_per_embedding": round(self.latency_ms, 2),
            "latency_ms_per_detection": round(self.detect_ms, 2),
        }


#: distance given to a pair when one of its images has no face
NO_FACE_DISTANCE = 10.0


def embed_images(
    pipeline: FacePipeline, images: Path, names: Sequence[str]
) -> tuple[dict[str, FloatArray], list[str], float, float]:
    """Embedding of each image's largest face; also the names without a face and mean latencies."""
    assert pipeline.embedder is not None
    vectors: dict[str, FloatArray] = {}
    no_face: list[str] = []
    detect_s = embed_s = 0.0
    embedded = 0
    for name in names:
        image = read_image(_resolve_image(images, name))
        start = time.perf_counter()
        found = pipeline.detector.detect(image)
        detect_s += time.perf_counter() - start
        if len(found) == 0:
            no_face.append(name)
            continue
        areas = (found.boxes[:, 2] - found.boxes[:, 0]) * (found.boxes[:, 3] - found.boxes[:, 1])
        j = int(np.argmax(areas))
        start = time.perf_counter()
        chip = align(image, found.landmarks[j])
        vectors[name] = pipeline.embedder.embed(chip)[0]
        embed_s += time.perf_counter() - start
        embedded += 1
    return vectors, no_face, 1000 * embed_s / max(embedded, 1), 1000 * detect_s / max(len(names), 1)


def evaluate_verification(
    pipeline: FacePipeline, images: Path, pairs: list[tuple[str, str, bool]]
) -> VerificationResult:
    names = sorted({n for x, y, _ in pairs for n in (x, y)})
    vectors, no_face, embed_ms, detect_ms = embed_images(pipeline, images, names)
    distances = np.array(
        [
            float(np.linalg.norm(vectors[x] - vectors[y]))
            if x in vectors and y in vectors
            else NO_FACE_DISTANCE
            for x, y, _ in pairs
        ],
        np.float32,
    )
    same = np.array([s for _, _, s in pairs], bool)
    if same.all() or not same.any():
        raise EvalInputError("pairs need both genuine (same) and impostor (different) rows")
    return VerificationResult(
        pairs=len(pairs),
        genuine=distances[same],
        impostor=distances[~same],
        images=len(names),
        no_face=no_face,
        latency_ms=embed_ms,
        detect_ms=detect_ms,
    )
