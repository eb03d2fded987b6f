"""`--sut reference`: matthan's own edge agent as the system under test, in this process.

It enrols the suite's watchlist with our face pipeline (when the embedder is installed) and runs
every recogniser this install has. The model-level runner swaps model files (each an ONNX file
following the contract in FORMAT.md): `face_embedder` replaces dlib-resnet through a private model
store (`face_threshold` sets the matching distance that model needs), `plate_detector` is given to
the plate backend's `model_path`, and `plate_reader` replaces the reader's model for the run.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from matthan.benchmarks.conformance.runner import Camera
from matthan.benchmarks.conformance.suite import Suite, sha256_file
from matthan.edge import __version__
from matthan.edge.agent import Agent
from matthan.edge.config import parse_config
from matthan.edge.demo import default_recognizers
from matthan.models import ModelMissingError, register, resolve

log = logging.getLogger(__name__)


class ReferenceSut:
    name = "reference"

    def __init__(
        self,
        suite: Suite,
        *,
        recognizers: list[Any] | None = None,
        analysis_fps: float = 10.0,
        topic_prefix: str | None = None,
        face_embedder: Path | None = None,
        face_threshold: float | None = None,
        plate_detector: Path | None = None,
        plate_reader: Path | None = None,
    ):
        self.suite = suite
        self.recognizers = recognizers
        self.analysis_fps = analysis_fps
        self.topic_prefix = topic_prefix  # publish here instead of the scored prefix (tests' relays)
        self.face_embedder = face_embedder
        self.face_threshold = face_threshold
        self.plate_detector = plate_detector
        self.plate_reader = plate_reader
        self.agent: Agent | None = None
        self._old_store: str | None = None
        self.enrolled: dict[str, int] = {}

    def _private_store(self, work: Path) -> None:
        """A model store where the vendor's embedder stands in for dlib-resnet (yunet copied over)."""
        assert self.face_embedder is not None
        from matthan.recognizers.faces.pipeline import resolve_detector

        detector = resolve_detector()
        root = work / "models"
        for name, version, src in (
            ("yunet", detector.version, detector.path),
            ("dlib-resnet", "vendor", self.face_embedder),
        ):
            dest = root / name / version / "model.onnx"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            register(root, name, version, dest, {"source": str(src)})
        self._old_store = os.environ.get("MATTHAN_MODEL_STORE")
        os.environ["MATTHAN_MODEL_STORE"] = str(root)

    def _enrol(self, db: Path) -> bool:
        """Enrol every watchlist image; False when the embedder is missing (faces stay unknown)."""
        people = self.suite.manifest.watchlist.people
        if not people:
            return False
        try:
            from matthan.recognizers.faces.pipeline import FacePipeline, largest, resolve_embedder
            from matthan.recognizers.faces.watchlist import WatchlistStore

            pipeline = FacePipeline.from_store()
            sha = resolve_embedder().sha256
        except (ImportError, ModelMissingError) as exc:
            log.warning("reference SUT: no watchlist enrolment (%s)", exc)
            return False
        import cv2

        with WatchlistStore(db, sha) as store:
            for person in people:
                rows = []
                for image in person.images:
                    pixels = cv2.imread(str(self.suite.path(image)))
                    if pixels is None:
                        log.warning("reference SUT: cannot read watchlist image %s", image)
                        continue
                    face = largest(pipeline.analyse(pixels.astype(np.uint8)))
                    if face is not None and face.embedding is not None:
                        rows.append((face.embedding, face.quality.score, image))
                if rows:
                    store.enroll(self.suite.manifest.watchlist.name, person.id, rows)
                self.enrolled[person.id] = len(rows)
        log.info("reference SUT: enrolled %s", self.enrolled)
        return True

    def _recognizers(self, db: Path) -> list[Any]:
        names = self.recognizers if self.recognizers is not None else default_recognizers()
        out: list[Any] = []
        for item in names:
            if item == "faces":
                cfg: dict[str, Any] = {"type": "faces", "watchlist_db": str(db)}
                if self.face_threshold is not None:
                    cfg["match_threshold"] = self.face_threshold
                out.append(cfg)
            elif item == "plates" and (self.plate_detector or self.plate_reader):
                plates: dict[str, Any] = {"type": "plates"}
                if self.plate_detector is not None:
                    plates["model_path"] = str(self.plate_detector)
                if self.plate_reader is not None:
                    plates["reader_model_path"] = str(self.plate_reader)
                out.append(plates)
            else:
                out.append(item)
        return out

    def start(self, cameras: list[Camera], bootstrap: str, topic_prefix: str, work: Path) -> None:
        data = work / "reference-agent"
        if self.face_embedder is not None:
            self._private_store(work)
        db = data / "faces" / "watchlists.sqlite"
        db.parent.mkdir(parents=True, exist_ok=True)
        self._enrol(db)
        config = parse_config(
            {
                "agent_id": "reference",
                "data_dir": str(data),
                "kafka": {"bootstrap_servers": bootstrap},
                "topic_prefix": self.topic_prefix or topic_prefix,
                "heartbeat_s": 10,
                "http": {"enabled": False},
                "defaults": {
                    "analysis_fps": self.analysis_fps,
                    "reconnect_max_s": 1.0,
                    "recognizers": self._recognizers(db),
                },
                "cameras": [c.as_dict() for c in cameras],
            },
            "reference SUT",
        )
        self.agent = Agent(config).start()

    def stop(self) -> None:
        agent, self.agent = self.agent, None
        if agent is not None:
            agent.stop(flush_timeout_s=10)
            self._models = agent.producer.models
        if self.face_embedder is not None:
            if self._old_store is None:
                os.environ.pop("MATTHAN_MODEL_STORE", None)
            else:
                os.environ["MATTHAN_MODEL_STORE"] = self._old_store

    def describe(self) -> dict[str, Any]:
        models: dict[str, Any] = {}
        for name, fix in (
            ("yunet", "matthan models install yunet"),
            ("dlib-resnet", "matthan models install dlib-resnet"),
            ("plate-detector", "-"),
            ("plate-reader", "-"),
        ):
            try:
                entry = resolve(name, fix)
                models[name] = {"version": entry.version, "sha256": entry.sha256}
            except ModelMissingError:
                models[name] = None
        for name, path in (
            ("dlib-resnet", self.face_embedder),
            ("plate-detector", self.plate_detector),
            ("plate-reader", self.plate_reader),
        ):
            if path is not None:
                models[name] = {"version": "vendor", "file": str(path), "sha256": sha256_file(path)}
        return {
            "sut": "reference",
            "agent_version": __version__,
            "analysis_fps": self.analysis_fps,
            "recognizers": self.recognizers if self.recognizers is not None else default_recognizers(),
            "models_in_events": getattr(self, "_models", {}),
            "models": models,
            "face_threshold": self.face_threshold,
            "enrolled": self.enrolled,
        }
