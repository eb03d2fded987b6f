"""One event per sighting: tracking + voting turn many readings into one decision per track."""

from __future__ import annotations

from typing import Any

import numpy as np

from matthan.edge.sightings import Reading, Sightings, SightingSettings, vote_plate
from matthan.edge.tracking import Tracker
from matthan.recognizers.base import CLASS_FACE, CLASS_PLATE, Detections

FPS = 5.0


def plate_frame(objects: list[tuple[float, float, str | None, float]]) -> Detections:
    """Plates at (x, y) with text and reader confidence; 80x30 px boxes."""
    return Detections(
        boxes=[[x, y, x + 80, y + 30] for x, y, _, _ in objects],
        scores=[0.9] * len(objects),
        class_ids=[CLASS_PLATE] * len(objects),
        data={
            "text": [t for _, _, t, _ in objects],
            "normalised": [t for _, _, t, _ in objects],
            "confidence": [c for _, _, _, c in objects],
            "format": ["vn" if t else "unknown" for _, _, t, _ in objects],
        },
    )


def run(frames: list[Detections], settings: SightingSettings | None = None, t0: float = 0.0) -> list[Any]:
    tracker = Tracker(FPS, lost_after_s=1.0)
    sightings = Sightings(settings or SightingSettings(lost_after_s=1.0))
    decisions = []
    image = np.zeros((720, 1280, 3), np.uint8)
    for i, det in enumerate(frames):
        t = t0 + i / FPS
        decisions += sightings.update(tracker.update(det, t), t, image)
    return decisions + sightings.flush()


def test_a_moving_plate_read_thirty_times_gives_one_event_with_the_consensus() -> None:
    texts = ["29B112345"] * 24 + ["29B112346"] * 4 + ["28B112345"] * 2  # a few misreads
    frames = [plate_frame([(100 + 12 * i, 400, t, 0.8)]) for i, t in enumerate(texts)]
    decisions = run(frames)
    assert len(decisions) == 1
    d = decisions[0]
    assert d.fields["normalised"] == "29B112345"
    assert d.fields["candidates"][0]["text"] == "29B112345"
    assert d.stationary is False
    assert d.crop is not None and d.crop.shape[0] > 0


def test_two_vehicles_give_two_events() -> None:
    frames = [
        plate_frame([(100 + 10 * i, 100, "30A12345", 0.9), (900 - 10 * i, 500, "51F35613", 0.9)])
        for i in range(15)
    ]
    assert sorted(d.fields["normalised"] for d in run(frames)) == ["30A12345", "51F35613"]


def test_too_few_readings_give_no_event() -> None:
    frames = [plate_frame([(100, 100, "30A12345", 0.9)])] * 2 + [Detections.empty()] * 10
    assert run(frames) == []


def test_unread_plates_are_not_reported() -> None:
    frames = [plate_frame([(100 + 10 * i, 100, None, 0.0)]) for i in range(10)]
    assert run(frames) == []


def test_parked_vehicle_is_reported_once_as_stationary() -> None:
    frames = [plate_frame([(500, 300, "30A12345", 0.9)]) for _ in range(int(FPS * 30))]
    decisions = run(frames)
    assert len(decisions) == 1
    assert decisions[0].stationary is True


def test_same_plate_returns_after_the_gap_but_not_before() -> None:
    moving = [plate_frame([(100 + 15 * i, 200, "30A12345", 0.9)]) for i in range(10)]
    gone_briefly = [Detections.empty()] * int(FPS * 2)  # track lost, plate absent 2 s
    gone_long = [Detections.empty()] * int(FPS * 12)
    settings = SightingSettings(lost_after_s=1.0, reemit_gap_s=10.0)
    assert len(run(moving + gone_briefly + moving, settings)) == 1
    assert len(run(moving + gone_long + moving, settings)) == 2


def test_vote_prefers_grammar_valid_confident_large_readings() -> None:
    box_small, box_big = np.array([0, 0, 40, 15], np.float32), np.array([0, 0, 200, 60], np.float32)
    readings = [
        Reading(0.0, box_small, 0.9, {"normalised": "3OA12345", "confidence": 0.9, "format": "unknown"}),
        Reading(0.2, box_small, 0.9, {"normalised": "3OA12345", "confidence": 0.9, "format": "unknown"}),
        Reading(0.4, box_big, 0.9, {"normalised": "30A12345", "confidence": 0.9, "format": "vn"}),
    ]
    candidates, best = vote_plate(readings, 5)
    assert candidates[0][0] == "30A12345"  # one character apart: one cluster, won by the heavier text
    assert best is not None and best.capture_time == 0.4
    assert abs(sum(w for _, w in candidates) - 1.0) < 1e-6


def face_frame(x: float, person: str | None, distance: float = 0.3) -> Detections:
    return Detections(
        boxes=[[x, 100, x + 60, 170]],
        scores=[0.95],
        class_ids=[CLASS_FACE],
        data={
            "person": [person or "unknown"],
            "distance": [distance],
            "quality": [0.8],
            "watchlist": ["wanted"],
        },
    )


def test_face_identity_is_decided_over_several_sightings() -> None:
    people = ["p7", "p7", None, "p7", "p7", "p7"]
    decisions = run([face_frame(100 + 5 * i, p) for i, p in enumerate(people)])
    assert len(decisions) == 1
    assert decisions[0].fields["person"] == "p7"


def test_face_with_scattered_matches_stays_unknown() -> None:
    people = ["p1", None, "p2", None, "p3", None, None, None, None, None]
    decisions = run([face_frame(100 + 5 * i, p) for i, p in enumerate(people)])
    assert len(decisions) == 1
    assert decisions[0].fields["person"] == "unknown"


def test_vehicle_region_snapshot_reaches_above_the_plate() -> None:
    from matthan.edge.sightings import crop

    image = np.zeros((720, 1280, 3), np.uint8)
    box = np.array([600, 500, 680, 530], np.float32)
    plate = crop(image, box, 0.15)
    vehicle = crop(image, box, 0.15, vehicle=True)
    assert plate.shape[:2] == (40, 104)
    assert vehicle.shape[:2] == (30 * 7, 80 * 4)


def test_a_plate_never_read_with_confidence_is_not_reported() -> None:
    """Regression: garbage readings of a blurred plate (e.g. '1V1W341' at confidence 0.16) were
    reported when their track ended, as false reads and 0.9 s late."""
    texts = ["1V1W341", "1V1179", "31714", "1V1W341", "3V1179"]
    frames = [plate_frame([(100 + 12 * i, 400, t, 0.15)]) for i, t in enumerate(texts)]
    settings = SightingSettings(lost_after_s=1.0)
    tracker, sightings = Tracker(FPS, lost_after_s=1.0), Sightings(settings)
    decisions = []
    for i, det in enumerate([*frames, *[Detections.empty()] * 10]):
        decisions += sightings.update(tracker.update(det, i / FPS), i / FPS)
    assert decisions == []
    assert sightings.unreported == 1
