"""The agent's event path with a recogniser: tracking, one event per sighting, snapshots by
reference, metrics and health on HTTP; SIGTERM flushes; the spool replays after a restart."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from matthan.edge import config as config_module
from matthan.edge.agent import Agent
from matthan.integration.broker import EmbeddedBroker, free_port
from matthan.integration.rtsp_server import RtspServer
from tests.integration.kafka_helpers import EventCollector, status_of
from tests.integration.test_agent_rtsp import agent_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("gstreamer")]
BAR = "tests.fixtures.bar_recognizer:BarConfig:BarDetector"


@pytest.fixture
def bar_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(config_module.BACKENDS, "bar", BAR)


@pytest.fixture
def rtsp(test_clip: Path, tmp_path: Path) -> Any:
    with RtspServer({"/cam": test_clip}, log_path=tmp_path / "rtsp.log") as server:
        yield server


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.usefixtures("bar_backend")
def test_plate_events_one_per_track_with_snapshot_metrics_and_health(
    tmp_path: Path, broker: EmbeddedBroker, rtsp: RtspServer
) -> None:
    config = agent_config(
        tmp_path,
        broker.bootstrap_servers,
        [{"id": "cam-p", "url": rtsp.url("/cam")}],
        recognizers=["bar"],
        analysis_fps=10,
        # the bar is on screen almost all the time and always reads TEST1: with no re-emit gap each
        # sweep across the frame (about every 1.8 s) is its own track and sighting
        tracking={"reemit_gap_s": 0.0, "lost_after_s": 0.5, "stationary_after_s": 1.0},
    )
    config = config.model_copy(update={"http": config.http.model_copy(update={"port": 0})})
    agent = Agent(config).start()
    seen = EventCollector(broker.bootstrap_servers, config.topic_prefix)
    try:
        assert agent.http is not None
        base = f"http://127.0.0.1:{agent.http.port}"
        seen.wait_for(status_of("cam-p", "online"), 20)
        plate = seen.wait_for(lambda e: e["event_type"] == "plate.read", 20)
        # a second sighting (a later sweep), waited for rather than timed: CI machines are slow
        seen.wait_for(lambda e: e["event_type"] == "plate.read" and e["track_id"] != plate["track_id"], 20)
        seen.poll(1.0)
        code, metrics = http_get(base + "/metrics")
        ready_code, ready = http_get(base + "/readyz")
        live_code, _ = http_get(base + "/healthz")
    finally:
        agent.stop()
        seen.close()

    assert plate["plate"]["text"] == "TEST1" and plate["plate"]["format"] == "unknown"
    assert plate["track_id"] is not None
    assert plate["plate"]["candidates"][0]["text"] == "TEST1"
    assert plate["producer"]["models"] == {"bar-detector": "test"}
    snap = plate["snapshot"]
    assert snap["content_type"] == "image/jpeg"
    jpeg = Path(snap["url"].removeprefix("file://")).read_bytes()
    assert hashlib.sha256(jpeg).hexdigest() == snap["sha256"] and jpeg[:2] == b"\xff\xd8"
    plates = [e for e in seen.events if e["event_type"] == "plate.read"]
    tracks = [e["track_id"] for e in plates]
    assert len(tracks) == len(set(tracks)), "one event per track"
    assert len(plates) >= 2

    assert code == 200
    text = metrics.decode()
    for name in (
        'matthan_analysed_frames_total{camera="cam-p"}',
        'matthan_stage_seconds_count{camera="cam-p",stage="bar"}',
        "matthan_capture_to_ack_seconds_count",
        "matthan_spool_depth",
        'matthan_events_total{camera="cam-p",type="plate.read"}',
    ):
        assert name in text, name
    analysed = next(
        ln for ln in text.splitlines() if ln.startswith('matthan_analysed_frames_total{camera="cam-p"}')
    )
    assert float(analysed.split()[-1]) > 10
    assert live_code == 200
    assert ready_code == 200 and json.loads(ready)["cameras"] == {"cam-p": "online"}


def write_config(path: Path, bootstrap: str, url: str, data_dir: Path, prefix: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "agent_id": "edge-sig",
                "data_dir": str(data_dir),
                "kafka": {"bootstrap_servers": bootstrap},
                "topic_prefix": prefix,
                "heartbeat_s": 1,
                "http": {"port": 0},
                "defaults": {"read_timeout_s": 2, "reconnect_max_s": 1},
                "cameras": [{"id": "cam-sig", "url": url}],
            }
        )
    )
    return path


def spooled_ids(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "spool.sqlite") as db:
        return [row[0] for row in db.execute("SELECT event_id FROM events ORDER BY seq")]


def run_agent_until(
    config: Path, data_dir: Path, spooled: int, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run the agent until its spool holds `spooled` events (however slow the machine starts it)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "matthan.edge", "agent", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:  # (the agent creates the spool; connecting first would create an empty file)
            if (data_dir / "spool.sqlite").is_file() and len(spooled_ids(data_dir)) >= spooled:
                break
        except sqlite3.Error:  # its table is not made yet
            pass
        time.sleep(0.2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_stopped_or_killed_agent_replays_its_spool_after_a_restart(
    tmp_path: Path, rtsp: RtspServer, sig: signal.Signals
) -> None:
    """SIGTERM exits 0 and keeps what the broker did not take; SIGKILL (power loss) loses nothing either."""
    port = free_port()
    prefix = f"t{uuid.uuid4().hex[:8]}."
    data_dir = tmp_path / "agent"
    config = write_config(tmp_path / "agent.yaml", f"127.0.0.1:{port}", rtsp.url("/cam"), data_dir, prefix)

    first = run_agent_until(config, data_dir, 4, sig)  # no broker: everything is spooled
    assert "Traceback" not in first.stderr
    kept = spooled_ids(data_dir)
    assert len(kept) >= 3, first.stderr  # camera online + heartbeats
    if sig == signal.SIGTERM:
        assert first.returncode == 0, first.stderr
        assert "stay in" in first.stderr
    else:
        assert first.returncode == -signal.SIGKILL

    with EmbeddedBroker(port=port) as broker:
        seen = EventCollector(broker.bootstrap_servers, prefix)
        try:
            second = subprocess.Popen(
                [sys.executable, "-m", "matthan.edge", "agent", "--config", str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                seen.wait_for(lambda e: e["event_id"] == kept[-1], 30)
            finally:
                second.send_signal(signal.SIGTERM)
                _, err = second.communicate(timeout=30)
            assert second.returncode == 0, err
            seen.poll(1.0)
        finally:
            seen.close()
    received = [e["event_id"] for e in seen.events]
    assert received[: len(kept)] == kept, "the first run's events arrive first, in order"
    assert len(received) == len(set(received)), "and none twice"
    assert spooled_ids(data_dir) == []
