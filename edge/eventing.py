"""Turn one frame's Detections into event payloads (the agent's only output)."""

from __future__ import annotations

from typing import Any

from matthan.integration import events
from matthan.integration.events import Producer
from matthan.recognizers.base import CLASS_FACE, CLASS_PLATE, Detections


def _value(det: Detections, key: str, i: int, default: Any = None) -> Any:
    values = det.data.get(key)
    return default if values is None else values[i]


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _common(det: Detections, i: int, width: int, height: int) -> dict[str, Any]:
    x1, y1, x2, y2 = (round(float(v), 1) for v in det.boxes[i])
    track = int(det.track_ids[i])
    return {
        "box": [x1, y1, x2, y2],
        "score": round(_clip01(det.scores[i]), 4),
        "frame": {"width": width, "height": height},
        "track_id": track if track >= 0 else None,
    }


def plate_fields(det: Detections, i: int, width: int, height: int) -> dict[str, Any] | None:
    """The plate.read fields of object i, or None when the reader produced no text."""
    text = _value(det, "text", i)
    if not text:
        return None
    fmt = _value(det, "format", i, "unknown")
    plate: dict[str, Any] = {
        "text": str(text),
        "normalised": str(_value(det, "normalised", i, "")),
        "rows": _value(det, "rows", i),
        "format": fmt if fmt in ("vn", "unknown") else "unknown",
        "country": "VN" if fmt == "vn" else None,
        "province": _value(det, "province", i),
        "province_code": _value(det, "province_code", i),
        "category": _value(det, "category", i),
        "colour": _value(det, "colour", i),
        "confidence": round(_clip01(_value(det, "confidence", i, 0.0)), 4),
    }
    candidates = _value(det, "candidates", i)
    if candidates:
        plate["candidates"] = [
            {"text": str(c["text"]), "confidence": round(_clip01(c["confidence"]), 4)}
            for c in candidates[:10]
        ]
    return {"plate": plate, **_common(det, i, width, height)}


def face_fields(det: Detections, i: int, width: int, height: int) -> tuple[str, dict[str, Any]]:
    """(event type, fields) of face i: face.matched when a watchlist person matched."""
    fields = _common(det, i, width, height)
    landmarks = _value(det, "landmarks", i)
    fields["landmarks"] = (
        None if landmarks is None else [[round(float(x), 1), round(float(y), 1)] for x, y in landmarks]
    )
    quality = _float_or_none(_value(det, "quality", i))
    fields["quality"] = None if quality is None else round(_clip01(quality), 4)
    person = _value(det, "person", i)
    if person and person != "unknown":
        fields.update(
            person=str(person),
            watchlist=str(_value(det, "watchlist", i, "default")),
            distance=round(float(_value(det, "distance", i, 0.0)), 4),
            threshold=round(float(_value(det, "threshold", i, 0.0)), 4),
        )
        return "face.matched", fields
    return "face.detected", fields


def payloads_for(
    det: Detections, producer: Producer, camera_id: str, capture_time: float, width: int, height: int
) -> list[dict[str, Any]]:
    """Every event that `det` gives rise to, validated against its schema."""
    out = []
    for i in range(len(det)):
        cls = int(det.class_ids[i])
        if cls == CLASS_PLATE:
            fields = plate_fields(det, i, width, height)
            if fields is not None:
                out.append(events.build("plate.read", producer, camera_id, capture_time, fields))
        elif cls == CLASS_FACE:
            event_type, fields = face_fields(det, i, width, height)
            out.append(events.build(event_type, producer, camera_id, capture_time, fields))
    return out
