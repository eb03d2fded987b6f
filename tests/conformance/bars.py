"""A test recogniser for the conformance clips of `tests/conformance/conftest.py`: it finds the
bright bar (red channel) and reads its "plate" from the bar's green level (BARS1, BARS2, …), so each
bar is a distinct plate with exact ground truth and no trained model is needed."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from matthan.recognizers.base import CLASS_PLATE, Detections

BAR_GREEN_STEP = 60


class BarsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["bars"] = "bars"


class BarsDetector:
    type_name: ClassVar[str] = "bars"

    def __init__(self, config: BarsConfig):
        self.config = config
        self.model_versions = {"bars": "test"}

    def load(self) -> None:
        pass

    def __call__(self, frame: npt.NDArray[np.uint8], detections: Detections) -> Detections:
        columns = np.flatnonzero(frame[:, :, 2].mean(axis=0) > 150)
        if len(columns) < 4:
            return detections
        green = float(frame[:, columns, 1].mean())
        text = f"BARS{round(green / BAR_GREEN_STEP)}"
        h = frame.shape[0]
        found = Detections(
            boxes=[[columns.min(), h * 0.4, columns.max() + 1, h * 0.6]],
            scores=[0.9],
            class_ids=[CLASS_PLATE],
            data={
                "text": [text],
                "normalised": [text],
                "confidence": [0.9],
                "format": ["unknown"],
                "rows": [1],
            },
        )
        return Detections.merge([detections, found])
