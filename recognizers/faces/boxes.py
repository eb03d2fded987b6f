"""Box arithmetic in numpy: IoU and greedy non-maximum suppression (boxes are x1, y1, x2, y2)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def area(boxes: FloatArray) -> FloatArray:
    wh = np.clip(boxes[:, 2:4] - boxes[:, 0:2], 0.0, None)
    out: FloatArray = (wh[:, 0] * wh[:, 1]).astype(np.float32)
    return out


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """IoU of every box in `a` (N, 4) with every box in `b` (M, 4): an (N, M) array."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float, top_k: int = 0) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by greedy NMS, best score first (at most `top_k` if > 0)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    areas = area(boxes)
    while order.size:
        best = int(order[0])
        keep.append(best)
        if top_k and len(keep) >= top_k:
            break
        rest = order[1:]
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        wh = np.clip(bottom_right - top_left, 0.0, None)
        inter = wh[:, 0] * wh[:, 1]
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.intp)
