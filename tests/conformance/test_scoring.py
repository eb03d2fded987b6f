"""Scoring without services: events built with our own schema code, mapped onto clip time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from matthan.benchmarks.conformance.scoring import Message, Segment, Timeline, plate_key, plays, score
from matthan.benchmarks.conformance.suite import (
    Clip,
    ClipTruthFile,
    FaceTrack,
    Manifest,
    Matching,
    Person,
    PlateTrack,
    RunSettings,
    Suite,
    Threshold,
    Watchlist,
)
from matthan.integration import events

T0 = 1_800_000_000.0
PRODUCER = events.Producer("vendor", "1.0", {})
ALL = {
    "plate_read_rate": Threshold(min=0.5),
    "plate_false_read_rate": Threshold(max=0.25),
    "plate_duplicate_rate": Threshold(max=1.5),
    "face_hit_rate": Threshold(min=1.0),
    "face_false_match_rate": Threshold(max=0.0),
    "latency_p95_s": Threshold(max=2.0),
    "schema_validity": Threshold(min=1.0),
    "recovery_time_s": Threshold(max=5.0),
}


def suite() -> Suite:
    manifest = Manifest(
        name="unit",
        clips=[Clip(id="cam", file="x.mp4", truth="x.json", duration_s=20.0)],
        watchlist=Watchlist(people=[Person(id="ann", images=["ann.jpg"])]),
        matching=Matching(time_tolerance_s=1.0),
        run=RunSettings(warmup_s=1.0),
        requirements=ALL,
    )
    truth = ClipTruthFile(
        plates=[
            PlateTrack(text="29A-123.45", first_s=2, last_s=5),
            PlateTrack(text="30F-999.99", first_s=8, last_s=12),
            PlateTrack(text="51G-000.01", first_s=14, last_s=16, readable=False),
        ],
        faces=[
            FaceTrack(identity="ann", first_s=3, last_s=9),
            FaceTrack(identity="unknown", first_s=10, last_s=15),
        ],
    )
    return Suite(Path("/nonexistent"), manifest, {"cam": truth})


def message(event_type: str, clip_t: float, fields: dict[str, Any], delay: float = 0.5) -> Message:
    payload = events.build(event_type, PRODUCER, "cam", T0 + clip_t, fields)
    rec = events.to_kafka(payload, PRODUCER, "p.")
    return Message.check(rec.topic, rec.key, rec.value, rec.headers, T0 + clip_t + delay)


def plate(clip_t: float, text: str) -> Message:
    fields = {
        "plate": {"text": text, "normalised": plate_key(text), "format": "unknown", "confidence": 0.9},
        "box": [1, 2, 30, 12],
        "score": 0.9,
        "frame": {"width": 640, "height": 480},
    }
    return message("plate.read", clip_t, fields)


def face(clip_t: float, person: str) -> Message:
    fields = {
        "box": [1, 2, 30, 40],
        "score": 0.9,
        "frame": {"width": 640, "height": 480},
        "person": person,
        "watchlist": "w",
        "distance": 0.3,
        "threshold": 0.48,
    }
    return message("face.matched", clip_t, fields)


def status(clip_t: float) -> Message:
    fields = {"status": "online", "reason": "back"}
    return message("camera.status", clip_t, fields)


def timeline() -> dict[str, Timeline]:
    return {"cam": Timeline("cam", 20.0, [Segment(T0, T0 + 20.0)], returns=[T0 + 6.0])}


def test_a_good_run_passes_every_requirement() -> None:
    msgs = [plate(4.0, "29A-123.45"), plate(11.0, "30F 99999"), face(5.0, "ann"), status(6.5)]
    result = score(suite(), timeline(), msgs)
    assert result.passed, {k: r.reason for k, r in result.results.items()}
    assert result.results["plate_read_rate"].value == 1.0  # the unreadable plate is not required
    assert result.results["recovery_time_s"].value == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("msgs", "failing", "reason"),
    [
        ([plate(4.0, "29A-123.45"), face(6.0, "ann"), status(6.5)], set(), ""),
        ([face(6.0, "ann"), status(6.5)], {"plate_read_rate"}, "0 of 2 readable plate tracks"),
        (
            [
                plate(4.0, "29A12345"),
                plate(11.0, "30F99999"),
                plate(11.5, "99X99999"),
                face(6, "ann"),
                status(7),
            ],
            {"plate_false_read_rate"},
            "1 of 3 plate events match no plate in view",
        ),
        (
            [
                plate(4.0, "29A12345"),
                plate(4.5, "29A12345"),
                plate(5.0, "29A12345"),
                face(6, "ann"),
                status(7),
            ],
            {"plate_duplicate_rate"},
            "3 matched plate events for 1 plate tracks",
        ),
        (
            [plate(4.0, "29A12345"), plate(11, "30F99999"), face(12.0, "ann"), status(7)],
            {"face_hit_rate", "face_false_match_rate"},
            "face.matched events name a person not in view",
        ),
        ([plate(4.0, "29A12345"), face(5.0, "ann")], {"recovery_time_s"}, "no event from cam after"),
    ],
)
def test_each_failure_is_named_with_its_reason(msgs: list[Message], failing: set[str], reason: str) -> None:
    result = score(suite(), timeline(), msgs)
    failed = {k for k, r in result.results.items() if not r.passed}
    assert failed == failing
    if reason:
        assert any(reason in result.results[k].reason for k in failing)


def test_malformed_messages_fail_schema_validity_with_the_validator_reason() -> None:
    good = plate(4.0, "29A12345")
    no_id = Message.check(good.topic, good.key, good.value, [h for h in good.headers if h[0] != "ce_id"], T0)
    wrong_key = Message.check(good.topic, b"other", good.value, good.headers, T0)
    result = score(suite(), timeline(), [good, no_id, wrong_key, face(6, "ann"), status(7)])
    validity = result.results["schema_validity"]
    assert not validity.passed and validity.value == pytest.approx(3 / 5)
    assert "missing CloudEvents headers: ce_id" in validity.reason
    whats = [f.what for f in result.failures if f.requirement == "schema_validity"]
    assert any("message key is not the camera id" in w for w in whats)


def test_loops_and_restarts_map_events_to_the_play_they_belong_to() -> None:
    tl = Timeline("cam", 20.0, [Segment(T0, T0 + 26.0), Segment(T0 + 30.0, T0 + 35.0)])
    assert [(p.segment, p.loop, p.shown_s) for p in plays(tl)] == [(0, 0, 20.0), (0, 1, 6.0), (1, 0, 5.0)]
    # the plate at 2-5 s was shown whole in the second loop: a read there counts
    msgs = [plate(20.0 + 4.0, "29A12345"), face(6.0, "ann")]
    result = score(suite(), {"cam": tl}, msgs)
    assert result.counts["plate_tracks_read"] == 1 and result.counts["false_reads"] == 0
