"""Multi-object tracking: ByteTrack from Roboflow's maintained `trackers` library, one tracker per
object class per camera, adapted to our `Detections` type."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import supervision as sv
from trackers import ByteTrackTracker

from matthan.recognizers.base import Detections


def to_supervision(det: Detections) -> sv.Detections:
    data: dict[str, Any] = {
        key: np.array([*values, None], dtype=object)[:-1] for key, values in det.data.items()
    }
    return sv.Detections(
        xyxy=det.boxes.astype(np.float32),
        confidence=det.scores.astype(np.float32),
        class_id=det.class_ids.astype(int),
        data=data,
    )


def from_supervision(tracked: sv.Detections) -> Detections:
    n = len(tracked)
    ids = tracked.tracker_id if tracked.tracker_id is not None else np.full(n, -1)
    return Detections(
        boxes=np.asarray(tracked.xyxy, np.float32),
        scores=np.asarray(tracked.confidence if tracked.confidence is not None else np.ones(n), np.float32),
        class_ids=np.asarray(tracked.class_id if tracked.class_id is not None else np.zeros(n), np.int32),
        track_ids=np.asarray(ids, np.int64),
        data={key: list(values) for key, values in tracked.data.items()},
    )


def enlarge(boxes: npt.NDArray[np.float32], scale: float) -> npt.NDArray[np.float32]:
    """Boxes `scale` times as wide and high, about the same centres."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * (scale / 2)
    return np.concatenate([centres - half, centres + half], axis=1).astype(np.float32)


class Tracker:
    """Assigns track ids to the objects of one camera; objects of different classes never share a track.

    `lost_after_s` is how long a track survives without a matching detection.
    """

    def __init__(
        self,
        analysis_fps: float,
        lost_after_s: float = 1.5,
        activation_score: float = 0.3,
        match_scale: float = 3.0,
    ):
        self.analysis_fps = analysis_fps
        self.lost_after_s = lost_after_s
        self.activation_score = activation_score
        # Plates are small and move several of their own widths between analysed frames, so their
        # boxes would not overlap from one frame to the next: the tracker matches boxes enlarged
        # `match_scale` times about their centres, and the real boxes are put back afterwards.
        self.match_scale = match_scale
        self._trackers: dict[int, ByteTrackTracker] = {}
        # track ids are unique per camera across classes: class c's ids are offset by c * 10**9
        self._offset = 10**9

    def _tracker(self, class_id: int) -> ByteTrackTracker:
        if class_id not in self._trackers:
            self._trackers[class_id] = ByteTrackTracker(
                # ByteTrack counts the buffer in frames of a 30 fps stream, scaled by frame_rate / 30
                lost_track_buffer=max(1, round(self.lost_after_s * 30)),
                frame_rate=self.analysis_fps,
                track_activation_threshold=self.activation_score,
                minimum_consecutive_frames=1,
                high_conf_det_threshold=max(self.activation_score, 0.5),
            )
        return self._trackers[class_id]

    def update(self, det: Detections, timestamp: float) -> Detections:
        """`det` with track ids (-1 where an object is not tracked yet); order may change."""
        classes = set(int(c) for c in det.class_ids) | set(self._trackers)
        parts = []
        for class_id in sorted(classes):
            subset = det.select(det.class_ids == class_id)
            subset.data["_box"] = list(subset.boxes)
            subset.boxes = enlarge(subset.boxes, self.match_scale)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tracked = from_supervision(
                    self._tracker(class_id).update(to_supervision(subset), timestamp=timestamp)
                )
            real_boxes = tracked.data.pop("_box", [])
            if len(tracked):
                tracked.boxes = np.stack(real_boxes).astype(np.float32)
                tracked.track_ids = np.where(
                    tracked.track_ids >= 0, tracked.track_ids + class_id * self._offset, -1
                ).astype(np.int64)
                parts.append(tracked)
        return Detections.merge(parts)
