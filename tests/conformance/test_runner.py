"""The black-box runner end to end: real RTSP servers, the embedded broker, our agent as the system
under test; broken systems (a relay between the agent and the scored topics that drops or damages
events) must fail for the right reason."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from matthan.benchmarks.conformance.reference import ReferenceSut
from matthan.benchmarks.conformance.report import summary, write_report
from matthan.benchmarks.conformance.runner import Camera, CommandSut, RunResult, run_suite
from matthan.benchmarks.conformance.suite import Threshold, load_suite
from matthan.integration import events
from matthan.integration.kafka import KafkaSettings, ensure_topics, make_consumer, make_producer
from tests.conformance.conftest import write_bar_suite

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("gstreamer", "bars_backend")]

#: (topic, key, value, headers) of a message to publish, or None to drop it
Relayed = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]] | None
Transform = Callable[[int, str, bytes | None, bytes, list[tuple[str, bytes]]], Relayed]


class RelaySut:
    """A broken system: our agent publishes on an internal prefix, and a relay republishes each
    message on the scored prefix after `transform` (which may drop or damage it)."""

    def __init__(self, inner: ReferenceSut, transform: Transform):
        self.name = "relay"
        self.inner = inner
        self.transform = transform
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.relayed = 0

    def start(self, cameras: list[Camera], bootstrap: str, topic_prefix: str, work: Path) -> None:
        internal = f"internal{uuid.uuid4().hex[:6]}."
        settings = KafkaSettings(bootstrap_servers=bootstrap)
        ensure_topics(settings, events.topics(internal))
        consumer = make_consumer(settings, *events.topics(internal), group_id=None, metadata_max_age_ms=1000)
        producer = make_producer(settings)

        def relay() -> None:
            n = 0
            try:
                while not self._stop.is_set():
                    for records in consumer.poll(timeout_ms=200).values():
                        for rec in records:
                            suffix = rec.topic.removeprefix(internal)
                            out = self.transform(n, suffix, rec.key, rec.value, list(rec.headers or []))
                            n += 1
                            if out is not None:
                                topic, key, value, headers = out
                                producer.send(topic_prefix + topic, key=key, value=value, headers=headers)
                                self.relayed += 1
                    producer.flush()
            finally:
                consumer.close()
                producer.close()

        self._thread = threading.Thread(target=relay, daemon=True)
        self._thread.start()
        self.inner.topic_prefix = internal
        self.inner.start(cameras, bootstrap, topic_prefix, work)

    def stop(self) -> None:
        self.inner.stop()
        if self._thread is not None:
            self._stop.wait(2.0)  # let the relay pass on what the agent flushed last
            self._stop.set()
            self._thread.join(10)
            self._thread = None

    def describe(self) -> dict[str, Any]:
        return {"sut": "relay", "inner": self.inner.describe()}


def run(suite_dir: Path, tmp_path: Path, sut: Any) -> RunResult:
    return run_suite(load_suite(suite_dir), sut, tmp_path / "work", topic_prefix=f"c{uuid.uuid4().hex[:6]}.")


def test_reference_agent_passes_the_bar_suite_and_writes_the_report(bar_suite: Path, tmp_path: Path) -> None:
    sut = ReferenceSut(load_suite(bar_suite), recognizers=["bars"])
    result = run(bar_suite, tmp_path, sut)
    line = summary(result)
    assert line["passed"], json.dumps(line, indent=1)
    reqs = line["requirements"]
    assert reqs["plate_read_rate"]["value"] == 1.0
    assert reqs["schema_validity"]["value"] == 1.0
    assert reqs["recovery_time_s"]["value"] is not None and reqs["recovery_time_s"]["value"] < 6
    assert result.score.counts["plate_tracks_required"] >= 3

    out = tmp_path / "report"
    write_report(result, out)
    data = json.loads((out / "report.json").read_text())
    assert data["passed"] is True
    assert data["suite"]["files"]["suite.yaml"] == result.suite.files["suite.yaml"]
    assert len(data["suite"]["sha256"]) == 64
    html = (out / "report.html").read_text()
    assert "PASSED" in html and "<svg" in html and "plate_read_rate" in html
    assert (out / "events.jsonl").read_text().count("\n") == len(result.messages)


def test_a_system_dropping_every_second_plate_event_fails_on_read_rate(
    bar_suite: Path, tmp_path: Path
) -> None:
    plates_seen = [0]

    def drop_every_second(
        _n: int, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Relayed:
        if topic == "plates":
            plates_seen[0] += 1
            if plates_seen[0] % 2 == 0:
                return None
        return topic, key, value, headers

    sut = RelaySut(ReferenceSut(load_suite(bar_suite), recognizers=["bars"]), drop_every_second)
    result = run(bar_suite, tmp_path, sut)
    reqs = result.score.results
    assert plates_seen[0] >= 4
    assert not result.score.passed
    assert not reqs["plate_read_rate"].passed
    assert "not reported" in " ".join(
        f.what for f in result.score.failures if f.requirement == "plate_read_rate"
    )
    assert "readable plate tracks reported" in reqs["plate_read_rate"].reason
    assert reqs["schema_validity"].passed and reqs["plate_false_read_rate"].passed


def test_a_system_emitting_malformed_events_fails_on_schema_validity(bar_suite: Path, tmp_path: Path) -> None:
    def damage(
        n: int, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Relayed:
        if n % 2 == 0:
            return topic, key, value, [(k, v) for k, v in headers if k != "ce_id"]
        payload = json.loads(value)
        payload.pop("capture_time")
        return topic, key, json.dumps(payload).encode(), headers

    sut = RelaySut(ReferenceSut(load_suite(bar_suite), recognizers=["bars"]), damage)
    result = run(bar_suite, tmp_path, sut)
    schema = result.score.results["schema_validity"]
    assert not result.score.passed
    assert not schema.passed and schema.value == 0.0
    errors = {m.error for m in result.messages}
    assert "missing CloudEvents headers: ce_id" in errors
    assert any(e and "capture_time" in e for e in errors)
    # nothing valid arrived: no plate was read either
    assert not result.score.results["plate_read_rate"].passed


def test_a_system_started_as_a_command_is_scored_as_a_black_box(tmp_path: Path) -> None:
    """The vendor path: the runner starts a separate process with the camera list, bootstrap and
    prefix in its environment and stops it with SIGTERM; only its Kafka output is scored."""
    requirements = {
        "plate_read_rate": Threshold(min=0.5),  # a process start-up may miss the first bar
        "plate_false_read_rate": Threshold(max=0.0),
        "schema_validity": Threshold(min=1.0),
        "recovery_time_s": Threshold(max=6.0),
    }
    suite_dir = write_bar_suite(tmp_path / "suite", requirements)
    sut = CommandSut(f"{sys.executable} -m tests.conformance.command_sut")
    result = run(suite_dir, tmp_path, sut)
    line = summary(result)
    assert line["passed"], json.dumps(line, indent=1) + (tmp_path / "work" / "sut.log").read_text()
    agents = {m.payload["agent_id"] for m in result.messages if m.payload}
    assert agents == {"vendor"}
