"""Shared fixtures: real services (broker, RTSP server) on free loopback ports, always stopped."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from matthan.integration.broker import EmbeddedBroker
from matthan.integration.rtsp_server import gstreamer_problem

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MATTHAN_SHARED", REPO.parent / "shared"))


class NetworkAttempts(list[str]):
    """What the code under test tried to reach over the network (each refused)."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> NetworkAttempts:
    """No network for the test: every socket `connect` (TCP, or UDP connected) and every name lookup
    is refused with an OSError (as on a machine with no network) and recorded, so that code which
    catches the error and goes on is still caught. Local (AF_UNIX) sockets, which worker processes
    use, still work."""
    attempts = NetworkAttempts()

    def refuse(what: str) -> OSError:
        attempts.append(what)
        return OSError(f"network disabled for this test: {what}")

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(sock: socket.socket, address: object) -> None:
        if sock.family == socket.AF_UNIX:
            return real_connect(sock, address)
        raise refuse(f"connect {address!r}")

    def connect_ex(sock: socket.socket, address: object) -> int:
        if sock.family == socket.AF_UNIX:
            return real_connect_ex(sock, address)
        raise refuse(f"connect {address!r}")

    def lookup(host: object, *args: object, **kwargs: object) -> object:
        raise refuse(f"name lookup {host!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(socket, "gethostbyname", lookup)
    return attempts


def shared_path(relative: str) -> Path:
    """A path under ../shared; the test skips (with the reason) only when it is truly absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data folder beside the repository)")
    return path


def write_test_clip(
    path: Path, seconds: float = 4.0, fps: int = 25, size: tuple[int, int] = (320, 240)
) -> Path:
    """A small H.264 clip (moving bar, no B-frames, 1 s GOP) for transport tests."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"bf": "0", "g": str(fps), "preset": "ultrafast"}
        for i in range(int(seconds * fps)):
            img = np.full((height, width, 3), 40, np.uint8)
            x = (i * 7) % width
            img[:, x : x + 20] = (0, 200, 255)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def test_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_clip(tmp_path_factory.mktemp("clips") / "bar.mp4")


@pytest.fixture(scope="session")
def gstreamer() -> None:
    problem = gstreamer_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log") as running:
        yield running
