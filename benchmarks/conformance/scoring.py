"""Scoring: received messages are validated, mapped onto clip time, matched to ground truth, and every
requirement of the suite is measured and compared with its threshold.

Clip time: each clip plays in *segments* (a segment starts at clip time 0 when the stream starts or
comes back after an interruption) and loops within a segment. An event's `capture_time` (wall
clock) is mapped to (segment, loop, clip time). A track is *required* in a play when that play
showed it whole (and, in the run's first play, when it starts after `run.warmup_s`); events that
match a track that was not required are still matches, never false reads.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from matthan.benchmarks.conformance.suite import (
    UNKNOWN,
    ClipTruthFile,
    FaceTrack,
    Keyframe,
    PlateTrack,
    Suite,
)
from matthan.integration import events
from matthan.recognizers.plates.grammar import normalise

DETECTION_TYPES = ("plate.read", "face.detected", "face.matched")
#: without a matched plate there are no duplicates to count: the read rate fails such a run instead
UNDEFINED_WITHOUT_DATA = ("plate_duplicate_rate",)


@dataclass
class Message:
    """One Kafka message as received, with its validation result."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    received: float
    payload: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def check(
        cls, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]], received: float
    ) -> Message:
        msg = cls(topic, key, value, headers, received)
        try:
            msg.payload = events.from_kafka(key, value, headers)
        except events.EventValidationError as exc:
            msg.error = str(exc)
        return msg

    @property
    def valid(self) -> bool:
        return self.payload is not None


@dataclass
class Segment:
    """One continuous play of a clip: clip time 0 at wall time `start`, stopped at `end`."""

    start: float
    end: float


@dataclass
class Timeline:
    clip_id: str
    duration_s: float
    segments: list[Segment] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)  # wall times a stream came back


@dataclass(frozen=True)
class Play:
    """One play of a clip (segment, loop) and how much of it was shown."""

    segment: int
    loop: int
    start: float
    shown_s: float


@dataclass
class Failure:
    """One thing that went wrong, with where to look (clip time, box) for the report's frame."""

    requirement: str
    clip_id: str | None
    t: float | None
    box: tuple[float, float, float, float] | None
    what: str


@dataclass
class Result:
    name: str
    value: float | None
    threshold: str
    passed: bool
    reason: str

    def summary(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "threshold": self.threshold,
            "passed": self.passed,
            "reason": self.reason,
        }


@dataclass
class Score:
    results: dict[str, Result]
    failures: list[Failure]
    latencies_s: list[float]
    counts: dict[str, Any]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results.values())


def plate_key(text: str) -> str:
    """The comparison form of a plate: upper case, Đ→D, only [A-Z0-9]."""
    return normalise(text)


def plays(timeline: Timeline) -> list[Play]:
    out = []
    length = timeline.duration_s
    for i, seg in enumerate(timeline.segments):
        k = 0
        while seg.start + k * length < seg.end:
            start = seg.start + k * length
            out.append(Play(i, k, start, min(length, seg.end - start)))
            k += 1
    return out


def locate(timeline: Timeline, capture: float, tol: float) -> list[tuple[Play, float]]:
    """The plays (with clip time) an event captured at `capture` may belong to, likeliest first."""
    found = []
    for play in plays(timeline):
        t = capture - play.start
        if -tol <= t <= play.shown_s + tol:
            found.append((play, t))
    found.sort(key=lambda pt: (pt[1] < 0 or pt[1] > pt[0].shown_s, abs(pt[1] - pt[0].shown_s / 2)))
    return found


def _required(play: Play, first_s: float, last_s: float, warmup_s: float) -> bool:
    if last_s > play.shown_s:
        return False
    return not (play.segment == 0 and play.loop == 0 and first_s < warmup_s)


#: a matched event: (clip, segment, loop, track index)
Hit = tuple[str, int, int, int]
_T = TypeVar("_T", PlateTrack, FaceTrack)


def _match_all(
    payloads: list[dict[str, Any]], match: Callable[[dict[str, Any]], Hit | None]
) -> tuple[Counter[Hit], list[dict[str, Any]]]:
    """Events per matched track, and the events that match none."""
    hits: Counter[Hit] = Counter()
    unmatched: list[dict[str, Any]] = []
    for payload in payloads:
        hit = match(payload)
        if hit is None:
            unmatched.append(payload)
        else:
            hits[hit] += 1
    return hits, unmatched


def _required_tracks(
    suite: Suite,
    timelines: dict[str, Timeline],
    warmup_s: float,
    tracks_of: Callable[[ClipTruthFile], list[_T | None]],
) -> dict[tuple[str, int], _T]:
    """The tracks (by clip and index; None = not counted) some play showed whole after the warm-up.

    Any event of that camera matching such a track, in any play (loops and restarts replay the same
    vehicles and people), reports it.
    """
    required: dict[tuple[str, int], _T] = {}
    for clip in suite.manifest.clips:
        timeline = timelines.get(clip.id)
        if timeline is None:
            continue
        for play in plays(timeline):
            for i, track in enumerate(tracks_of(suite.truths[clip.id])):
                if track is not None and _required(play, track.first_s, track.last_s, warmup_s):
                    required[(clip.id, i)] = track
    return required


