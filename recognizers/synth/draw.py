"""Drawing world-space primitives through a :class:`Camera` onto a BGR uint8 image."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from .camera import Camera

F64 = npt.NDArray[np.float64]
Image = npt.NDArray[np.uint8]
Colour = tuple[float, float, float]

SHIFT = 3  # sub-pixel bits for cv2 drawing
_ONE = float(1 << SHIFT)
NEAR = 0.3  # metres: geometry closer than this to the camera plane is clipped


def fixed(px: F64) -> npt.NDArray[np.int32]:
    """Pixel coordinates as cv2's fixed-point integers (for `shift=SHIFT`)."""
    return np.round(np.clip(px, -1e5, 1e5) * _ONE).astype(np.int32)


def clip_near(cam_pts: F64) -> F64:
    """Clip a convex polygon (camera coordinates, (N, 3)) to the half-space z >= NEAR."""
    out: list[F64] = []
    n = len(cam_pts)
    for i in range(n):
        a, b = cam_pts[i], cam_pts[(i + 1) % n]
        a_in, b_in = a[2] >= NEAR, b[2] >= NEAR
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (NEAR - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out, np.float64).reshape(-1, 3)


def to_pixels(cam: Camera, cam_pts: F64) -> F64:
    z = cam_pts[:, 2:3]
    return np.asarray(cam.focal * cam_pts[:, :2] / z + np.array([cam.width / 2, cam.height / 2]), np.float64)


def polygon(img: Image, cam: Camera, world: F64, colour: Colour) -> bool:
    """Fill the convex world polygon `world` (N, 3); returns whether anything was in front of the camera."""
    c = cam.to_camera(world)
    if (c[:, 2] < NEAR).any():
        c = clip_near(c)
        if len(c) < 3:
            return False
    cv2.fillConvexPoly(img, fixed(to_pixels(cam, c)), colour, cv2.LINE_AA, SHIFT)
    return True


def polyline(img: Image, cam: Camera, world: F64, colour: Colour, thickness_px: float) -> None:
    """A world polyline (N, 3) drawn `thickness_px` wide (points behind the camera are dropped)."""
    px, z = cam.project(world)
    keep = z > NEAR
    if keep.sum() < 2:
        return
    cv2.polylines(img, [fixed(px[keep])], False, colour, max(1, round(thickness_px)), cv2.LINE_AA, SHIFT)


def sphere(img: Image, cam: Camera, centre: F64, radius_m: float, colour: Colour) -> None:
    """A filled disc where a sphere of `radius_m` at `centre` (3,) appears."""
    px, z = cam.project(centre.reshape(1, 3))
    if z[0] <= NEAR:
        return
    r = cam.focal * radius_m / z[0]
    p = fixed(px[0])
    cv2.circle(img, (int(p[0]), int(p[1])), max(1, round(r * _ONE)), colour, -1, cv2.LINE_AA, SHIFT)


def box_corners(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> F64:
    """The 8 corners of an axis-aligned box: bottom face, then top; each (x0,z0) (x1,z0) (x1,z1) (x0,z1)."""
    return np.array(
        [
            [x0, y0, z0],
            [x1, y0, z0],
            [x1, y0, z1],
            [x0, y0, z1],
            [x0, y1, z0],
            [x1, y1, z0],
            [x1, y1, z1],
            [x0, y1, z1],
        ],
        np.float64,
    )


#: The six quads of a box from :func:`box_corners`, as corner indices, with outward normals in the
#: order: bottom, top, -z (back), +x (right), +z (front), -x (left).
BOX_FACES: tuple[tuple[int, int, int, int], ...] = (
    (0, 1, 2, 3),
    (4, 5, 6, 7),
    (0, 1, 5, 4),
    (1, 2, 6, 5),
    (2, 3, 7, 6),
    (3, 0, 4, 7),
)
BOTTOM, TOP, BACK, RIGHT, FRONT, LEFT = range(6)
