"""A pinhole camera on a pole above a road, in world metres.

World axes: X to the right across the road, Y up, Z along the road away from the camera's foot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Camera:
    """Intrinsics from the image size and focal length (pixels); pose from position, pitch and yaw."""

    width: int
    height: int
    focal: float
    position: tuple[float, float, float]
    pitch_deg: float  # downward tilt
    yaw_deg: float = 0.0  # positive turns the view to the right
    rotation: F64 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p, y = math.radians(self.pitch_deg), math.radians(self.yaw_deg)
        forward = np.array([math.sin(y) * math.cos(p), -math.sin(p), math.cos(y) * math.cos(p)])
        right = np.array([math.cos(y), 0.0, -math.sin(y)])
        down = np.cross(right, forward)
        object.__setattr__(self, "rotation", np.stack([right, down, forward]))

    @classmethod
    def looking_down_road(
        cls,
        size: tuple[int, int],
        *,
        focal_factor: float,
        height_m: float,
        x_m: float,
        pitch_deg: float,
        yaw_deg: float = 0.0,
    ) -> Camera:
        """A camera of `size` (w, h) whose focal length is `focal_factor` times the image width."""
        w, h = size
        return cls(w, h, focal_factor * w, (x_m, height_m, 0.0), pitch_deg, yaw_deg)

    def to_camera(self, points: F64) -> F64:
        """World points (N, 3) in camera coordinates (x right, y down, z forward)."""
        return np.asarray(
            (np.asarray(points, np.float64) - np.asarray(self.position)) @ self.rotation.T, np.float64
        )

    def project(self, points: F64) -> tuple[F64, F64]:
        """Pixel coordinates (N, 2) and depths (N,) of world points (N, 3); depth <= 0 is behind."""
        c = self.to_camera(points)
        z = c[:, 2]
        safe = np.where(z > 1e-6, z, 1e-6)
        u = self.focal * c[:, 0] / safe + self.width / 2
        v = self.focal * c[:, 1] / safe + self.height / 2
        return np.stack([u, v], axis=1), z

    def ground_homography(self) -> F64:
        """The 3x3 homography from ground-plane (X, Z) metres to pixels."""
        k = np.array([[self.focal, 0, self.width / 2], [0, self.focal, self.height / 2], [0, 0, 1.0]])
        t = -self.rotation @ np.asarray(self.position)
        # Columns for X and Z of [R | t] (Y = 0 on the ground).
        rt = np.stack([self.rotation[:, 0], self.rotation[:, 2], t], axis=1)
        return np.asarray(k @ rt, np.float64)

    def scaled(self, factor: float) -> Camera:
        """The same view at `factor` times the resolution (for supersampled rendering)."""
        return Camera(
            round(self.width * factor),
            round(self.height * factor),
            self.focal * factor,
            self.position,
            self.pitch_deg,
            self.yaw_deg,
        )
