"""Privacy: faces that match no watchlist are made unrecognisable in any image that leaves the agent.

The region (the face box grown by a margin, to cover hair and ears) is pixelated to a few blocks
and then smoothed: neither a person nor a face model can recover the identity from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.base import CLASS_FACE, Detections
from matthan.recognizers.faces.watchlist import UNKNOWN

FloatArray = npt.NDArray[np.float32]

#: blocks across a redacted face: too few to keep an identity
BLOCKS = 6
#: the box is grown by this fraction of its size on every side
MARGIN = 0.2


def blur_regions(
    frame: npt.NDArray[np.uint8], boxes: FloatArray | Sequence[Sequence[float]], margin: float = MARGIN
) -> npt.NDArray[np.uint8]:
    """A copy of `frame` with each box (x1, y1, x2, y2, grown by `margin`) pixelated and smoothed."""
    out = frame.copy()
    h, w = frame.shape[:2]
    for box in np.asarray(boxes, np.float32).reshape(-1, 4):
        bw, bh = box[2] - box[0], box[3] - box[1]
        x0 = int(max(0, np.floor(box[0] - margin * bw)))
        y0 = int(max(0, np.floor(box[1] - margin * bh)))
        x1 = int(min(w, np.ceil(box[2] + margin * bw)))
        y1 = int(min(h, np.ceil(box[3] + margin * bh)))
        if x1 <= x0 or y1 <= y0:
            continue
        region = out[y0:y1, x0:x1]
        small = cv2.resize(region, (BLOCKS, BLOCKS), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(x1 - x0, y1 - y0) // BLOCKS) | 1)
        out[y0:y1, x0:x1] = cv2.GaussianBlur(coarse, (k, k), 0)
    return out


def _is_unmatched(person: Any) -> bool:
    return person is None or person == UNKNOWN


def redact_unmatched(frame: npt.NDArray[np.uint8], detections: Detections) -> npt.NDArray[np.uint8]:
    """A copy of `frame` in which every face whose `person` is unknown (or missing) is blurred."""
    persons = detections.data.get("person", [None] * len(detections))
    mask = np.array(
        [
            cid == CLASS_FACE and _is_unmatched(p)
            for cid, p in zip(detections.class_ids, persons, strict=True)
        ],
        bool,
    ).reshape(-1)
    if not mask.any():
        return frame.copy()
    return blur_regions(frame, detections.boxes[mask])
