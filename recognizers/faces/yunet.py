"""YuNet face detector (libfacedetection.train, Apache-2.0) on onnxruntime, decoded in numpy.

The dynamic-size ONNX export takes a BGR image as float (1, 3, H, W) with H and W multiples of 32
(we pad at the bottom/right) and gives, for each stride s in 8/16/32, one row per grid cell
(row-major): `cls_s` and `obj_s` (sigmoid scores), `bbox_s` (dx, dy, log w, log h in stride units,
centre relative to the cell's corner) and `kps_s` (five landmark offsets in stride units). A face's
score is sqrt(cls · obj).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.faces.boxes import nms
from matthan.recognizers.onnx import make_session

FloatArray = npt.NDArray[np.float32]
STRIDES = (8, 16, 32)

#: landmark order: eye on the image's left, other eye, nose tip, mouth corner on the image's left, other
LANDMARK_NAMES = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class FaceBoxes:
    """Faces found in one image: boxes (N, 4) x1 y1 x2 y2, scores (N,), landmarks (N, 5, 2)."""

    boxes: FloatArray
    scores: FloatArray
    landmarks: FloatArray

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> FaceBoxes:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))


def decode(
    outputs: dict[str, FloatArray],
    height: int,
    width: int,
    score_threshold: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Boxes, scores and landmarks of every cell scoring at least `score_threshold` (before NMS).

    `height`/`width` are the (padded) network input size.
    """
    all_boxes, all_scores, all_kps = [], [], []
    for s in STRIDES:
        rows, cols = height // s, width // s
        cls = np.clip(outputs[f"cls_{s}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{s}"].reshape(-1), 0.0, 1.0)
        if cls.size != rows * cols:
            raise ValueError(f"YuNet stride {s}: {cls.size} cells for a {rows}x{cols} grid")
        scores = np.sqrt(cls * obj)
        idx = np.flatnonzero(scores >= score_threshold)
        if idx.size == 0:
            continue
        cell = np.stack([idx % cols, idx // cols], axis=1).astype(np.float32)  # (x, y) of the cell
        bbox = outputs[f"bbox_{s}"].reshape(-1, 4)[idx]
        centre = (cell + bbox[:, 0:2]) * s
        size = np.exp(bbox[:, 2:4]) * s
        all_boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
        kps = outputs[f"kps_{s}"].reshape(-1, 5, 2)[idx]
        all_kps.append((kps + cell[:, None, :]) * s)
        all_scores.append(scores[idx])
    if not all_boxes:
        return FaceBoxes.empty().boxes, FaceBoxes.empty().scores, FaceBoxes.empty().landmarks
    return (
        np.concatenate(all_boxes).astype(np.float32),
        np.concatenate(all_scores).astype(np.float32),
        np.concatenate(all_kps).astype(np.float32),
    )


class YuNetDetector:
    """Runs YuNet on whole frames; large frames are downscaled so their longer side is `max_side`."""

    def __init__(
        self,
        model: Path,
        *,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_side: int = 0,
        top_k: int = 300,
        threads: int = 1,
    ) -> None:
        self.session = make_session(model, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.top_k = top_k

    def detect(self, image: npt.NDArray[np.uint8]) -> FaceBoxes:
        """Faces in a BGR uint8 image (H, W, 3), in that image's pixel coordinates."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a BGR image (H, W, 3), got shape {image.shape}")
        h, w = image.shape[:2]
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        ih, iw = image.shape[:2]
        ph, pw = -(-ih // 32) * 32, -(-iw // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :ih, :iw] = image.transpose(2, 0, 1)
        raw = self.session.run(self.output_names, {self.input_name: blob})
        outputs = dict(zip(self.output_names, raw, strict=True))
        boxes, scores, kps = decode(outputs, ph, pw, self.score_threshold)
        if len(boxes) == 0:
            return FaceBoxes.empty()
        keep = nms(boxes, scores, self.nms_threshold, self.top_k)
        boxes, scores, kps = boxes[keep] / scale, scores[keep], kps[keep] / scale
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h)
        return FaceBoxes(boxes.astype(np.float32), scores.astype(np.float32), kps.astype(np.float32))