def _missed(required: dict[tuple[str, int], _T], hits: Counter[Hit]) -> list[tuple[str, _T]]:
    """(clip, track) of the required tracks no event reported."""
    reported = {(clip, i) for clip, _segment, _loop, i in hits}
    return [(key[0], track) for key, track in required.items() if key not in reported]


def _box_at(keyframes: list[Keyframe], t: float | None) -> tuple[float, float, float, float] | None:
    if not keyframes:
        return None
    if t is None:
        return keyframes[len(keyframes) // 2].box
    return min(keyframes, key=lambda k: abs(k.t - t)).box


def _readable_time(track: PlateTrack) -> float:
    if track.keyframes:
        return float(track.keyframes[len(track.keyframes) // 2].t)
    return (track.first_s + track.last_s) / 2


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 4)


def score(suite: Suite, timelines: dict[str, Timeline], messages: list[Message]) -> Score:
    """Measure every requirement the suite states."""
    man = suite.manifest
    tol = man.matching.time_tolerance_s
    warmup = man.run.warmup_s
    failures: list[Failure] = []
    valid = [m for m in messages if m.payload is not None]
    invalid = [m for m in messages if m.payload is None]

    # ---- plates
    plate_events = [m.payload for m in valid if m.payload and m.payload["event_type"] == "plate.read"]
    matched_plates, false_reads = _match_all(plate_events, lambda p: _match_plate(suite, timelines, p, tol))
    required_plates = _required_tracks(
        suite, timelines, warmup, lambda truth: [t if t.readable else None for t in truth.plates]
    )
    missed = _missed(required_plates, matched_plates)
    n_read = len(required_plates) - len(missed)
    for clip_id, track in missed:
        t = _readable_time(track)
        failures.append(
            Failure(
                "plate_read_rate",
                clip_id,
                t,
                _box_at(track.keyframes, t),
                f"plate {track.text!r} ({track.first_s:.1f}–{track.last_s:.1f} s) not reported",
            )
        )
    for p in false_reads:
        clip_id, at = _clip_time(timelines, p, tol)
        failures.append(
            Failure(
                "plate_false_read_rate",
                clip_id,
                at,
                _tuple_box(p.get("box")),
                f"plate {p['plate']['text']!r} reported at {_fmt_t(at)} matches no plate in view",
            )
        )

    # ---- faces
    matched_faces = [m.payload for m in valid if m.payload and m.payload["event_type"] == "face.matched"]
    face_hits, false_matches = _match_all(matched_faces, lambda f: _match_face(suite, timelines, f, tol))
    required_faces = _required_tracks(
        suite, timelines, warmup, lambda truth: [f if f.identity != UNKNOWN else None for f in truth.faces]
    )
    faces_missed = _missed(required_faces, face_hits)
    for clip_id, face in faces_missed:
        t = (face.first_s + face.last_s) / 2
        failures.append(
            Failure(
                "face_hit_rate",
                clip_id,
                t,
                _box_at(face.keyframes, t),
                f"{face.identity} ({face.first_s:.1f}–{face.last_s:.1f} s) not reported as matched",
            )
        )
    for f in false_matches:
        clip_id, at = _clip_time(timelines, f, tol)
        failures.append(
            Failure(
                "face_false_match_rate",
                clip_id,
                at,
                _tuple_box(f.get("box")),
                f"face.matched {f['person']!r} at {_fmt_t(at)}: that person is not in view",
            )
        )

    # ---- latency, schema, recovery
    latencies = [
        m.received - events.parse_time(m.payload["capture_time"])
        for m in valid
        if m.payload and m.payload["event_type"] in DETECTION_TYPES
    ]
    for m in invalid[:50]:
        failures.append(Failure("schema_validity", None, None, None, f"{m.topic}: {m.error}"))
    recoveries: list[tuple[str, float | None]] = []
    for clip_id, timeline in timelines.items():
        for back in timeline.returns:
            after = [
                m.received - back
                for m in valid
                if m.payload
                and m.payload["camera_id"] == clip_id
                and events.parse_time(m.payload["capture_time"]) >= back
            ]
            recoveries.append((clip_id, min(after) if after else None))

    measured: dict[str, tuple[float | None, str]] = {}
    n_req = len(required_plates)
    measured["plate_read_rate"] = (
        _ratio(n_read, n_req),
        f"{n_read} of {n_req} readable plate tracks reported with the right text"
        + (f"; missed e.g. {', '.join(repr(t.text) for _, t in missed[:3])}" if missed else ""),
    )
    measured["plate_false_read_rate"] = (
        _ratio(len(false_reads), len(plate_events)) if plate_events else 0.0,
        f"{len(false_reads)} of {len(plate_events)} plate events match no plate in view",
    )
    n_matched_events = sum(matched_plates.values())
    measured["plate_duplicate_rate"] = (
        _ratio(n_matched_events, len(matched_plates)),
        f"{n_matched_events} matched plate events for {len(matched_plates)} plate tracks shown",
    )
    n_face_req, n_face_hit = len(required_faces), len(required_faces) - len(faces_missed)
    measured["face_hit_rate"] = (
        _ratio(n_face_hit, n_face_req),
        f"{n_face_hit} of {n_face_req} watchlist face tracks reported as that person",
    )
    measured["face_false_match_rate"] = (
        _ratio(len(false_matches), len(matched_faces)) if matched_faces else 0.0,
        f"{len(false_matches)} of {len(matched_faces)} face.matched events name a person not in view",
    )
    p95 = round(float(np.percentile(latencies, 95)), 3) if latencies else None
    measured["latency_p95_s"] = (p95, f"p95 over {len(latencies)} detection events")
    first_bad = f"; first: {invalid[0].error}" if invalid else ""
    measured["schema_validity"] = (
        _ratio(len(valid), len(messages)),
        f"{len(valid)} of {len(messages)} messages valid{first_bad}",
    )
    if recoveries:
        lost = [c for c, v in recoveries if v is None]
        worst = None if lost else round(max(v for _, v in recoveries if v is not None), 3)
        why = (
            f"no event from {', '.join(lost)} after its stream came back"
            if lost
            else f"worst of {len(recoveries)} interruption(s)"
        )
        measured["recovery_time_s"] = (worst, why)
    else:
        measured["recovery_time_s"] = (None, "the suite has no stream interruption")

    results: dict[str, Result] = {}
    for name, threshold in man.requirements.items():
        value, why = measured[name]
        if value is None and name in UNDEFINED_WITHOUT_DATA:
            results[name] = Result(name, None, threshold.describe(), True, f"nothing to measure: {why}")
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            results[name] = Result(name, None, threshold.describe(), False, f"not measured: {why}")
            continue
        ok = threshold.passes(value)
        verdict = "" if ok else f"; {value:g} is not {threshold.describe()}"
        results[name] = Result(name, value, threshold.describe(), ok, why + verdict)
    # only what the suite asks for is a failure
    failures = [f for f in failures if f.requirement in man.requirements]
    counts = {
        "messages": len(messages),
        "invalid_messages": len(invalid),
        "events_by_type": dict(Counter(m.payload["event_type"] for m in valid if m.payload)),
        "plate_events": len(plate_events),
        "plate_tracks_required": n_req,
        "plate_tracks_read": n_read,
        "false_reads": len(false_reads),
        "face_tracks_required": n_face_req,
        "face_tracks_hit": n_face_hit,
        "face_matched_events": len(matched_faces),
        "false_matches": len(false_matches),
        "recoveries_s": {c: v for c, v in recoveries},
    }
    return Score(results, failures, latencies, counts)


def _fmt_t(t: float | None) -> str:
    return "an unknown time" if t is None else f"{t:.1f} s"


def _tuple_box(box: Any) -> tuple[float, float, float, float] | None:
    if isinstance(box, list) and len(box) == 4:
        return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
    return None


def _clip_time(
    timelines: dict[str, Timeline], payload: dict[str, Any], tol: float
) -> tuple[str, float | None]:
    clip_id = str(payload["camera_id"])
    timeline = timelines.get(clip_id)
    if timeline is None:
        return clip_id, None
    found = locate(timeline, events.parse_time(payload["capture_time"]), tol)
    return clip_id, (round(found[0][1], 2) if found else None)


def _match_plate(
    suite: Suite, timelines: dict[str, Timeline], payload: dict[str, Any], tol: float
) -> tuple[str, int, int, int] | None:
    clip_id = str(payload["camera_id"])
    timeline = timelines.get(clip_id)
    if timeline is None or clip_id not in suite.truths:
        return None
    text = plate_key(str(payload["plate"].get("normalised") or payload["plate"].get("text") or ""))
    if not text:
        return None
    tracks = suite.truths[clip_id].plates
    for play, t in locate(timeline, events.parse_time(payload["capture_time"]), tol):
        for i, track in enumerate(tracks):
            if plate_key(track.text) == text and track.first_s - tol <= t <= track.last_s + tol:
                return clip_id, play.segment, play.loop, i
    return None


def _match_face(
    suite: Suite, timelines: dict[str, Timeline], payload: dict[str, Any], tol: float
) -> tuple[str, int, int, int] | None:
    clip_id = str(payload["camera_id"])
    timeline = timelines.get(clip_id)
    if timeline is None or clip_id not in suite.truths:
        return None
    person = str(payload["person"])
    for play, t in locate(timeline, events.parse_time(payload["capture_time"]), tol):
        for i, face in enumerate(suite.truths[clip_id].faces):
            if face.identity == person and face.first_s - tol <= t <= face.last_s + tol:
                return clip_id, play.segment, play.loop, i
    return None
