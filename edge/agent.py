"""The edge agent: one worker per camera (source → recognisers → tracker → sightings → events),
one durable spool, one publisher to Kafka, metrics and health on HTTP, and a heartbeat. Nothing a
camera or the broker does stops the agent, and no event is lost."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from matthan.edge import __version__
from matthan.edge.config import AgentConfig, ResolvedCamera, backend_classes
from matthan.edge.eventing import payload_for
from matthan.edge.metrics import AgentHttpServer, AgentMetrics
from matthan.edge.publisher import Publisher
from matthan.edge.sightings import Decision, Sightings
from matthan.edge.snapshots import SnapshotStore, blur
from matthan.edge.source import ONLINE, STARTING, CameraSource, StatusChange
from matthan.edge.spool import Spool, SpooledEvent
from matthan.edge.tracking import Tracker
from matthan.integration import events
from matthan.integration.broker import EmbeddedBroker
from matthan.integration.events import Producer
from matthan.recognizers.base import CLASS_FACE, Detections, Recognizer, RecognizerError

log = logging.getLogger(__name__)

QUOTA_CHECK_S = 10.0


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 5.0):
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)

    def rate(self, now: float) -> float:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        return len(self._times) / self.window_s


class CameraWorker:
    """Analyses the newest frame of one camera at its analysis rate and spools the events."""

    def __init__(self, camera: ResolvedCamera, agent: Agent):
        self.camera = camera
        self.agent = agent
        self.metrics = agent.metrics
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
        self.tracker = Tracker(camera.analysis_fps, lost_after_s=camera.tracking.lost_after_s)
        self.sightings = Sightings(camera.tracking)
        self.analysed_rate = RateMeter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._frame_size = (0, 0)

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
        """Start reading and analysing (after `load()`)."""
        self.source.start()
        self._thread = threading.Thread(target=self._run, name=f"worker-{self.camera.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading the camera, then report every open track (nothing seen goes unreported)."""
        self._stop.set()
        self.source.stop()
        if self._thread is not None:
            self._thread.join(10)
        self._emit_decisions(self.sightings.flush())

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _on_status(self, change: StatusChange) -> None:
        cam = self.camera.id
        self.metrics.camera_up.labels(cam).set(1 if change.status == ONLINE else 0)
        if change.previous != STARTING and change.status == ONLINE:
            self.metrics.reconnects.labels(cam).inc()
        fields: dict[str, Any] = {
            "status": change.status,
            "previous": None if change.previous == STARTING else change.previous,
            "reason": change.reason,
            "url": self.source.safe_url,
            "stream": change.stream,
            "reconnects": change.reconnects,
        }
        self.agent.emit(events.build("camera.status", self.agent.producer, cam, time.time(), fields))

    def _run(self) -> None:
        period = 1.0 / self.camera.analysis_fps
        next_due = time.monotonic()
        cam = self.camera.id
        stage = self.metrics.stage
        while not self._stop.is_set():
            frame = self.source.latest(timeout_s=0.5)
            if frame is None:
                continue
            self.analysed_frames += 1
            self.metrics.analysed.labels(cam).inc()
            self.analysed_rate.tick(time.monotonic())
            stage.labels(cam, "decode").observe(frame.decode_s)
            det = Detections.empty()
            for recognizer in self.recognizers:
                started = time.perf_counter()
                try:
                    det = recognizer(frame.image, det)
                except RecognizerError as exc:
                    self._recognizer_failed(recognizer, str(exc))
                except Exception as exc:  # a bug in one backend must not stop the camera
                    log.exception("camera %s: %s failed", cam, recognizer.type_name)
                    self._recognizer_failed(recognizer, repr(exc))
                stages = getattr(recognizer, "last_stage_seconds", None)
                if isinstance(stages, dict) and stages:  # e.g. the plates backend: detect, read
                    for name, seconds in stages.items():
                        stage.labels(cam, str(name)).observe(float(seconds))
                else:
                    stage.labels(cam, recognizer.type_name).observe(time.perf_counter() - started)
            started = time.perf_counter()
            tracked = self.tracker.update(det, frame.capture_time)
            decisions = self.sightings.update(tracked, frame.capture_time, frame.image)
            stage.labels(cam, "track").observe(time.perf_counter() - started)
            self._frame_size = (frame.image.shape[1], frame.image.shape[0])
            self._emit_decisions(decisions)
            next_due = max(next_due + period, time.monotonic())
            self._stop.wait(max(0.0, next_due - time.monotonic()))

    def _recognizer_failed(self, recognizer: Recognizer, reason: str) -> None:
        self.recognizer_errors += 1
        self.metrics.recognizer_errors.labels(self.camera.id, recognizer.type_name).inc()
        log.warning("camera %s: %s skipped a frame: %s", self.camera.id, recognizer.type_name, reason)

    def _emit_decisions(self, decisions: list[Decision]) -> None:
        width, height = self._frame_size
        for decision in decisions:
            event_id = events.new_event_id()
            try:
                snapshot = self.agent.snapshot(self.camera.id, event_id, decision)
                payload = payload_for(decision, self.agent.producer, self.camera.id, width, height, snapshot)
            except events.EventValidationError as exc:
                log.error("camera %s: event not built: %s", self.camera.id, exc)
                continue
            payload["event_id"] = event_id
            self.agent.emit(payload)
            self.events += 1

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
        self.metrics = AgentMetrics()
        self.broker: EmbeddedBroker | None = None
        settings = config.kafka
        if settings.embedded:
            self.broker = EmbeddedBroker(log_path=config.data_dir / "broker.log")
            settings = settings.model_copy(update={"bootstrap_servers": self.broker.bootstrap_servers})
        self.kafka = settings
        self.spool = Spool(config.data_dir / "spool.sqlite")
        self.publisher = Publisher(self.spool, self.kafka, config.topic_prefix, on_acked=self._acked)
        self.snapshots = SnapshotStore(config.data_dir / "snapshots", config.http.public_url)
        self.http: AgentHttpServer | None = None
        self.workers = [CameraWorker(cam, self) for cam in config.resolved_cameras()]
        self.producer = Producer(config.agent_id, __version__, {})
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._last_beat = 0.0
        self._stats_at: dict[str, tuple[float, int, int]] = {}
        self._over_quota = False

    # -- events ------------------------------------------------------------------------------
    def emit(self, payload: dict[str, Any]) -> None:
        """Spool one event (validated already); the publisher sends it."""
        record = events.to_kafka(payload, self.producer, self.config.topic_prefix)
        capture = events.parse_time(payload["capture_time"])
        self.spool.put(payload["event_id"], record, capture)
        self.metrics.events.labels(payload["camera_id"], payload["event_type"]).inc()

    def snapshot(self, camera_id: str, event_id: str, decision: Decision) -> dict[str, Any] | None:
        if not self.config.storage.snapshots or decision.crop is None:
            return None
        image = decision.crop
        unmatched = decision.class_id == CLASS_FACE and decision.fields.get("person") in (None, "unknown")
        if unmatched and self.config.storage.blur_unmatched_faces:
            image = blur(image)
        return self.snapshots.save(camera_id, event_id, image)

    def _acked(self, items: list[SpooledEvent], acked_at: float) -> None:
        self.metrics.delivered.inc(len(items))
        self.metrics.broker_up.set(1)
        publish = self.metrics.stage
        for item in items:
            camera = item.record.key.decode("utf-8", "replace")
            publish.labels(camera, "publish").observe(max(0.0, acked_at - item.created))
            if item.capture_time is not None:
                self.metrics.capture_to_ack.observe(max(0.0, acked_at - item.capture_time))

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Agent:
        if self.broker is not None:
            self.broker.start()
        if self.spool.depth():
            log.info("replaying %d events left in the spool by an earlier run", self.spool.depth())
        self.publisher.start()
        for worker in self.workers:
            worker.load()
        self.producer = Producer(self.config.agent_id, __version__, self._model_versions())
        for worker in self.workers:
            worker.start()
        if self.config.http.enabled:
            try:
                self.http = AgentHttpServer(
                    self.metrics,
                    self.readiness,
                    self.liveness,
                    self.snapshots,
                    self.config.http.host,
                    self.config.http.port,
                ).start()
                log.info("metrics and health on http://%s:%d/metrics", self.config.http.host, self.http.port)
            except OSError as exc:
                log.error(
                    "HTTP port %s:%d not available (%s); running without metrics",
                    self.config.http.host,
                    self.config.http.port,
                    exc.strerror,
                )
        self.heartbeat()
        self._heartbeat = threading.Thread(target=self._housekeeping, name="heartbeat", daemon=True)
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

    def liveness(self) -> bool:
        return not self._stop.is_set() and all(w.alive for w in self.workers)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        cameras = {w.camera.id: w.source.status for w in self.workers}
        broker = self.publisher.connected or (self.spool.depth() == 0 and self.publisher.down_since is None)
        ready = broker and all(status == ONLINE for status in cameras.values())
        return ready, {"broker": "connected" if broker else "unreachable", "cameras": cameras}

    def _housekeeping(self) -> None:
        last_quota = 0.0
        while not self._stop.wait(1.0):
            self.update_gauges()
            # walking the snapshot folder costs I/O: the disk quota is checked every 10 s
            if time.monotonic() - last_quota >= QUOTA_CHECK_S:
                last_quota = time.monotonic()
                self.enforce_quota()
            if time.monotonic() - self._last_beat >= self.config.heartbeat_s:
                self.heartbeat()

    def update_gauges(self) -> None:
        m = self.metrics
        now = time.monotonic()
        for worker in self.workers:
            cam = worker.camera.id
            decoded, skipped = worker.source.stats.decoded_frames, worker.source.skipped_frames
            then, decoded_then, skipped_then = self._stats_at.get(cam, (now, 0, 0))
            if now > then:
                m.decode_fps.labels(cam).set((decoded - decoded_then) / (now - then))
            self._stats_at[cam] = (now, decoded, skipped)
            m.decoded.labels(cam).inc(max(0, decoded - decoded_then))
            m.dropped.labels(cam).inc(max(0, skipped - skipped_then))
            m.analysed_fps.labels(cam).set(worker.analysed_rate.rate(now))
        m.spool_depth.set(self.spool.depth())
        m.spool_age.set(self.spool.oldest_age_s())
        m.broker_up.set(1 if self.publisher.connected else 0)

    def enforce_quota(self) -> None:
        """Keep spool + snapshots within the quota: snapshots go first, events are never dropped."""
        quota = int(self.config.storage.quota_mb * 1024 * 1024)
        used = self.spool.size_bytes() + self.snapshots.size_bytes()
        if used > quota:
            freed = self.snapshots.drop_oldest(used - quota)
            if freed:
                self.metrics.snapshots_dropped.inc(self.snapshots.dropped)
                self.snapshots.dropped = 0
                log.warning(
                    "storage over its %.0f MB quota: dropped %d bytes of snapshots", quota / 2**20, freed
                )
            used -= freed
        over = used > quota
        if over and not self._over_quota:
            log.error(
                "ALARM: event spool alone exceeds the %.0f MB quota (%d events waiting); events are kept",
                quota / 2**20,
                self.spool.depth(),
            )
        self._over_quota = over
        self.metrics.over_quota.set(1 if over else 0)
        self.metrics.spool_bytes.set(used)

    def heartbeat(self) -> None:
        self._last_beat = time.monotonic()
        fields = {
            "uptime_s": round(time.time() - self.started, 3),
            "cameras": [w.heartbeat_entry() for w in self.workers],
        }
        self.emit(events.build("agent.heartbeat", self.producer, self.config.agent_id, time.time(), fields))

    def stop(self, flush_timeout_s: float = 10.0) -> None:
        """Stop reading cameras, report open tracks, flush what can be flushed; the rest stays spooled."""
        self._stop.set()
        for worker in self.workers:
            worker.stop()
        self.publisher.stop(flush_timeout_s)
        left = self.spool.depth()
        if left:
            log.warning("%d events not yet acknowledged stay in %s for the next run", left, self.spool.path)
        if self.http is not None:
            self.http.stop()
        self.spool.close()
        if self.broker is not None:
            self.broker.stop()
