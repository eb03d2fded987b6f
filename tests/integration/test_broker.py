"""The embedded tansu broker, spoken to over TCP with kafka-python."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from matthan.integration.broker import EmbeddedBroker, wait_for_port
from matthan.integration.kafka import KafkaSettings, ensure_topics, make_consumer, make_producer

pytestmark = pytest.mark.integration


def test_broker_produces_and_consumes_with_headers(broker: EmbeddedBroker) -> None:
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
    ensure_topics(settings, ["t-broker.a"])
    ensure_topics(settings, ["t-broker.a"])  # idempotent
    producer = make_producer(settings)
    for i in range(3):
        producer.send("t-broker.a", key=b"cam-1", value=b"v%d" % i, headers=[("ce_id", b"%d" % i)]).get(10)
    producer.close()
    consumer = make_consumer(settings, "t-broker.a", group_id=None, consumer_timeout_ms=4000)
    got = sorted((m.value, m.key, list(m.headers)) for m in consumer)
    consumer.close()
    assert got == [(b"v%d" % i, b"cam-1", [("ce_id", b"%d" % i)]) for i in range(3)]


def test_broker_listens_on_loopback_only_and_stops_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    broker = EmbeddedBroker(log_path=log).start()
    pid = broker.pid
    assert pid is not None
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert f"tcp://127.0.0.1:{broker.port}".encode() in cmdline
    assert b"tcp://0.0.0.0:9092" not in cmdline
    broker.stop()
    assert not broker.running
    assert not Path(f"/proc/{pid}").exists() or b"zombie" in Path(f"/proc/{pid}/status").read_bytes().lower()
    assert not wait_for_port("127.0.0.1", broker.port, 0.5)
    assert log.exists()
    with socket.socket() as sock:  # the port is free again
        sock.bind(("127.0.0.1", broker.port))
