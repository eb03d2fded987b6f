"""Events: built in one place, validated against the versioned JSON Schemas in `schemas/`, and
carried on Kafka as CloudEvents 1.0 in binary mode (ce_* headers, JSON payload as the value,
camera id as the key). The conformance runner reads them back with the same code."""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

SPEC_VERSION = "1.0"
SCHEMA_VERSION = 1
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class EventKind:
    """One event type: its schema file, CloudEvents type and the topic (suffix) it goes to."""

    event_type: str
    schema: str
    topic: str

    @property
    def ce_type(self) -> str:
        return f"vn.matthan.{self.event_type}.v{SCHEMA_VERSION}"


KINDS: dict[str, EventKind] = {
    k.event_type: k
    for k in (
        EventKind("plate.read", "plate_read.v1.json", "plates"),
        EventKind("face.detected", "face_detected.v1.json", "faces"),
        EventKind("face.matched", "face_matched.v1.json", "faces"),
        EventKind("camera.status", "camera_status.v1.json", "status"),
        EventKind("agent.heartbeat", "agent_heartbeat.v1.json", "status"),
    )
}
TOPIC_SUFFIXES: tuple[str, ...] = tuple(sorted({k.topic for k in KINDS.values()}))


class EventValidationError(ValueError):
    """An event does not follow its schema; the message names the field."""


def topic_for(event_type: str, prefix: str) -> str:
    return prefix + KINDS[event_type].topic


def topics(prefix: str) -> list[str]:
    return [prefix + suffix for suffix in TOPIC_SUFFIXES]


def isoformat(ts: float) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2026-11-27T14:16:19.123Z."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as written by `isoformat`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _schema_text(name: str) -> str:
    return resources.files("matthan.integration").joinpath("schemas", name).read_text(encoding="utf-8")


@functools.cache
def _validators() -> dict[str, Draft202012Validator]:
    common = json.loads(_schema_text("common.v1.json"))
    registry: Registry[Any] = Registry().with_resource(common["$id"], Resource.from_contents(common))
    out = {}
    for kind in KINDS.values():
        schema = json.loads(_schema_text(kind.schema))
        Draft202012Validator.check_schema(schema)
        out[kind.event_type] = Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
    return out


def validate(payload: dict[str, Any]) -> None:
    """Raise EventValidationError unless `payload` follows the schema of its `event_type`."""
    event_type = payload.get("event_type")
    if event_type not in KINDS:
        raise EventValidationError(f"unknown event_type {event_type!r}; known: {', '.join(KINDS)}")
    try:
        _validators()[str(event_type)].validate(payload)
    except ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise EventValidationError(f"{event_type} event invalid at {where}: {exc.message}") from None


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Producer:
    """Who makes events: goes into every payload and the CloudEvents source."""

    agent_id: str
    agent_version: str
    models: dict[str, str]

    def source(self, camera_id: str) -> str:
        return f"urn:matthan:agent:{self.agent_id}:camera:{camera_id}"


def build(
    event_type: str,
    producer: Producer,
    camera_id: str,
    capture_time: float,
    fields: dict[str, Any],
    *,
    emit_time: float | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The payload of one event, validated. `fields` are the type-specific fields."""
    payload: dict[str, Any] = {
        "event_id": event_id or new_event_id(),
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "camera_id": camera_id,
        "agent_id": producer.agent_id,
        "capture_time": isoformat(capture_time),
        "emit_time": isoformat(emit_time if emit_time is not None else datetime.now(UTC).timestamp()),
        "producer": {"agent_version": producer.agent_version, "models": dict(producer.models)},
        **fields,
    }
    validate(payload)
    return payload


@dataclass(frozen=True)
class KafkaRecord:
    """What goes on the wire: key, value and headers of one Kafka message."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def to_kafka(payload: dict[str, Any], producer: Producer, topic_prefix: str) -> KafkaRecord:
    """CloudEvents 1.0 binary content mode for Kafka."""
    kind = KINDS[payload["event_type"]]
    headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", payload["event_id"].encode()),
        ("ce_source", producer.source(payload["camera_id"]).encode()),
        ("ce_type", kind.ce_type.encode()),
        ("ce_time", payload["emit_time"].encode()),
        ("ce_subject", payload["camera_id"].encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    value = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return KafkaRecord(topic_prefix + kind.topic, payload["camera_id"].encode(), value, headers)


REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")


def from_kafka(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Decode and check one received message: headers, key and payload must agree with the schema.

    Raises EventValidationError with the reason; used by the console view and the conformance runner.
    """
    hdr = {k: v.decode("utf-8", "replace") for k, v in headers}
    missing = [h for h in REQUIRED_HEADERS if h not in hdr]
    if missing:
        raise EventValidationError(f"missing CloudEvents headers: {', '.join(missing)}")
    if hdr["ce_specversion"] != SPEC_VERSION:
        raise EventValidationError(f"ce_specversion is {hdr['ce_specversion']!r}, expected {SPEC_VERSION}")
    try:
        payload = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventValidationError(f"value is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise EventValidationError("value is not a JSON object")
    validate(payload)
    if hdr["ce_id"] != payload["event_id"]:
        raise EventValidationError("ce_id header differs from payload event_id")
    kind = KINDS[payload["event_type"]]
    if hdr["ce_type"] != kind.ce_type:
        raise EventValidationError(f"ce_type {hdr['ce_type']!r} does not match event_type ({kind.ce_type})")
    if key is None or key.decode("utf-8", "replace") != payload["camera_id"]:
        raise EventValidationError("message key is not the camera id")
    return payload
