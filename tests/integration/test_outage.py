"""Fault test: the broker freezes under load; every event produced meanwhile arrives, none twice
after de-duplication by id."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from matthan.benchmarks.pipeline import Recorder, consume_all
from matthan.edge import config as config_module
from matthan.edge.agent import Agent
from matthan.integration.broker import EmbeddedBroker
from matthan.integration.rtsp_server import RtspServer
from tests.integration.test_agent_rtsp import agent_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("gstreamer")]


def test_frozen_broker_loses_nothing(
    tmp_path: Path, test_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(config_module.BACKENDS, "bar", "tests.fixtures.bar_recognizer:BarConfig:BarDetector")
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log").start()
    try:
        with RtspServer({"/cam": test_clip}) as server:
            config = agent_config(
                tmp_path,
                broker.bootstrap_servers,
                [{"id": "cam-o", "url": server.url("/cam")}],
                recognizers=["bar"],
                analysis_fps=10,
                tracking={"reemit_gap_s": 0.5, "lost_after_s": 0.5},
            )
            config = config.model_copy(update={"http": config.http.model_copy(update={"enabled": False})})
            agent = Agent(config)
            recorder = Recorder()
            recorder.attach(agent)
            agent.start()
            deadline = time.monotonic() + 30  # events flowing (a slow machine starts slower), then freeze
            while not recorder.latencies_s and time.monotonic() < deadline:
                time.sleep(0.2)
            assert recorder.latencies_s, "the broker acknowledged nothing before the outage"
            time.sleep(2)
            broker.pause()
            time.sleep(8)
            spooled = agent.spool.depth()
            broker.resume()
            time.sleep(4)
            agent.stop(flush_timeout_s=30)
            received = consume_all(broker.bootstrap_servers, config.topic_prefix)
    finally:
        broker.stop()
    produced = set(recorder.produced)
    got = {e["event_id"] for e in received}
    assert spooled >= 5, "events produced during the outage waited in the spool"
    assert any(e["event_type"] == "plate.read" for e in received)
    assert produced - got == set(), "nothing lost"
    tracks = [
        (e["event_type"], e["track_id"])
        for e in {e["event_id"]: e for e in received}.values()
        if e.get("track_id")
    ]
    assert len(tracks) == len(set(tracks)), "no sighting twice after de-duplication by id"
    assert recorder.latencies_s and max(recorder.latencies_s) > 4, "events waited out the outage"
