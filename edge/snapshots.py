"""Best-shot snapshots: JPEGs kept on the edge store and sent by reference (URL + sha256), never
inside the Kafka message. Faces that matched no watchlist are blurred before they are written."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)


def blur(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Irreversibly blur a face crop: pixelate, then a strong Gaussian blur."""
    h, w = image.shape[:2]
    if h < 2 or w < 2:
        return image.copy()
    small = cv2.resize(image, (max(1, w // 12), max(1, h // 12)), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(3, (min(h, w) // 4) | 1)
    return np.asarray(cv2.GaussianBlur(big, (k, k), 0), np.uint8)


class SnapshotStore:
    """Writes `<root>/<camera>/<event_id>.jpg`; `url_base` (e.g. the agent's HTTP address) makes URLs."""

    def __init__(self, root: Path, url_base: str | None = None, quality: int = 85):
        self.root = root
        self.url_base = url_base.rstrip("/") if url_base else None
        self.quality = quality
        self.dropped = 0

    def save(self, camera_id: str, event_id: str, image: npt.NDArray[np.uint8]) -> dict[str, Any] | None:
        if image.size == 0:
            return None
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return None
        data = jpeg.tobytes()
        folder = self.root / camera_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{event_id}.jpg"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        url = (
            f"{self.url_base}/snapshots/{camera_id}/{event_id}.jpg"
            if self.url_base
            else path.resolve().as_uri()
        )
        return {"url": url, "content_type": "image/jpeg", "sha256": hashlib.sha256(data).hexdigest()}

    def size_bytes(self) -> int:
        if not self.root.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.root.rglob("*.jpg"))

    def drop_oldest(self, bytes_to_free: int) -> int:
        """Delete the oldest snapshots until `bytes_to_free` are freed; return what was freed."""
        if not self.root.is_dir():
            return 0
        files = sorted(self.root.rglob("*.jpg"), key=lambda p: p.stat().st_mtime)
        freed = 0
        for path in files:
            if freed >= bytes_to_free:
                break
            try:
                size = path.stat().st_size
                os.remove(path)
            except OSError:
                continue
            freed += size
            self.dropped += 1
        return freed

    def path_for(self, relative: str) -> Path | None:
        """The file behind `<camera>/<name>.jpg`, or None when it is not a snapshot of ours."""
        candidate = (self.root / relative).resolve()
        root = self.root.resolve()
        if candidate.suffix != ".jpg" or root not in candidate.parents or not candidate.is_file():
            return None
        return candidate
