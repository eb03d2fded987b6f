"""Ground truth of a synthetic street clip: which plates are where in every frame, as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Box = tuple[float, float, float, float]
Corners = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]

TRUTH_VERSION = 1


@dataclass(frozen=True)
class PlateFrame:
    """A plate in one frame.

    `box` (x1, y1, x2, y2) is the plate's bounding box clipped to the frame; `corners` are its four
    corners (top-left, top-right, bottom-right, bottom-left as printed), which may lie outside the frame.
    `text_px` is the height of one row of characters in pixels; `visible` the share of the plate that is
    inside the frame and not hidden by a nearer vehicle; `readable` that the plate is whole, unoccluded
    (visible >= 0.95) and its text at least the clip's `readable_px` tall.
    """

    frame: int
    t: float
    box: Box
    corners: Corners
    text_px: float
    visible: float
    readable: bool


@dataclass
class VehicleTruth:
    """One vehicle of the clip and its plate.

    `plate_visible` is False for vehicles whose only plate faces away from the camera (oncoming
    motorbikes carry a rear plate only); their `frames` are empty. `first_s` / `last_s` bound the time
    any part of the vehicle is in the frame.
    """

    track_id: int
    kind: str
    direction: str  # "away" (seen from behind) or "toward" (seen from the front)
    plate_text: str
    rows: int
    colour: str
    category: str
    plate_shape: str
    plate_visible: bool
    first_s: float
    last_s: float
    frames: list[PlateFrame] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        return any(f.readable for f in self.frames)


@dataclass(frozen=True)
class ClipInfo:
    fps: int
    width: int
    height: int
    seconds: float
    frames: int
    seed: int
    night: bool
    readable_px: float
    codec: str = "h264"
    gop: int = 0  # frames between keyframes
    b_frames: int = 0

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


@dataclass
class ClipTruth:
    """Everything a scorer needs to know about a synthetic clip; round-trips through JSON."""

    clip: ClipInfo
    vehicles: list[VehicleTruth]

    def plates_at(self, frame: int) -> list[tuple[VehicleTruth, PlateFrame]]:
        """The plates (with their vehicles) present in `frame`."""
        out = []
        for v in self.vehicles:
            for f in v.frames:
                if f.frame == frame:
                    out.append((v, f))
        return out

    def to_json(self) -> str:
        return json.dumps(
            {"version": TRUTH_VERSION, **asdict(self)}, ensure_ascii=False, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str) -> ClipTruth:
        data = json.loads(text)
        version = data.pop("version", None)
        if version != TRUTH_VERSION:
            raise ValueError(f"truth file version {version!r}; this code reads version {TRUTH_VERSION}")
        vehicles = [_vehicle(v) for v in data["vehicles"]]
        return cls(ClipInfo(**data["clip"]), vehicles)

    def save(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ClipTruth:
        return cls.from_json(path.read_text(encoding="utf-8"))


def _vehicle(d: dict[str, Any]) -> VehicleTruth:
    frames = [
        PlateFrame(
            frame=f["frame"],
            t=f["t"],
            box=(f["box"][0], f["box"][1], f["box"][2], f["box"][3]),
            corners=_corners(f["corners"]),
            text_px=f["text_px"],
            visible=f["visible"],
            readable=f["readable"],
        )
        for f in d.pop("frames")
    ]
    return VehicleTruth(**d, frames=frames)


def _corners(c: list[list[float]]) -> Corners:
    return ((c[0][0], c[0][1]), (c[1][0], c[1][1]), (c[2][0], c[2][1]), (c[3][0], c[3][1]))
