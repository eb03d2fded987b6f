"""The centre's console view: consume every matthan topic and print one line per event."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from kafka.errors import KafkaError

from matthan.integration import events
from matthan.integration.kafka import KafkaSettings, make_consumer

log = logging.getLogger(__name__)


def summary(payload: dict[str, Any]) -> str:
    """One readable line for one event."""
    t = payload["capture_time"][11:23]
    cam = payload["camera_id"]
    kind = payload["event_type"]
    if kind == "plate.read":
        p = payload["plate"]
        where = f", {p['province']}" if p.get("province") else ""
        text = p["text"].replace("\n", " ")
        detail = f"{text}  ({p['format']}{where}, conf {p['confidence']:.2f})"
    elif kind == "face.matched":
        detail = f"{payload['person']} on {payload['watchlist']} (distance {payload['distance']:.3f})"
    elif kind == "face.detected":
        q = payload.get("quality")
        detail = "unknown face" + (f" (quality {q:.2f})" if q is not None else "")
    elif kind == "camera.status":
        detail = f"{payload['status'].upper()}: {payload['reason']}"
    elif kind == "agent.heartbeat":
        cams = ", ".join(
            f"{c['camera_id']} {c['status']} "
            f"{c.get('analysed_frames', 0)} analysed/{c.get('events', 0)} events"
            for c in payload["cameras"]
        )
        detail = f"agent up {payload['uptime_s']:.0f} s; {cams}"
    else:  # pragma: no cover - validate() rejects unknown types
        detail = ""
    return f"{t}  {cam:<14} {kind:<16} {detail}"


class ConsoleView:
    """Prints events from Kafka until `stop()`; malformed messages are printed as such, not dropped."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic_prefix: str,
        out: TextIO,
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.settings = settings
        self.topic_prefix = topic_prefix
        self.out = out
        self.on_event = on_event
        self.count = 0
        self.invalid = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        consumer = None
        while not self._stop.is_set():
            try:
                if consumer is None:
                    consumer = make_consumer(
                        self.settings,
                        *events.topics(self.topic_prefix),
                        group_id=None,
                        metadata_max_age_ms=2000,
                    )
                batches = consumer.poll(timeout_ms=500)
            except KafkaError as exc:
                log.warning("console: broker unreachable (%s); retrying", exc)
                if consumer is not None:
                    consumer.close()
                consumer = None
                self._stop.wait(1.0)
                continue
            for records in batches.values():
                for msg in records:
                    self._show(msg.key, msg.value, list(msg.headers or []))
        if consumer is not None:
            consumer.close()

    def _show(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        try:
            payload = events.from_kafka(key, value, headers)
        except events.EventValidationError as exc:
            self.invalid += 1
            print(f"{datetime.now():%H:%M:%S.%f}"[:12] + f"  INVALID EVENT: {exc}", file=self.out, flush=True)
            return
        self.count += 1
        print(summary(payload), file=self.out, flush=True)
        if self.on_event is not None:
            self.on_event(payload)
