"""Event payloads, their schemas and the CloudEvents binary mapping."""

from __future__ import annotations

import json
from contextlib import nullcontext as does_not_raise
from typing import Any

import pytest

from matthan.integration import events
from matthan.integration.events import EventValidationError, Producer

PRODUCER = Producer("edge-1", "0.1.0", {"plate-reader": "abc123"})
BOX = {"box": [1.0, 2.0, 30.0, 40.0], "score": 0.9, "frame": {"width": 640, "height": 360}, "track_id": None}
VALID: dict[str, dict[str, Any]] = {
    "plate.read": {
        "plate": {
            "text": "29-B1\n123.45",
            "normalised": "29B112345",
            "rows": 2,
            "format": "vn",
            "country": "VN",
            "province": "Hà Nội",
            "province_code": "29",
            "category": "civil",
            "colour": "white",
            "confidence": 0.97,
        },
        **BOX,
    },
    "face.detected": {**BOX, "landmarks": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]], "quality": 0.8},
    "face.matched": {**BOX, "person": "p1", "watchlist": "wanted", "distance": 0.3, "threshold": 0.5},
    "camera.status": {
        "status": "offline",
        "previous": "online",
        "reason": "connection refused",
        "url": "rtsp://u:***@h/x",
        "stream": None,
        "reconnects": 2,
    },
    "agent.heartbeat": {"uptime_s": 3.0, "cameras": [{"camera_id": "cam-1", "status": "online"}]},
}


def test_every_kind_has_a_valid_example() -> None:
    assert set(VALID) == set(events.KINDS)


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_valid_events_build_and_round_trip(event_type: str) -> None:
    payload = events.build(event_type, PRODUCER, "cam-1", 1_790_000_000.123, VALID[event_type])
    assert payload["capture_time"] == "2026-09-21T14:13:20.123Z"
    record = events.to_kafka(payload, PRODUCER, "matthan.")
    assert record.topic == "matthan." + events.KINDS[event_type].topic
    assert record.key == b"cam-1"
    headers = dict(record.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"].decode() == payload["event_id"]
    assert headers["ce_type"].decode() == f"vn.matthan.{event_type}.v1"
    assert headers["ce_source"] == b"urn:matthan:agent:edge-1:camera:cam-1"
    assert headers["content-type"] == b"application/json"
    assert events.from_kafka(record.key, record.value, record.headers) == payload


def _broken(event_type: str, path: list[str], value: Any) -> dict[str, Any]:
    fields = json.loads(json.dumps(VALID[event_type]))
    target = fields
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return fields


@pytest.mark.parametrize(
    ("event_type", "fields", "expectation"),
    [
        (
            "plate.read",
            _broken("plate.read", ["plate", "normalised"], "29-b1"),
            pytest.raises(EventValidationError),
        ),
        ("plate.read", _broken("plate.read", ["plate", "format"], "us"), pytest.raises(EventValidationError)),
        (
            "plate.read",
            _broken("plate.read", ["plate", "confidence"], 1.5),
            pytest.raises(EventValidationError),
        ),
        ("plate.read", _broken("plate.read", ["box"], [1, 2, 3]), pytest.raises(EventValidationError)),
        ("plate.read", _broken("plate.read", ["plate"], KeyError), pytest.raises(EventValidationError)),
        ("plate.read", {**VALID["plate.read"], "unexpected": 1}, pytest.raises(EventValidationError)),
        ("face.matched", _broken("face.matched", ["person"], KeyError), pytest.raises(EventValidationError)),
        (
            "camera.status",
            _broken("camera.status", ["status"], "broken"),
            pytest.raises(EventValidationError),
        ),
        (
            "agent.heartbeat",
            _broken("agent.heartbeat", ["uptime_s"], -1),
            pytest.raises(EventValidationError),
        ),
        ("camera.status", _broken("camera.status", ["reconnects"], 0), does_not_raise()),
    ],
)
def test_schema_rejects_bad_fields(event_type: str, fields: dict[str, Any], expectation: Any) -> None:
    with expectation:
        events.build(event_type, PRODUCER, "cam-1", 1_790_000_000.0, fields)


def test_bad_camera_id_is_rejected() -> None:
    with pytest.raises(EventValidationError, match="camera_id"):
        events.build("camera.status", PRODUCER, "cam 1/../x", 1.0, VALID["camera.status"])


def _record() -> events.KafkaRecord:
    payload = events.build("camera.status", PRODUCER, "cam-1", 1.0, VALID["camera.status"])
    return events.to_kafka(payload, PRODUCER, "")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda k, v, h: (k, v, [x for x in h if x[0] != "ce_id"]), "missing CloudEvents headers: ce_id"),
        (
            lambda k, v, h: (k, v, [(a, b"2.0" if a == "ce_specversion" else b) for a, b in h]),
            "ce_specversion",
        ),
        (
            lambda k, v, h: (k, v, [(a, b"other" if a == "ce_id" else b) for a, b in h]),
            "ce_id header differs",
        ),
        (lambda k, v, h: (b"cam-2", v, h), "key is not the camera id"),
        (lambda k, v, h: (None, v, h), "key is not the camera id"),
        (lambda k, v, h: (k, b"{not json", h), "not JSON"),
        (lambda k, v, h: (k, b"[1]", h), "not a JSON object"),
        (
            lambda k, v, h: (k, v, [(a, b"vn.matthan.plate.read.v1" if a == "ce_type" else b) for a, b in h]),
            "ce_type",
        ),
    ],
)
def test_received_messages_are_checked(mutate: Any, message: str) -> None:
    rec = _record()
    key, value, headers = mutate(rec.key, rec.value, rec.headers)
    with pytest.raises(EventValidationError, match=message):
        events.from_kafka(key, value, headers)
