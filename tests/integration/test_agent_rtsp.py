"""The agent end to end over real boundaries: a GStreamer RTSP server in, the tansu broker out."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from matthan.edge.agent import Agent
from matthan.edge.config import parse_config
from matthan.integration import events
from matthan.integration.broker import EmbeddedBroker, free_port
from matthan.integration.events import parse_time
from matthan.integration.rtsp_server import RtspServer
from tests.integration.kafka_helpers import EventCollector, status_of

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("gstreamer")]


def agent_config(tmp_path: Path, bootstrap: str, cameras: list[dict[str, Any]], **extra: Any) -> Any:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    return parse_config(
        {
            "agent_id": "edge-test",
            "data_dir": str(tmp_path / "agent"),
            "kafka": {"bootstrap_servers": bootstrap},
            "topic_prefix": prefix,
            "heartbeat_s": 1,
            "defaults": {"open_timeout_s": 3, "read_timeout_s": 2, "reconnect_max_s": 1, **extra},
            "cameras": cameras,
        }
    )


@pytest.fixture
def rtsp(test_clip: Path, tmp_path: Path) -> Iterator[RtspServer]:
    with RtspServer({"/cam": test_clip}, log_path=tmp_path / "rtsp.log") as server:
        yield server


def run(config: Any, broker: str) -> tuple[Agent, EventCollector]:
    agent = Agent(config).start()
    return agent, EventCollector(broker, config.topic_prefix)


def test_events_arrive_on_kafka_validated_with_key_and_cloudevents_headers(
    tmp_path: Path, broker: EmbeddedBroker, rtsp: RtspServer
) -> None:
    config = agent_config(tmp_path, broker.bootstrap_servers, [{"id": "cam-a", "url": rtsp.url("/cam")}])
    agent, seen = run(config, broker.bootstrap_servers)
    try:
        online = seen.wait_for(status_of("cam-a", "online"), 20)
        assert online["stream"]["codec"] == "h264"
        assert online["stream"]["width"] == 320
        beat = seen.wait_for(
            lambda e: e["event_type"] == "agent.heartbeat"
            and any(c["camera_id"] == "cam-a" and c.get("analysed_frames", 0) > 0 for c in e["cameras"]),
            10,
        )
        assert beat["camera_id"] == "edge-test"
    finally:
        agent.stop()
        seen.close()
    for msg in seen.raw:
        payload = events.from_kafka(msg.key, msg.value, list(msg.headers))  # schema + headers + key
        assert msg.key.decode() == payload["camera_id"]
        assert msg.topic == config.topic_prefix + "status"
    assert agent.spool.path.exists()


def test_killed_rtsp_server_gives_offline_then_agent_resumes(
    tmp_path: Path, broker: EmbeddedBroker, rtsp: RtspServer
) -> None:
    config = agent_config(tmp_path, broker.bootstrap_servers, [{"id": "cam-k", "url": rtsp.url("/cam")}])
    agent, seen = run(config, broker.bootstrap_servers)
    try:
        seen.wait_for(status_of("cam-k", "online"), 20)
        rtsp.kill()
        offline = seen.wait_for(status_of("cam-k", "offline"), 15)
        assert offline["previous"] == "online"
        returned_at = time.time()
        rtsp.start()
        back = seen.wait_for(lambda e: status_of("cam-k", "online")(e) and e["previous"] == "offline", 20)
        assert back["reconnects"] >= 1
        # the acceptance bound: frames again within 5 s of the camera's return (backoff is capped at 1 s)
        assert parse_time(back["capture_time"]) - returned_at < 5.0
        frames_before = agent.workers[0].analysed_frames
        seen.poll(1.5)
        assert agent.workers[0].analysed_frames > frames_before
    finally:
        agent.stop()
        seen.close()


def test_frozen_camera_is_reported_stalled(tmp_path: Path, broker: EmbeddedBroker, rtsp: RtspServer) -> None:
    config = agent_config(tmp_path, broker.bootstrap_servers, [{"id": "cam-f", "url": rtsp.url("/cam")}])
    agent, seen = run(config, broker.bootstrap_servers)
    try:
        seen.wait_for(status_of("cam-f", "online"), 20)
        rtsp.freeze()
        stalled = seen.wait_for(status_of("cam-f", "stalled"), 15)
        assert "timeout" in stalled["reason"]
        rtsp.thaw()
        seen.wait_for(lambda e: status_of("cam-f", "online")(e) and e["previous"] != "online", 25)
    finally:
        rtsp.thaw()
        agent.stop()
        seen.close()


def test_bad_cameras_get_one_clear_reason_each_and_the_good_one_keeps_running(
    tmp_path: Path, broker: EmbeddedBroker, test_clip: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Hunter2-secret"
    not_video = tmp_path / "notes.txt"
    not_video.write_text("this is not a video\n" * 100)
    with RtspServer({"/cam": test_clip}, auth=("viewer", "right-password")) as server:
        good = server.url("/cam").replace("rtsp://", "rtsp://viewer:right-password@")
        cameras = [
            {"id": "good", "url": good},
            {"id": "wrong-pass", "url": server.url("/cam").replace("rtsp://", f"rtsp://viewer:{secret}@")},
            {"id": "no-path", "url": good.replace("/cam", "/nothing")},
            {"id": "dead", "url": f"rtsp://127.0.0.1:{free_port()}/cam"},
            {"id": "not-video", "url": str(not_video)},
        ]
        config = agent_config(tmp_path, broker.bootstrap_servers, cameras)
        agent, seen = run(config, broker.bootstrap_servers)
        try:
            seen.wait_for(status_of("good", "online"), 20)
            reasons = {
                cam: seen.wait_for(status_of(cam, "offline"), 20)["reason"]
                for cam in ("wrong-pass", "no-path", "dead", "not-video")
            }
            seen.poll(2.0)
            good_worker = next(w for w in agent.workers if w.camera.id == "good")
            assert good_worker.source.status == "online"
            assert good_worker.analysed_frames > 0
        finally:
            agent.stop()
            seen.close()
    assert "authentication failed" in reasons["wrong-pass"]
    assert "not found" in reasons["no-path"]
    assert "connection refused" in reasons["dead"]
    assert "not a video" in reasons["not-video"]
    for reason in reasons.values():
        assert "\n" not in reason
    wire = b"".join(m.value for m in seen.raw)
    assert secret.encode() not in wire and b"right-password" not in wire
    assert secret not in caplog.text and "right-password" not in caplog.text


def test_broker_down_at_start_then_up_delivers_spooled_events(
    tmp_path: Path, rtsp: RtspServer, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    config = agent_config(tmp_path, bootstrap, [{"id": "cam-s", "url": rtsp.url("/cam")}])
    agent = Agent(config).start()
    late_broker = None
    try:
        worker = agent.workers[0]
        for _ in range(200):
            if worker.source.status == "online" and agent.spool.depth() >= 2 and agent.publisher.down_since:
                break
            seen_nothing = agent.publisher.delivered == 0
            assert seen_nothing
            worker._stop.wait(0.1)
        assert worker.source.status == "online", "the agent must analyse while the broker is down"
        assert agent.spool.depth() >= 2
        assert "unreachable" in caplog.text
        late_broker = EmbeddedBroker(port=port).start()
        seen = EventCollector(bootstrap, config.topic_prefix)
        try:
            online = seen.wait_for(status_of("cam-s", "online"), 30)
            assert online["previous"] is None
        finally:
            seen.close()
    finally:
        agent.stop()
        if late_broker is not None:
            late_broker.stop()
