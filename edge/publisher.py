"""Sends spooled events to Kafka in order and removes each one once the broker acknowledged it
(acks=all). An unreachable broker is retried with backoff while the agent goes on analysing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka.errors import KafkaError, MessageSizeTooLargeError

from matthan.edge.spool import Spool, SpooledEvent
from matthan.integration.events import topics
from matthan.integration.kafka import KafkaSettings, ensure_topics, make_producer

log = logging.getLogger(__name__)


class Publisher:
    """One thread that drains the spool into Kafka."""

    def __init__(
        self,
        spool: Spool,
        settings: KafkaSettings,
        topic_prefix: str,
        *,
        batch: int = 200,
        backoff_max_s: float = 5.0,
        on_acked: Callable[[list[SpooledEvent], float], None] | None = None,
    ):
        self.spool = spool
        self.settings = settings
        self.topic_prefix = topic_prefix
        self.batch = batch
        self.backoff_max_s = backoff_max_s
        self.on_acked = on_acked
        self.delivered = 0
        self.connected = False
        self._producer: Any = None
        self._topics_ready = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.down_since: float | None = None

    def start(self) -> Publisher:
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()
        return self

    def stop(self, flush_timeout_s: float = 10.0) -> None:
        """Send what can be sent within `flush_timeout_s`, then stop; the rest stays in the spool."""
        deadline = time.monotonic() + flush_timeout_s
        while self.spool.depth() and self.connected and time.monotonic() < deadline:
            self.spool.added.set()
            time.sleep(0.05)
        self._stop.set()
        self.spool.added.set()
        if self._thread is not None:
            self._thread.join(max(1.0, deadline - time.monotonic()))
        self._close_producer()

    def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=2)
            except Exception:  # closing a producer to a dead broker may fail; nothing to keep
                log.debug("closing producer failed", exc_info=True)

    def _mark_down(self, reason: str) -> None:
        if self.connected or self.down_since is None:
            where = ",".join(self.settings.client_config()["bootstrap_servers"])
            log.warning(
                "Kafka broker %s unreachable (%s); %d events stay in the spool and are sent when it returns",
                where,
                reason,
                self.spool.depth(),
            )
            self.down_since = time.monotonic()
        self.connected = False
        # tansu forgets producer ids on restart, so an idempotent producer must be made anew
        self._close_producer()

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            pending = self.spool.peek(self.batch)
            if not pending:
                self.spool.added.wait(0.5)
                self.spool.added.clear()
                continue
            try:
                if self._producer is None:
                    if not self._topics_ready:
                        ensure_topics(self.settings, topics(self.topic_prefix))
                        self._topics_ready = True
                    self._producer = make_producer(self.settings)
                sent = self._send(pending)
                if not self.connected:
                    if self.down_since is not None:
                        log.info(
                            "Kafka broker reachable again; sending %d spooled events", self.spool.depth()
                        )
                    self.connected = True
                    self.down_since = None
                backoff = 0.2
                self.delivered += sent
            except KafkaError as exc:
                self._mark_down(f"{type(exc).__name__}: {exc}"[:200])
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)

    def _send(self, pending: list[SpooledEvent]) -> int:
        futures = []
        for item in pending:
            rec = item.record
            try:
                fut = self._producer.send(rec.topic, key=rec.key, value=rec.value, headers=rec.headers)
            except MessageSizeTooLargeError as exc:
                log.error("event %s can never be delivered and was set aside: %s", item.event_id, exc)
                self.spool.reject(item.seq, f"too large: {exc}")
                continue
            futures.append((item, fut))
        self._producer.flush(timeout=self.settings.request_timeout_ms / 1000)
        acked: list[SpooledEvent] = []
        failure: KafkaError | None = None
        for item, fut in futures:
            try:
                fut.get(timeout=0)
                acked.append(item)
            except MessageSizeTooLargeError as exc:
                self.spool.reject(item.seq, f"too large: {exc}")
            except KafkaError as exc:
                failure = failure or exc
            except Exception as exc:  # future not done within the flush timeout
                failure = failure or KafkaError(f"not acknowledged in time: {exc}")
        self.spool.remove([item.seq for item in acked])
        if self.on_acked is not None and acked:
            self.on_acked(acked, time.time())
        if failure is not None:
            raise failure
        return len(acked)
