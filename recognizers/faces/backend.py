"""The agent's face backend: finds faces in each analysed frame and matches them to watchlists.

Adds one object per face (class `CLASS_FACE`) with `data` keys `landmarks` (5 × [x, y]),
`quality` (0..1, >= 0.5 passed every gate), `person` (id or "unknown"), `watchlist` (name or
None) and `distance` (to the nearest enrolment, None when the face was not compared). Faces that
fail a quality gate are never compared, so a bad crop cannot produce a match.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from matthan.models import ModelMissingError
from matthan.recognizers.base import CLASS_FACE, Detections, RecognizerError
from matthan.recognizers.faces.pipeline import (
    DetectorSettings,
    FacePipeline,
    resolve_detector,
    resolve_embedder,
)
from matthan.recognizers.faces.privacy import redact_unmatched
from matthan.recognizers.faces.quality import QualityGates
from matthan.recognizers.faces.watchlist import DEFAULT_THRESHOLD, UNKNOWN, WatchlistStore, default_db_path

log = logging.getLogger(__name__)


class FacesConfig(BaseModel):
    """`type: faces` in an agent's recognisers."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["faces"] = "faces"
    #: SQLite file written by `matthan faces enroll` (default: the agent's data directory)
    watchlist_db: Path | None = None
    #: largest euclidean distance that still counts as the same person (calibrated at FMR 1e-4)
    match_threshold: float = Field(DEFAULT_THRESHOLD, gt=0.0)
    detect_score_threshold: float = Field(0.6, gt=0.0, lt=1.0)
    #: frames are downscaled so their longer side is at most this for detection (0: full size)
    detect_max_side: int = Field(640, ge=0)
    min_face_px: float = Field(QualityGates.min_face_px, gt=0.0)
    min_sharpness: float = Field(QualityGates.min_sharpness, ge=0.0)
    max_yaw: float = Field(QualityGates.max_yaw, gt=0.0)
    max_pitch: float = Field(QualityGates.max_pitch, gt=0.0)
    #: blur faces that match no watchlist in every snapshot that leaves the agent
    blur_unmatched: bool = True
    threads: int = Field(1, ge=1)

    def gates(self) -> QualityGates:
        return QualityGates(
            min_face_px=self.min_face_px,
            min_sharpness=self.min_sharpness,
            max_yaw=self.max_yaw,
            max_pitch=self.max_pitch,
        )


class FacesRecognizer:
    type_name: ClassVar[str] = "faces"

    def __init__(self, config: FacesConfig) -> None:
        self.config = config
        self._pipeline: FacePipeline | None = None
        self._store: WatchlistStore | None = None
        self.model_versions: dict[str, str] = {}

    def load(self) -> None:
        """Load both models (ModelMissingError names the install command) and open the watchlists.

        A watchlist database that does not exist yet is not created: every face stays unknown
        until `matthan faces enroll` writes it (the agent notices without a restart).
        """
        cfg = self.config
        settings = DetectorSettings(score_threshold=cfg.detect_score_threshold, max_side=cfg.detect_max_side)
        try:
            embedder = resolve_embedder()
        except ModelMissingError as exc:
            # detection still works (face.detected events, blurring); matching needs the embedder
            log.warning("faces: watchlist matching off, every face is unknown: %s", exc)
            self._pipeline = FacePipeline.from_store(cfg.gates(), settings, embed=False, threads=cfg.threads)
            self.model_versions = {"yunet": resolve_detector().sha256[:12]}
            return
        self._pipeline = FacePipeline.from_store(cfg.gates(), settings, threads=cfg.threads)
        self.model_versions = {"yunet": resolve_detector().sha256[:12], "dlib-resnet": embedder.sha256[:12]}
        path = cfg.watchlist_db or default_db_path()
        self._store = WatchlistStore(path, embedder.sha256, create=False)
        if not path.is_file():
            log.warning("face watchlist %s does not exist yet: every face is unknown", path)

    def __call__(self, frame: npt.NDArray[np.uint8], detections: Detections) -> Detections:
        if self._pipeline is None:
            raise RecognizerError("FacesRecognizer.load() was not called")
        if (
            not isinstance(frame, np.ndarray)
            or frame.ndim != 3
            or frame.shape[2] != 3
            or frame.dtype != np.uint8
        ):
            shape = getattr(frame, "shape", None)
            raise RecognizerError(f"faces: expected a BGR uint8 frame (H, W, 3), got {shape}")
        faces = self._pipeline.analyse(frame)
        if not faces:
            return detections
        persons: list[str] = []
        watchlists: list[str | None] = []
        distances: list[float | None] = []
        for face in faces:
            if face.embedding is None or self._store is None:
                persons.append(UNKNOWN)
                watchlists.append(None)
                distances.append(None)
                continue
            match = self._store.nearest(face.embedding, self.config.match_threshold)
            persons.append(match.person)
            watchlists.append(match.watchlist)
            distances.append(round(match.distance, 4) if np.isfinite(match.distance) else None)
        found = Detections(
            boxes=np.stack([f.box for f in faces]),
            scores=np.array([f.score for f in faces], np.float32),
            class_ids=np.full(len(faces), CLASS_FACE, np.int32),
            data={
                "landmarks": [np.round(f.landmarks, 1).tolist() for f in faces],
                "quality": [f.quality.score for f in faces],
                "person": persons,
                "watchlist": watchlists,
                "distance": distances,
                "threshold": [self.config.match_threshold] * len(faces),
            },
        )
        return Detections.merge([detections, found])

    def redact(self, frame: npt.NDArray[np.uint8], detections: Detections) -> npt.NDArray[np.uint8]:
        """The frame as it may leave the agent: unmatched faces blurred when `blur_unmatched`."""
        if not self.config.blur_unmatched:
            return frame
        return redact_unmatched(frame, detections)
