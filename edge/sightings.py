"""One event per sighting: readings of a tracked object are voted on, and one event is emitted per
track with the consensus and its candidates.

- Plates: readings are clustered (texts equal, or of equal length differing in one character) and
  weighted by reader confidence × crop width (× 1.5 when the plate grammar accepts the reading);
  the heaviest cluster's best text wins. A track is reported once it has `min_hits` readings and a
  clear majority (or `max_wait_hits` readings), as soon as it is known to be moving or stationary,
  and at the latest when it ends. The same plate is reported again only after it was absent for
  `reemit_gap_s`.
- Faces: the identity is the person a majority of the track's matches agree on; a face that never
  reaches a majority is reported once as unknown (`face.detected`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from matthan.recognizers.base import CLASS_FACE, CLASS_PLATE, Detections


class SightingSettings(BaseModel):
    """How readings become events (config key `defaults.tracking`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_hits: int = Field(default=3, ge=1, description="readings of one track before it is reported")
    max_wait_hits: int = Field(
        default=8, ge=1, description="report after this many even without a clear majority"
    )
    majority: float = Field(default=0.6, gt=0, le=1, description="weight share the winning plate text needs")
    lost_after_s: float = Field(default=0.8, gt=0, description="a track unseen this long has ended")
    reemit_gap_s: float = Field(default=30.0, ge=0, description="same plate again only after this absence")
    stationary_after_s: float = Field(
        default=4.0, gt=0, description="a track that has not moved this long is parked"
    )
    stationary_motion: float = Field(
        default=0.5, gt=0, description="motion (in plate widths) that means moving"
    )
    max_candidates: int = Field(default=5, ge=1, le=10)
    min_plate_chars: int = Field(default=5, ge=1, description="shorter readings are partial plates: ignored")
    min_confidence: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="a plate whose consensus confidence stays below this is not reported",
    )
    snapshot_margin: float = Field(default=0.15, ge=0, le=1, description="crop margin around the box")
    snapshot_region: Literal["object", "vehicle"] = Field(
        default="object", description="object: the plate or face; vehicle: the region around a plate"
    )


@dataclass
class Reading:
    capture_time: float
    box: npt.NDArray[np.float32]
    score: float
    fields: dict[str, Any]

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def weight(self) -> float:
        w = max(1e-3, float(self.fields.get("confidence") or self.fields.get("quality") or self.score or 0.0))
        w *= max(1.0, min(self.width, 300.0))
        return w * 1.5 if self.fields.get("format") == "vn" else w


@dataclass
class TrackState:
    track_id: int
    class_id: int
    first_seen: float
    last_seen: float
    readings: list[Reading] = field(default_factory=list)
    hits: int = 0
    emitted: bool = False
    first_centre: tuple[float, float] | None = None
    first_width: float = 0.0
    max_motion: float = 0.0
    best_weight: float = -1.0
    best_crop: npt.NDArray[np.uint8] | None = None


@dataclass(frozen=True)
class Decision:
    """One event to emit: the consensus `fields` of a track, where and when it was last seen."""

    track_id: int
    class_id: int
    fields: dict[str, Any]
    box: npt.NDArray[np.float32]
    score: float
    capture_time: float
    stationary: bool
    crop: npt.NDArray[np.uint8] | None


def one_apart(a: str, b: str) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) <= 1


def vote_plate(
    readings: list[Reading], max_candidates: int
) -> tuple[list[tuple[str, float]], Reading | None]:
    """Candidates (normalised text, share of the weight) best first, and the best reading of the winner."""
    weights: dict[str, float] = {}
    best_of: dict[str, Reading] = {}
    for r in readings:
        text = r.fields.get("normalised") or ""
        if not text:
            continue
        weights[text] = weights.get(text, 0.0) + r.weight
        if text not in best_of or r.weight > best_of[text].weight:
            best_of[text] = r
    if not weights:
        return [], None
    # a cluster is a text with its one-character variants; its weight counts for its heaviest text
    clusters: dict[str, float] = {}
    for text in sorted(weights, key=weights.__getitem__, reverse=True):
        home = next((c for c in clusters if one_apart(c, text)), None)
        if home is None:
            clusters[text] = weights[text]
        else:
            clusters[home] += weights[text]
    total = sum(clusters.values())
    ranked = sorted(clusters.items(), key=lambda kv: kv[1], reverse=True)[:max_candidates]
    return [(t, w / total) for t, w in ranked], best_of[ranked[0][0]]


