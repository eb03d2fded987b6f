"""`matthan bench pipeline` and `matthan bench outage`: the agent end to end on the embedded
broker and RTSP server (or a given source/cluster), each printing a JSON summary as its last line.

- pipeline: capture→ack latency percentiles, analysed fps, events, and (for the synthetic clip,
  whose ground truth is known) plate events per true vehicle.
- outage: the broker is frozen (SIGSTOP) for a while mid-run, then resumed (SIGCONT); every event
  the agent produced must arrive, none twice after de-duplication by event id.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matthan.benchmarks.common import cpu_model
from matthan.edge.agent import Agent
from matthan.edge.config import parse_config
from matthan.edge.demo import default_recognizers, demo_clip
from matthan.edge.sightings import one_apart
from matthan.edge.spool import SpooledEvent
from matthan.integration import events
from matthan.integration.broker import EmbeddedBroker
from matthan.integration.kafka import KafkaSettings, make_consumer
from matthan.integration.rtsp_server import RtspServer
from matthan.recognizers.plates.grammar import normalise

log = logging.getLogger(__name__)


@dataclass
class Recorder:
    """What the agent produced and when the broker acknowledged it (hooked into the agent)."""

    produced: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, agent: Agent) -> None:
        emit, acked = agent.emit, agent._acked

        def record_emit(payload: dict[str, Any]) -> None:
            emit(payload)
            with self.lock:
                self.produced.append(payload["event_id"])

        def record_ack(items: list[SpooledEvent], at: float) -> None:
            acked(items, at)
            with self.lock:
                self.latencies_s += [at - i.capture_time for i in items if i.capture_time is not None]

        agent.emit = record_emit  # type: ignore[method-assign]
        agent.publisher.on_acked = record_ack


@contextmanager
def services(source: str | None, bootstrap: str | None, work: Path) -> Iterator[tuple[str, str, Path | None]]:
    """(bootstrap servers, camera URL, ground-truth file or None), started and stopped here."""
    broker = None if bootstrap else EmbeddedBroker(log_path=work / "broker.log").start()
    server = None
    try:
        truth: Path | None = None
        if source and source.startswith(("rtsp://", "rtsps://")):
            url = source
        else:
            clip = Path(source) if source else demo_clip(Path("var/demo/clips"))
            candidate = clip.with_suffix(".truth.json")
            truth = candidate if candidate.is_file() else None
            server = RtspServer({"/bench": clip}, log_path=work / "rtsp.log").start()
            url = server.url("/bench")
        yield (bootstrap or (broker.bootstrap_servers if broker else "")), url, truth
    finally:
        if server is not None:
            server.stop()
        if broker is not None:
            broker.stop()


def agent_for(url: str, bootstrap: str, work: Path, prefix: str, analysis_fps: float) -> Agent:
    config = parse_config(
        {
            "agent_id": "bench-agent",
            "data_dir": str(work / "agent"),
            "kafka": {"bootstrap_servers": bootstrap},
            "topic_prefix": prefix,
            "heartbeat_s": 5,
            "http": {"enabled": False},
            "defaults": {"analysis_fps": analysis_fps, "recognizers": default_recognizers()},
            "cameras": [{"id": "bench-cam", "url": url}],
        },
        "bench",
    )
    return Agent(config)


def consume_all(
    bootstrap: str, prefix: str, quiet_s: float = 3.0, limit_s: float = 60.0
) -> list[dict[str, Any]]:
    """Every message on the prefix's topics (until none arrives for `quiet_s`), schema-checked."""
    consumer = make_consumer(
        KafkaSettings(bootstrap_servers=bootstrap),
        *events.topics(prefix),
        group_id=None,
        metadata_max_age_ms=1000,
    )
    received: list[dict[str, Any]] = []
    deadline, last = time.monotonic() + limit_s, time.monotonic()
    try:
        while time.monotonic() < deadline and time.monotonic() - last < quiet_s:
            for records in consumer.poll(timeout_ms=300).values():
                for msg in records:
                    received.append(events.from_kafka(msg.key, msg.value, list(msg.headers or [])))
                    last = time.monotonic()
    finally:
        consumer.close()
    return received


def percentiles_ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    arr = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(arr, q)), 1) for q in (50, 95, 99)}


def duplicates_per_vehicle(received: list[dict[str, Any]], truth_file: Path | None) -> dict[str, Any]:
    """Plate events per true vehicle whose plate was reported (None without ground truth)."""
    if truth_file is None:
        return {"duplicates_per_vehicle": None, "vehicles_reported": None, "vehicles_readable": None}
    truth = json.loads(truth_file.read_text())
    if truth.get("kind") == "real-photo-segments":
        return _per_distinct_plate(received, truth)
    plates = {normalise(v["plate_text"]) for v in truth["vehicles"] if v.get("plate_visible", True)}
    readable = {
        normalise(v["plate_text"])
        for v in truth["vehicles"]
        if any(f.get("readable") for f in v.get("frames", []))
    }
    reads = Counter(e["plate"]["normalised"] for e in received if e["event_type"] == "plate.read")
    matched = {text: n for text, n in reads.items() if text in plates}
    per_vehicle = sum(matched.values()) / len(matched) if matched else None
    return {
        "duplicates_per_vehicle": None if per_vehicle is None else round(per_vehicle, 3),
        "vehicles_reported": len(matched),
        "vehicles_readable": len(readable),
        "false_plate_events": sum(n for text, n in reads.items() if text not in plates),
    }


