"""Turn a sighting decision into an event payload (the agent's only output)."""

from __future__ import annotations

from typing import Any

from matthan.edge.sightings import Decision
from matthan.integration import events
from matthan.integration.events import Producer
from matthan.recognizers.base import CLASS_PLATE


def _clip01(value: Any) -> float:
    return round(min(1.0, max(0.0, float(value or 0.0))), 4)


def _common(decision: Decision, width: int, height: int, snapshot: dict[str, Any] | None) -> dict[str, Any]:
    x1, y1, x2, y2 = (round(float(v), 1) for v in decision.box)
    return {
        "box": [x1, y1, x2, y2],
        "score": _clip01(decision.score),
        "frame": {"width": width, "height": height},
        "track_id": decision.track_id if decision.track_id >= 0 else None,
        "snapshot": snapshot,
    }


def plate_fields(
    decision: Decision, width: int, height: int, snapshot: dict[str, Any] | None
) -> dict[str, Any]:
    f = decision.fields
    fmt = f.get("format") if f.get("format") in ("vn", "unknown") else "unknown"
    rows = f.get("rows")
    plate: dict[str, Any] = {
        "text": str(f.get("text") or f.get("normalised") or ""),
        "normalised": str(f.get("normalised") or ""),
        "rows": int(rows) if rows in (1, 2) else None,
        "format": fmt,
        "country": "VN" if fmt == "vn" else None,
        "province": f.get("province"),
        "province_code": f.get("province_code"),
        "category": f.get("category"),
        "colour": f.get("colour"),
        "confidence": _clip01(f.get("confidence")),
    }
    if f.get("candidates"):
        plate["candidates"] = [
            {"text": str(c["text"]), "confidence": _clip01(c["confidence"])} for c in f["candidates"][:10]
        ]
    return {"plate": plate, "stationary": decision.stationary, **_common(decision, width, height, snapshot)}


def face_fields(
    decision: Decision, width: int, height: int, snapshot: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """(event type, fields): face.matched when the track's majority matched a watchlist person."""
    f = decision.fields
    fields = _common(decision, width, height, snapshot)
    landmarks = f.get("landmarks")
    fields["landmarks"] = (
        None if landmarks is None else [[round(float(x), 1), round(float(y), 1)] for x, y in landmarks]
    )
    fields["quality"] = None if f.get("quality") is None else _clip01(f["quality"])
    person = f.get("person")
    if person and person != "unknown":
        fields.update(
            person=str(person),
            watchlist=str(f.get("watchlist") or "default"),
            distance=round(float(f.get("distance") or 0.0), 4),
            threshold=round(float(f.get("threshold") or 0.0), 4),
        )
        return "face.matched", fields
    return "face.detected", fields


def payload_for(
    decision: Decision,
    producer: Producer,
    camera_id: str,
    width: int,
    height: int,
    snapshot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The validated event for one decision."""
    if decision.class_id == CLASS_PLATE:
        return events.build(
            "plate.read",
            producer,
            camera_id,
            decision.capture_time,
            plate_fields(decision, width, height, snapshot),
        )
    event_type, fields = face_fields(decision, width, height, snapshot)
    return events.build(event_type, producer, camera_id, decision.capture_time, fields)
