"""The durable spool and the publisher that drains it into a real broker."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from matthan.edge.publisher import Publisher
from matthan.edge.spool import Spool
from matthan.integration import events
from matthan.integration.broker import EmbeddedBroker
from matthan.integration.events import KafkaRecord, Producer
from matthan.integration.kafka import KafkaSettings
from tests.integration.kafka_helpers import EventCollector

PRODUCER = Producer("edge-1", "test", {})


def status_record(prefix: str, reason: str = "x") -> tuple[str, KafkaRecord]:
    fields = {"status": "online", "reason": reason, "url": "rtsp://h/x", "stream": None, "reconnects": 0}
    payload = events.build("camera.status", PRODUCER, "cam-1", time.time(), fields)
    return payload["event_id"], events.to_kafka(payload, PRODUCER, prefix)


def test_spool_is_fifo_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    spool = Spool(path)
    ids = []
    for i in range(5):
        event_id, record = status_record("p.", reason=f"r{i}")
        spool.put(event_id, record)
        ids.append(event_id)
    spool.put(ids[0], status_record("p.")[1])  # the same event id twice is kept once
    first = spool.peek(2)
    assert [e.event_id for e in first] == ids[:2]
    spool.remove([e.seq for e in first])
    spool.close()

    reopened = Spool(path)
    assert reopened.depth() == 3
    left = reopened.peek(10)
    assert [e.event_id for e in left] == ids[2:]
    assert dict(left[0].record.headers)["ce_id"].decode() == ids[2]
    reopened.reject(left[0].seq, "too large")
    assert reopened.depth() == 2 and reopened.rejected_count() == 1
    assert reopened.oldest_age_s() >= 0
    reopened.close()


@pytest.mark.integration
def test_publisher_delivers_in_order_and_sets_aside_oversized_events(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    spool = Spool(tmp_path / "spool.sqlite")
    ids = []
    for i in range(20):
        event_id, record = status_record(prefix, reason=f"r{i}")
        spool.put(event_id, record)
        ids.append(event_id)
    big_id, big = status_record(prefix, reason="big")
    spool.put(big_id, KafkaRecord(big.topic, big.key, big.value + b" " * 2_000_000, big.headers))
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
    publisher = Publisher(spool, settings, prefix).start()
    seen = EventCollector(broker.bootstrap_servers, prefix)
    try:
        seen.wait_for(lambda e: e["event_id"] == ids[-1], 20)
    finally:
        publisher.stop()
        seen.close()
    received = [e["event_id"] for e in seen.events]
    assert received == ids, "every event once, in order"
    assert spool.depth() == 0
    assert spool.rejected_count() == 1
