"""The edge agent: one worker per camera (source → recognisers → events), one durable spool,
one publisher to Kafka, and a heartbeat. Nothing a camera or the broker does stops the agent."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from matthan.edge import __version__
from matthan.edge.config import AgentConfig, ResolvedCamera, backend_classes
from matthan.edge.eventing import payloads_for
from matthan.edge.publisher import Publisher
from matthan.edge.source import STARTING, CameraSource, StatusChange
from matthan.edge.spool import Spool
from matthan.integration import events
from matthan.integration.broker import EmbeddedBroker
from matthan.integration.events import Producer
from matthan.recognizers.base import Detections, Recognizer, RecognizerError

log = logging.getLogger(__name__)


class CameraWorker:
    """Analyses the newest frame of one camera at its analysis rate and spools the events."""

    def __init__(self, camera: ResolvedCamera, agent: Agent):
        self.camera = camera
        self.agent = agent
        self.recognizers: list[Recognizer] = []
        self.analysed_frames = 0
        self.events = 0
        self.recognizer_errors = 0
        self.source = CameraSource(
            camera.id,
            camera.url,
            open_timeout_s=camera.open_timeout_s,
            read_timeout_s=camera.read_timeout_s,
            reconnect_min_s=camera.reconnect_min_s,
            reconnect_max_s=camera.reconnect_max_s,
            on_status=self._on_status,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Until tracking lands, one reading of the same plate is reported once per window.
        self._recent_plates: dict[str, float] = {}
        self.repeat_window_s = 10.0

    def load(self) -> None:
        """Load each configured recogniser; one that cannot load is reported in one line and skipped."""
        for cfg in self.camera.recognizers:
            try:
                _, backend_cls = backend_classes(cfg.type)
                backend = backend_cls(cfg)
                backend.load()
                self.recognizers.append(backend)
            except Exception as exc:  # a missing model must not stop the other recognisers or cameras
                log.error("camera %s: recogniser %s not loaded: %s", self.camera.id, cfg.type, exc)

    def start(self) -> CameraWorker:
        self.load()
        self.source.start()
        self._thread = threading.Thread(target=self._run, name=f"worker-{self.camera.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.source.stop()
        if self._thread is not None:
            self._thread.join(10)

    def _on_status(self, change: StatusChange) -> None:
        fields: dict[str, Any] = {
            "status": change.status,
            "previous": None if change.previous == STARTING else change.previous,
            "reason": change.reason,
            "url": self.source.safe_url,
            "stream": change.stream,
            "reconnects": change.reconnects,
        }
        self.agent.emit(
            events.build("camera.status", self.agent.producer, self.camera.id, time.time(), fields)
        )

    def _run(self) -> None:
        period = 1.0 / self.camera.analysis_fps
        next_due = time.monotonic()
        while not self._stop.is_set():
            frame = self.source.latest(timeout_s=0.5)
            if frame is None:
                continue
            self.analysed_frames += 1
            det = Detections.empty()
            for recognizer in self.recognizers:
                try:
                    det = recognizer(frame.image, det)
                except RecognizerError as exc:
                    self.recognizer_errors += 1
                    log.warning(
                        "camera %s: %s skipped a frame: %s", self.camera.id, recognizer.type_name, exc
                    )
                except Exception:  # a bug in one backend must not stop the camera
                    self.recognizer_errors += 1
                    log.exception("camera %s: %s failed", self.camera.id, recognizer.type_name)
            height, width = frame.image.shape[:2]
            try:
                payloads = payloads_for(
                    det, self.agent.producer, self.camera.id, frame.capture_time, width, height
                )
            except events.EventValidationError as exc:
                log.error("camera %s: event not built: %s", self.camera.id, exc)
                payloads = []
            for payload in payloads:
                if self._repeat(payload, frame.capture_time):
                    continue
                self.agent.emit(payload)
                self.events += 1
            next_due = max(next_due + period, time.monotonic())
            self._stop.wait(max(0.0, next_due - time.monotonic()))

    def _repeat(self, payload: dict[str, Any], now: float) -> bool:
        if payload["event_type"] != "plate.read":
            return False
        key = payload["plate"]["normalised"]
        last = self._recent_plates.get(key)
        self._recent_plates = {k: t for k, t in self._recent_plates.items() if now - t < self.repeat_window_s}
        self._recent_plates[key] = now
        return last is not None and now - last < self.repeat_window_s

    def heartbeat_entry(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera.id,
            "status": self.source.status,
            "decoded_frames": self.source.stats.decoded_frames,
            "analysed_frames": self.analysed_frames,
            "dropped_frames": self.source.skipped_frames,
            "events": self.events,
        }


class Agent:
    """The whole agent. `start()` returns at once; `stop()` flushes what it can and returns."""

    def __init__(self, config: AgentConfig):
        self.config = config
        self.started = time.time()
        self.broker: EmbeddedBroker | None = None
        settings = config.kafka
        if settings.embedded:
            self.broker = EmbeddedBroker(log_path=config.data_dir / "broker.log")
            settings = settings.model_copy(update={"bootstrap_servers": self.broker.bootstrap_servers})
        self.kafka = settings
        self.spool = Spool(config.data_dir / "spool.sqlite")
        self.publisher = Publisher(self.spool, self.kafka, config.topic_prefix)
        self.workers = [CameraWorker(cam, self) for cam in config.resolved_cameras()]
        self.producer = Producer(config.agent_id, __version__, {})
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def emit(self, payload: dict[str, Any]) -> None:
        """Spool one event; the publisher sends it."""
        record = events.to_kafka(payload, self.producer, self.config.topic_prefix)
        self.spool.put(payload["event_id"], record)

    def start(self) -> Agent:
        if self.broker is not None:
            self.broker.start()
        if self.spool.depth():
            log.info("replaying %d events left in the spool by an earlier run", self.spool.depth())
        self.publisher.start()
        for worker in self.workers:
            worker.start()
        self.producer = Producer(self.config.agent_id, __version__, self._model_versions())
        self.heartbeat()
        self._heartbeat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self._heartbeat.start()
        log.info(
            "agent %s running %d camera(s); events to %s (topics %s*)",
            self.config.agent_id,
            len(self.workers),
            self.kafka.bootstrap_servers,
            self.config.topic_prefix,
        )
        return self

    def _model_versions(self) -> dict[str, str]:
        versions: dict[str, str] = {}
        for worker in self.workers:
            for rec in worker.recognizers:
                versions.update(getattr(rec, "model_versions", {}) or {})
        return versions

    def _beat(self) -> None:
        while not self._stop.wait(self.config.heartbeat_s):
            self.heartbeat()

    def heartbeat(self) -> None:
        fields = {
            "uptime_s": round(time.time() - self.started, 3),
            "cameras": [w.heartbeat_entry() for w in self.workers],
        }
        self.emit(events.build("agent.heartbeat", self.producer, self.config.agent_id, time.time(), fields))

    def stop(self, flush_timeout_s: float = 10.0) -> None:
        self._stop.set()
        for worker in self.workers:
            worker.stop()
        self.publisher.stop(flush_timeout_s)
        left = self.spool.depth()
        if left:
            log.warning("%d events not yet acknowledged stay in %s for the next run", left, self.spool.path)
        self.spool.close()
        if self.broker is not None:
            self.broker.stop()
