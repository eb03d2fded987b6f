"""Start and stop the real RTSP server (`gst_rtsp_server.py`) from Python, for the demo and tests."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from matthan.integration.broker import free_port, wait_for_port
from matthan.integration.process import ServiceProcess

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("gst_rtsp_server.py")
#: GStreamer's Python bindings come from Debian, so the server runs under Debian's interpreter.
SYSTEM_PYTHON = os.environ.get("MATTHAN_GST_PYTHON", "/usr/bin/python3")
DEBIAN_PACKAGES = (
    "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly python3-gi"
)


class RtspServerError(RuntimeError):
    """The RTSP server could not start."""


def gstreamer_problem() -> str | None:
    """None when the RTSP server can run here, else one line saying what is missing."""
    if not (Path(SYSTEM_PYTHON).is_file() or shutil.which(SYSTEM_PYTHON)):
        return f"{SYSTEM_PYTHON} not found; install Debian's python3 and: apt-get install {DEBIAN_PACKAGES}"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"GStreamer RTSP server missing; run `make install` (apt-get install {DEBIAN_PACKAGES})"
    return None


class RtspServer:
    """Serves `mounts` ({"/cam1": Path("clip.mp4")}) on rtsp://127.0.0.1:PORT/cam1."""

    def __init__(
        self,
        mounts: dict[str, Path],
        port: int | None = None,
        auth: tuple[str, str] | None = None,
        log_path: Path | None = None,
        host: str = "127.0.0.1",
    ):
        for mount, file in mounts.items():
            if not mount.startswith("/"):
                raise ValueError(f"mount {mount!r} must start with '/'")
            if not Path(file).is_file():
                raise RtspServerError(f"video file {file} does not exist")
        self.mounts = {m: Path(f) for m, f in mounts.items()}
        self.host = host
        self.port = port or free_port(host)
        self.auth = auth
        self.log_path = log_path
        self._process = ServiceProcess(log_path)

    def url(self, mount: str, with_auth: bool = False) -> str:
        cred = f"{self.auth[0]}:{self.auth[1]}@" if with_auth and self.auth else ""
        return f"rtsp://{cred}{self.host}:{self.port}{mount}"

    @property
    def running(self) -> bool:
        return self._process.running

    def start(self, timeout_s: float = 30.0) -> RtspServer:
        if self.running:
            return self
        cmd = [SYSTEM_PYTHON, str(SCRIPT), "--host", self.host, "--port", str(self.port)]
        for mount, file in self.mounts.items():
            cmd += ["--mount", f"{mount}={file.resolve()}"]
        if self.auth:
            cmd += ["--auth", f"{self.auth[0]}:{self.auth[1]}"]
        self._process.spawn(cmd)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self._process.returncode
            if code is not None:
                problem = gstreamer_problem()
                where = f"; log: {self.log_path}" if self.log_path else ""
                raise RtspServerError(problem or f"RTSP server exited with code {code}{where}")
            if wait_for_port(self.host, self.port, 0.2):
                log.info(
                    "RTSP server on rtsp://%s:%d serving %s", self.host, self.port, ", ".join(self.mounts)
                )
                return self
        self.stop()
        raise RtspServerError(
            f"RTSP server did not listen on {self.host}:{self.port} within {timeout_s:.0f} s"
        )

    def freeze(self) -> None:
        """SIGSTOP: the TCP connection stays open but no packet flows (a frozen camera)."""
        self._process.freeze()

    def thaw(self) -> None:
        self._process.thaw()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the server (also when frozen); the port is free again afterwards."""
        self._process.stop(timeout_s)

    def kill(self) -> None:
        """SIGKILL, as when a camera loses power."""
        self._process.kill()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