def _per_distinct_plate(received: list[dict[str, Any]], truth: dict[str, Any]) -> dict[str, Any]:
    """For a clip of real photos (texts unknown): plate events per distinct plate read, where texts
    one character apart count as one plate. Valid for runs no longer than the clip (no loop)."""
    reads = Counter(e["plate"]["normalised"] for e in received if e["event_type"] == "plate.read")
    plates: list[str] = []
    for text in sorted(reads, key=reads.__getitem__, reverse=True):
        if not any(one_apart(p, text) for p in plates):
            plates.append(text)
    total = sum(reads.values())
    return {
        "duplicates_per_vehicle": round(total / len(plates), 3) if plates else None,
        "vehicles_reported": len(plates),
        "vehicles_readable": sum(int(s["plates"]) for s in truth["segments"]),
    }


def bench_pipeline(
    source: str | None, seconds: float, bootstrap: str | None, analysis_fps: float = 10.0
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="matthan-bench-") as tmp:
        work = Path(tmp)
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        with services(source, bootstrap, work) as (servers, url, truth):
            agent = agent_for(url, servers, work, prefix, analysis_fps)
            recorder = Recorder()
            recorder.attach(agent)
            agent.start()
            started = time.monotonic()
            time.sleep(seconds)
            analysed = agent.workers[0].analysed_frames
            elapsed = time.monotonic() - started
            with recorder.lock:
                # latency in steady state: the tracks still open when the run ends are reported by
                # the shutdown flush, whose wait is the benchmark's end, not the pipeline's
                steady = list(recorder.latencies_s)
            agent.stop()
            received = consume_all(servers, prefix)
        lat = percentiles_ms(steady)
        return {
            "benchmark": "pipeline",
            "machine": cpu_model(),
            "seconds": round(elapsed, 1),
            "recognizers": [r.type_name for r in agent.workers[0].recognizers],
            "capture_to_ack_ms_p50": lat["p50"],
            "capture_to_ack_ms_p95": lat["p95"],
            "capture_to_ack_ms_p99": lat["p99"],
            "acked_at_shutdown": len(recorder.latencies_s) - len(steady),
            "analysed_fps": round(analysed / elapsed, 2),
            "events": len(received),
            "plate_events": sum(1 for e in received if e["event_type"] == "plate.read"),
            **duplicates_per_vehicle(received, truth),
        }


def bench_outage(
    source: str | None, seconds: float, outage_s: float, bootstrap: str | None = None
) -> dict[str, Any]:
    if bootstrap:
        raise ValueError("the outage benchmark freezes its own embedded broker: leave --bootstrap out")
    with tempfile.TemporaryDirectory(prefix="matthan-outage-") as tmp:
        work = Path(tmp)
        prefix = f"outage{uuid.uuid4().hex[:8]}."
        broker = EmbeddedBroker(log_path=work / "broker.log").start()
        try:
            with services(source, broker.bootstrap_servers, work) as (servers, url, _truth):
                agent = agent_for(url, servers, work, prefix, 10.0)
                recorder = Recorder()
                recorder.attach(agent)
                agent.start()
                before = max(1.0, (seconds - outage_s) / 2)
                time.sleep(before)
                broker.pause()
                log.info("broker frozen for %.0f s", outage_s)
                time.sleep(outage_s)
                spooled_during = agent.spool.depth()
                broker.resume()
                time.sleep(max(1.0, seconds - before - outage_s))
                agent.stop(flush_timeout_s=60)
                received = consume_all(servers, prefix)
        finally:
            broker.stop()
    produced = set(recorder.produced)
    ids = [e["event_id"] for e in received]
    unique = set(ids)
    # after de-duplication by id, no sighting may be reported twice under different ids
    per_track = Counter(
        (e["camera_id"], e["event_type"], e["track_id"])
        for e in {e["event_id"]: e for e in received}.values()
        if e.get("track_id") is not None
    )
    return {
        "benchmark": "outage",
        "machine": cpu_model(),
        "seconds": seconds,
        "outage_s": outage_s,
        "spooled_during_outage": spooled_during,
        "produced": len(produced),
        "delivered": len(produced & unique),
        "lost": len(produced - unique),
        "redelivered_same_id": len(ids) - len(unique),
        "duplicates_after_dedup": sum(n - 1 for n in per_track.values() if n > 1),
    }
