"""Reading events back from a real broker in tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from matthan.integration import events
from matthan.integration.kafka import KafkaSettings, make_consumer


class EventCollector:
    """Consumes every matthan topic from the beginning; each message is checked with from_kafka."""

    def __init__(self, bootstrap: str, prefix: str):
        self.consumer = make_consumer(
            KafkaSettings(bootstrap_servers=bootstrap),
            *events.topics(prefix),
            group_id=None,
            metadata_max_age_ms=1000,
        )
        self.events: list[dict[str, Any]] = []
        self.raw: list[Any] = []

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=200).values():
                for msg in records:
                    self.raw.append(msg)
                    self.events.append(events.from_kafka(msg.key, msg.value, list(msg.headers or [])))

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float) -> dict[str, Any]:
        """The first event (seen so far or arriving within `timeout_s`) that matches."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            if time.monotonic() > deadline:
                kinds = [(e["event_type"], e.get("status")) for e in self.events]
                raise AssertionError(f"no matching event within {timeout_s} s; got {kinds}")
            self.poll(0.3)

    def close(self) -> None:
        self.consumer.close()


def status_of(camera_id: str, status: str) -> Callable[[dict[str, Any]], bool]:
    return (
        lambda e: e["event_type"] == "camera.status" and e["camera_id"] == camera_id and e["status"] == status
    )
