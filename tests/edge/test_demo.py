"""`matthan demo` end to end, as a user runs it (a subprocess with real broker and RTSP server)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matthan.integration.broker import wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("gstreamer")]


def test_demo_prints_events_from_kafka_and_stops_cleanly_on_ctrl_c(tmp_path: Path, test_clip: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "matthan.edge",
        "demo",
        "--source",
        str(test_clip),
        "--data-dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "camera.status" in line and "ONLINE" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + out
    assert any("demo-street" in ln and "camera.status" in ln and "ONLINE" in ln for ln in lines), text + err
    assert "agent.heartbeat" in text
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "stopping" in text
    # nothing is left running: the broker's and the RTSP server's ports are closed again
    banner = next(ln for ln in lines if ln.startswith("matthan demo: broker"))
    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", banner)]
    assert len(ports) == 2
    for port in ports:
        assert not wait_for_port("127.0.0.1", port, 0.3), f"port {port} still open after the demo stopped"
