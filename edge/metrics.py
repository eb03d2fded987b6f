"""What the agent is doing, for Prometheus: counters, gauges and latency histograms per camera and
stage, served with /healthz, /readyz and the snapshots on one HTTP port."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from matthan.edge.snapshots import SnapshotStore

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.02,
    0.035,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    120.0,
)


class AgentMetrics:
    """Every metric of one agent, in its own registry (several agents can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decoded = Counter("matthan_decoded_frames", "frames decoded", ["camera"], registry=r)
        self.analysed = Counter("matthan_analysed_frames", "frames analysed", ["camera"], registry=r)
        self.dropped = Counter(
            "matthan_dropped_frames",
            "decoded frames never analysed (analysis slower than the stream)",
            ["camera"],
            registry=r,
        )
        self.decode_fps = Gauge(
            "matthan_decode_fps", "frames decoded per second (last 5 s)", ["camera"], registry=r
        )
        self.analysed_fps = Gauge(
            "matthan_analysed_fps", "frames analysed per second (last 5 s)", ["camera"], registry=r
        )
        self.reconnects = Counter("matthan_reconnects", "stream reconnects", ["camera"], registry=r)
        self.camera_up = Gauge("matthan_camera_online", "1 when frames arrive", ["camera"], registry=r)
        self.stage = Histogram(
            "matthan_stage_seconds",
            "time per frame in each pipeline stage",
            ["camera", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.events = Counter("matthan_events", "events built", ["camera", "type"], registry=r)
        self.recognizer_errors = Counter(
            "matthan_recognizer_errors", "frames a recogniser failed on", ["camera", "recognizer"], registry=r
        )
        self.capture_to_ack = Histogram(
            "matthan_capture_to_ack_seconds",
            "from the frame's capture to the broker's acknowledgement",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.delivered = Counter("matthan_events_delivered", "events acknowledged by the broker", registry=r)
        self.rejected = Counter(
            "matthan_events_rejected", "events the broker can never take (set aside)", registry=r
        )
        self.spool_depth = Gauge("matthan_spool_depth", "events waiting in the spool", registry=r)
        self.spool_age = Gauge(
            "matthan_spool_oldest_age_seconds", "age of the oldest spooled event", registry=r
        )
        self.spool_bytes = Gauge("matthan_spool_bytes", "spool and snapshot bytes on disk", registry=r)
        self.over_quota = Gauge(
            "matthan_spool_over_quota", "1 when the store exceeds its quota (alarm)", registry=r
        )
        self.snapshots_dropped = Counter(
            "matthan_snapshots_dropped", "snapshots deleted to stay in quota", registry=r
        )
        self.broker_up = Gauge(
            "matthan_broker_connected", "1 when the broker acknowledges events", registry=r
        )

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class AgentHttpServer:
    """/metrics, /healthz (the agent runs), /readyz (broker and cameras), /snapshots/<camera>/<id>.jpg."""

    def __init__(
        self,
        metrics: AgentMetrics,
        readiness: Callable[[], tuple[bool, dict[str, Any]]],
        liveness: Callable[[], bool],
        snapshots: SnapshotStore | None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.metrics = metrics
        self.readiness = readiness
        self.liveness = liveness
        self.snapshots = snapshots
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http: " + format, *args)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> AgentHttpServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(req, 200, self.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            alive = self.liveness()
            self._send(req, 200 if alive else 503, b"ok\n" if alive else b"stopped\n", "text/plain")
        elif path == "/readyz":
            ready, detail = self.readiness()
            body = json.dumps({"ready": ready, **detail}).encode()
            self._send(req, 200 if ready else 503, body, "application/json")
        elif path.startswith("/snapshots/") and self.snapshots is not None:
            file = self.snapshots.path_for(path.removeprefix("/snapshots/"))
            if file is None:
                self._send(req, 404, b"not found\n", "text/plain")
            else:
                self._send(req, 200, file.read_bytes(), "image/jpeg")
        else:
            self._send(req, 404, b"not found\n", "text/plain")

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, code: int, body: bytes, content_type: str) -> None:
        req.send_response(code)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)
