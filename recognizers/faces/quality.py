"""Quality gates for face crops: too small, too blurred or too turned away never produce a match.

Each measure becomes a score in [0, 1] that is exactly 0.5 at its gate and 1 for a good crop; a
face's quality is the lowest of them, so `quality >= 0.5` means it passed every gate and the
number says how close the worst measure came to failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.faces.align import TEMPLATE

FloatArray = npt.NDArray[np.float32]

#: the template's nose height between eye line (0) and mouth line (1): a frontal face
_FRONTAL_PITCH = float((TEMPLATE[2, 1] - TEMPLATE[0, 1]) / (TEMPLATE[3, 1] - TEMPLATE[0, 1]))
PASS = 0.5


@dataclass(frozen=True)
class QualityGates:
    """Gate thresholds; how the defaults were chosen is in benchmarks/RESULTS.md (Faces)."""

    #: shorter side of the detector's box, in frame pixels
    min_face_px: float = 40.0
    #: variance of the Laplacian over the chip's central face region (grey levels²)
    min_sharpness: float = 15.0
    #: |nose offset from the eyes' midpoint| / eye distance (0 frontal, ~0.5 near profile)
    max_yaw: float = 0.3
    #: |nose height between eye line and mouth line - frontal| (0.57 frontal)
    max_pitch: float = 0.2


@dataclass(frozen=True)
class Quality:
    """Measures of one face and its overall score (the worst measure, see the module doc)."""

    score: float
    size_px: float
    sharpness: float
    yaw: float
    pitch: float
    reason: str  # "" when every gate passed, else the first failing gate ("size", "blur", "pose")

    @property
    def passed(self) -> bool:
        return not self.reason


def sharpness(chip: npt.NDArray[np.uint8]) -> float:
    """Variance of the Laplacian over the centre of a 150×150 chip (eyes to mouth)."""
    grey = cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY) if chip.ndim == 3 else chip
    h, w = grey.shape[:2]
    centre = grey[int(h * 0.2) : int(h * 0.8), int(w * 0.2) : int(w * 0.8)]
    return float(cv2.Laplacian(centre, cv2.CV_64F).var())


def pose(landmarks: FloatArray, chip_matrix: FloatArray) -> tuple[float, float]:
    """(yaw, pitch) ratios from the five landmarks, measured after roll and scale are undone."""
    pts = np.c_[np.asarray(landmarks, np.float64), np.ones(5)] @ np.asarray(chip_matrix, np.float64).T
    eye_l, eye_r, nose, mouth_l, mouth_r = pts
    eye_mid = (eye_l + eye_r) / 2
    mouth_mid = (mouth_l + mouth_r) / 2
    eye_dist = max(float(np.linalg.norm(eye_r - eye_l)), 1e-6)
    yaw = float(nose[0] - eye_mid[0]) / eye_dist
    span = float(mouth_mid[1] - eye_mid[1])
    pitch = float(nose[1] - eye_mid[1]) / span if abs(span) > 1e-6 else 0.0
    return yaw, pitch


def assess(
    box: FloatArray,
    landmarks: FloatArray,
    chip: npt.NDArray[np.uint8],
    chip_matrix: FloatArray,
    gates: QualityGates,
) -> Quality:
    size = float(min(box[2] - box[0], box[3] - box[1]))
    sharp = sharpness(chip)
    yaw, pitch = pose(landmarks, chip_matrix)
    parts = {
        "size": 0.5 * size / gates.min_face_px,
        "blur": 0.5 * sharp / gates.min_sharpness,
        "pose": min(
            1.0 - 0.5 * abs(yaw) / gates.max_yaw, 1.0 - 0.5 * abs(pitch - _FRONTAL_PITCH) / gates.max_pitch
        ),
    }
    reason = next((name for name, value in parts.items() if value < PASS), "")
    score = float(np.clip(min(parts.values()), 0.0, 1.0))
    return Quality(score=round(score, 3), size_px=size, sharpness=sharp, yaw=yaw, pitch=pitch, reason=reason)