#: how far the vehicle region reaches around a plate, in plate widths (x) and heights (y):
#: left, top, right, bottom. A plate sits low on the vehicle, so most of the region is above it.
VEHICLE_REACH = (1.5, 5.0, 1.5, 1.0)


def crop(
    image: npt.NDArray[np.uint8], box: npt.NDArray[np.float32], margin: float, vehicle: bool = False
) -> npt.NDArray[np.uint8]:
    """The box with `margin` around it, or the vehicle region around a plate box."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    left, top, right, bottom = VEHICLE_REACH if vehicle else (margin, margin, margin, margin)
    xa, ya = max(0, int(x1 - left * bw)), max(0, int(y1 - top * bh))
    xb, yb = min(w, math.ceil(x2 + right * bw)), min(h, math.ceil(y2 + bottom * bh))
    return image[ya:yb, xa:xb].copy()


class Sightings:
    """Per-camera state: tracks, their readings, and which plates were seen recently."""

    def __init__(self, settings: SightingSettings):
        self.settings = settings
        self.tracks: dict[int, TrackState] = {}
        self.unreported = 0  # plate tracks that ended without a confident consensus
        # normalised text -> {track id: last time that track's consensus was this text}
        self.recent_plates: dict[str, dict[int, float]] = {}

    def update(
        self, det: Detections, capture_time: float, image: npt.NDArray[np.uint8] | None = None
    ) -> list[Decision]:
        """Add one analysed frame's tracked objects; return the events that are due now."""
        decisions = []
        keys = list(det.data)
        for i in range(len(det)):
            tid = int(det.track_ids[i])
            cls = int(det.class_ids[i])
            if tid < 0 or cls not in (CLASS_PLATE, CLASS_FACE):
                continue
            fields = {k: det.data[k][i] for k in keys}
            if cls == CLASS_PLATE and len(fields.get("normalised") or "") < self.settings.min_plate_chars:
                continue  # an unread or partly read plate says nothing about which plate it is
            reading = Reading(capture_time, det.boxes[i].copy(), float(det.scores[i]), fields)
            track = self._add(tid, cls, reading, image)
            decision = self._decide(track, capture_time)
            if decision is not None:
                decisions.append(decision)
        decisions.extend(self._expire(capture_time))
        return decisions

    def flush(self) -> list[Decision]:
        """Decide every open track now (at shutdown): nothing seen is left unreported."""
        return self._expire(math.inf)

    def _add(self, tid: int, cls: int, reading: Reading, image: npt.NDArray[np.uint8] | None) -> TrackState:
        s = self.settings
        track = self.tracks.get(tid)
        if track is None:
            track = self.tracks[tid] = TrackState(tid, cls, reading.capture_time, reading.capture_time)
        track.readings.append(reading)
        if len(track.readings) > 4 * s.max_wait_hits:
            track.readings = track.readings[-4 * s.max_wait_hits :]
        track.hits += 1
        track.last_seen = reading.capture_time
        box = reading.box
        centre = (float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2)
        width = max(1.0, reading.width)
        if track.first_centre is None:
            track.first_centre, track.first_width = centre, width
        # motion in plate widths; a vehicle coming toward or going away from the camera moves little
        # across the image but its plate grows or shrinks, which counts as motion too
        shift = math.dist(centre, track.first_centre) / width
        growth = abs(math.log(width / track.first_width))
        track.max_motion = max(track.max_motion, shift, 2.0 * growth)
        if image is not None and reading.weight > track.best_weight:
            track.best_weight = reading.weight
            vehicle = s.snapshot_region == "vehicle" and track.class_id == CLASS_PLATE
            track.best_crop = crop(image, box, s.snapshot_margin, vehicle)
        return track

    def _stationary(self, track: TrackState, now: float) -> bool:
        s = self.settings
        return now - track.first_seen >= s.stationary_after_s and track.max_motion < s.stationary_motion

    def _decide(self, track: TrackState, now: float, ended: bool = False) -> Decision | None:
        if track.emitted:
            if track.class_id == CLASS_PLATE:
                self._plate_consensus(track, now)  # keeps the plate "present" while its track lives
            return None
        if track.hits < self.settings.min_hits:
            return None
        if track.class_id == CLASS_PLATE:
            return self._decide_plate(track, now, ended)
        return self._decide_face(track, ended)

    def _plate_consensus(
        self, track: TrackState, now: float
    ) -> tuple[list[tuple[str, float]], Reading | None]:
        candidates, best = vote_plate(track.readings, self.settings.max_candidates)
        if candidates:
            self.recent_plates.setdefault(candidates[0][0], {})[track.track_id] = min(now, track.last_seen)
        return candidates, best

    def _decide_plate(self, track: TrackState, now: float, ended: bool) -> Decision | None:
        s = self.settings
        candidates, best = self._plate_consensus(track, now)
        if not candidates or best is None:
            return None
        winner, share = candidates[0]
        if not ended:
            if share < s.majority and track.hits < s.max_wait_hits:
                return None
            moving = track.max_motion >= s.stationary_motion
            if not moving and not self._stationary(track, now):
                return None  # not yet known whether it is parked
        confidence = min(1.0, share * math.sqrt(float(best.fields.get("confidence") or 0.0)))
        if confidence < s.min_confidence:
            if ended:
                self.unreported += 1  # never a clear, confident reading: not worth an operator's time
            return None
        track.emitted = True
        seen_by = self.recent_plates.get(winner, {})
        if any(
            tid != track.track_id and track.first_seen - seen < s.reemit_gap_s
            for tid, seen in seen_by.items()
        ):
            return None  # the same plate again within the gap (e.g. a new track after an occlusion)
        fields = dict(best.fields)
        fields["confidence"] = float(confidence)
        fields["candidates"] = [
            {"text": _printed(t, track.readings), "confidence": float(w)} for t, w in candidates
        ]
        return self._decision(track, fields, self._stationary(track, track.readings[-1].capture_time))

    def _decide_face(self, track: TrackState, ended: bool) -> Decision | None:
        s = self.settings
        votes = Counter(
            str(r.fields["person"]) for r in track.readings if r.fields.get("person") not in (None, "unknown")
        )
        person, count = votes.most_common(1)[0] if votes else (None, 0)
        needed = math.ceil(s.majority * min(track.hits, s.max_wait_hits))
        if person is not None and count >= needed:
            matches = [r for r in track.readings if r.fields.get("person") == person]
            best = min(matches, key=lambda r: float(r.fields.get("distance") or 0.0))
        elif ended or track.hits >= s.max_wait_hits or not votes:
            person = None
            best = max(track.readings, key=lambda r: r.weight)
        else:
            return None
        track.emitted = True
        fields = dict(best.fields)
        if person is None:
            fields["person"] = "unknown"
        return self._decision(track, fields, stationary=False)

    @staticmethod
    def _decision(track: TrackState, fields: dict[str, Any], stationary: bool) -> Decision:
        """The event of `track`: its consensus `fields`, where and when it was last seen."""
        last = track.readings[-1]
        return Decision(
            track.track_id,
            track.class_id,
            fields,
            last.box,
            last.score,
            last.capture_time,
            stationary,
            track.best_crop,
        )

    def _expire(self, now: float) -> list[Decision]:
        s = self.settings
        decisions = []
        for tid in [t for t, tr in self.tracks.items() if now - tr.last_seen > s.lost_after_s]:
            track = self.tracks.pop(tid)
            decision = self._decide(track, track.last_seen, ended=True)
            if decision is not None:
                decisions.append(decision)
        horizon = now if math.isfinite(now) else max((t.last_seen for t in self.tracks.values()), default=0.0)
        for text in list(self.recent_plates):
            seen_by = {
                t: seen for t, seen in self.recent_plates[text].items() if horizon - seen <= s.reemit_gap_s
            }
            if seen_by:
                self.recent_plates[text] = seen_by
            else:
                del self.recent_plates[text]
        return decisions


def _printed(normalised: str, readings: list[Reading]) -> str:
    """The printed form (with separators) of a normalised candidate, from any reading that had it."""
    for r in readings:
        if r.fields.get("normalised") == normalised and r.fields.get("text"):
            return str(r.fields["text"])
    return normalised
