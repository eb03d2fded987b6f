"""Detect -> align -> assess -> embed, for one image; shared by the agent backend, CLI and evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from matthan.models import ModelEntry, resolve
from matthan.recognizers.faces.align import align, chip_transform
from matthan.recognizers.faces.embed import DlibEmbedder
from matthan.recognizers.faces.quality import Quality, QualityGates, assess
from matthan.recognizers.faces.yunet import YuNetDetector

FloatArray = npt.NDArray[np.float32]

DETECTOR_MODEL = "yunet"
EMBEDDER_MODEL = "dlib-resnet"
INSTALL_DETECTOR = "matthan models install yunet"
INSTALL_EMBEDDER = "matthan models install dlib-resnet"


@dataclass
class Face:
    """One face in an image; `embedding` is None when it was not computed (failed a gate)."""

    box: FloatArray
    score: float
    landmarks: FloatArray
    quality: Quality
    embedding: FloatArray | None = None


def resolve_detector() -> ModelEntry:
    return resolve(DETECTOR_MODEL, INSTALL_DETECTOR)


def resolve_embedder() -> ModelEntry:
    return resolve(EMBEDDER_MODEL, INSTALL_EMBEDDER)


@dataclass(frozen=True)
class DetectorSettings:
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    #: frames whose longer side exceeds this are downscaled for detection (0: never)
    max_side: int = 640


class FacePipeline:
    """Finds faces and embeds the ones good enough to compare."""

    def __init__(
        self,
        detector: YuNetDetector,
        embedder: DlibEmbedder | None,
        gates: QualityGates,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.gates = gates

    @classmethod
    def from_store(
        cls,
        gates: QualityGates | None = None,
        detector: DetectorSettings | None = None,
        *,
        embed: bool = True,
        threads: int = 1,
        detector_path: Path | None = None,
        embedder_path: Path | None = None,
    ) -> FacePipeline:
        """Load both models from the model store (ModelMissingError names the install command)."""
        settings = detector or DetectorSettings()
        det = YuNetDetector(
            detector_path or resolve_detector().path,
            score_threshold=settings.score_threshold,
            nms_threshold=settings.nms_threshold,
            max_side=settings.max_side,
            threads=threads,
        )
        emb = DlibEmbedder(embedder_path or resolve_embedder().path, threads=threads) if embed else None
        return cls(det, emb, gates or QualityGates())

    def analyse(self, image: npt.NDArray[np.uint8], *, embed_all: bool = False) -> list[Face]:
        """All faces in a BGR image, best detector score first; embeds those that pass the gates
        (or every face when `embed_all`, for evaluation)."""
        found = self.detector.detect(image)
        faces: list[Face] = []
        chips: list[npt.NDArray[np.uint8]] = []
        wanted: list[int] = []
        for i in range(len(found)):
            landmarks = found.landmarks[i]
            chip = align(image, landmarks)
            quality = assess(found.boxes[i], landmarks, chip, chip_transform(landmarks), self.gates)
            faces.append(Face(found.boxes[i], float(found.scores[i]), landmarks, quality))
            if self.embedder is not None and (embed_all or quality.passed):
                chips.append(chip)
                wanted.append(i)
        if chips and self.embedder is not None:
            vectors = self.embedder.embed(np.stack(chips))
            for i, vector in zip(wanted, vectors, strict=True):
                faces[i].embedding = vector
        return faces


def largest(faces: list[Face]) -> Face | None:
    """The face with the largest box (the subject of a portrait), or None."""
    if not faces:
        return None
    return max(faces, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
