"""The per-frame result type and the recogniser interface that every backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

#: Class ids shared by every stage. Backends add objects with one of these ids.
CLASS_PLATE = 0
CLASS_FACE = 1
CLASS_NAMES = {CLASS_PLATE: "plate", CLASS_FACE: "face"}


@dataclass
class Detections:
    """Objects found in one frame, as parallel arrays (one row per object).

    `data` holds per-object extras (plate text, face landmarks, embeddings...) as lists or arrays
    of the same length as `boxes`. Stages take a `Detections` and return one; model outputs are
    converted to it inside each model wrapper.
    """

    boxes: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_ids: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros((0,), np.int32))
    track_ids: npt.NDArray[np.int64] = field(default_factory=lambda: np.full((0,), -1, np.int64))
    data: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.boxes)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(n, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(n)
        self.class_ids = np.asarray(self.class_ids, np.int32).reshape(n)
        if len(self.track_ids) != n:
            self.track_ids = np.full((n,), -1, np.int64)
        for key, values in self.data.items():
            if len(values) != n:
                raise ValueError(f"Detections.data[{key!r}] has {len(values)} items for {n} objects")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        return cls()

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        """Concatenate several results; a `data` key missing from one part is filled with None."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls()
        keys = sorted({k for p in parts for k in p.data})
        return cls(
            boxes=np.concatenate([p.boxes for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            class_ids=np.concatenate([p.class_ids for p in parts]),
            track_ids=np.concatenate([p.track_ids for p in parts]),
            data={k: [v for p in parts for v in p.data.get(k, [None] * len(p))] for k in keys},
        )

    def select(self, mask: npt.NDArray[np.bool_]) -> Detections:
        idx = np.flatnonzero(mask)
        return Detections(
            boxes=self.boxes[idx],
            scores=self.scores[idx],
            class_ids=self.class_ids[idx],
            track_ids=self.track_ids[idx],
            data={k: [v[i] for i in idx] for k, v in self.data.items()},
        )


@runtime_checkable
class Recognizer(Protocol):
    """One recogniser backend: loads its model once, then runs on every analysed frame.

    `frame` is a BGR uint8 image (H, W, 3). `detections` holds what earlier stages found in the
    frame (e.g. plate boxes for a plate reader); the backend returns them with its own objects or
    fields added. It must raise :class:`RecognizerError` (never crash the agent) for bad input.
    """

    #: the config `type` that selects this backend
    type_name: ClassVar[str]

    def load(self) -> None: ...

    def __call__(self, frame: npt.NDArray[np.uint8], detections: Detections) -> Detections: ...


class RecognizerError(RuntimeError):
    """A recogniser could not process one frame (bad input); the agent logs it and goes on."""
