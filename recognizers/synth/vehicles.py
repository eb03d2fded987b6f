"""Low-poly vehicles (cars, motorbikes with riders) in local metres, and drawing them through a camera.

A vehicle is a handful of boxes and tapered boxes ("parts"), spheres for heads, flat "decals" on part
faces (windows, lights, bumpers) and a plate rectangle. Local axes: x to the vehicle's right, y up,
z forward; the origin is on the ground under the vehicle's centre. Drawing projects every corner at
once, culls faces turned away from the camera and paints parts in a fixed back-to-front order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from . import draw
from .camera import Camera
from .draw import BACK, BOX_FACES, FRONT, LEFT, RIGHT, TOP

F64 = npt.NDArray[np.float64]
Image = npt.NDArray[np.uint8]
Colour = tuple[float, float, float]
VehicleKind = Literal["car", "motorbike"]

#: Parts at the end of the vehicle that faces the camera are painted last, the others first.
REAR, MIDDLE, FRONT_END = -1, 0, 1


@dataclass(frozen=True)
class Decal:
    """A flat quad on face `face` of its part, at (u0, v0)-(u1, v1) of the face (u left to right, v up)."""

    face: int
    u0: float
    v0: float
    u1: float
    v1: float
    colour: Colour
    glow: Colour | None = None  # a light: glows at night, a little by day


@dataclass(frozen=True)
class Part:
    corners: F64  # (8, 3) as draw.box_corners: bottom face then top face
    colour: Colour
    layer: int
    end: int = MIDDLE
    decals: tuple[Decal, ...] = ()


@dataclass(frozen=True)
class Ball:
    centre: tuple[float, float, float]
    radius: float
    colour: Colour
    layer: int


@dataclass
class VehicleModel:
    kind: VehicleKind
    length: float
    width: float
    height: float
    parts: list[Part]
    balls: list[Ball]
    plate_end: int  # REAR or FRONT_END: which end carries the visible plate
    plate_size: tuple[float, float]  # metres (w, h)
    plate_centre: tuple[float, float]  # (y, z) of the plate centre
    _corners: F64 = field(init=False, repr=False)
    _normals: F64 = field(init=False, repr=False)
    _centres: F64 = field(init=False, repr=False)
    _points: F64 = field(init=False, repr=False)  # corners, then decal quads, then ball centres
    _face_colours: F64 = field(init=False, repr=False)
    _decals: list[list[tuple[int, int, Colour, Colour | None]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._corners = np.concatenate([p.corners for p in self.parts]) if self.parts else np.zeros((0, 3))
        normals, centres = [], []
        for p in self.parts:
            mid = p.corners.mean(axis=0)
            for f in BOX_FACES:
                q = p.corners[list(f)]
                n = np.cross(q[1] - q[0], q[3] - q[0])
                c = q.mean(axis=0)
                if np.dot(n, c - mid) < 0:
                    n = -n
                norm = float(np.linalg.norm(n))
                normals.append(n / norm if norm > 1e-12 else n)
                centres.append(c)
        self._normals = np.array(normals).reshape(-1, 3)
        self._centres = np.array(centres).reshape(-1, 3)
        self._face_colours = np.repeat(
            np.array([p.colour for p in self.parts], np.float64).reshape(-1, 3), 6, axis=0
        )
        # Decal quads in local metres, nudged off their face so rounding never hides them; indexed per part as
        # (first point index, face index, colour, glow).
        quads: list[F64] = []
        self._decals = []
        base = len(self._corners)
        for i, p in enumerate(self.parts):
            mine: list[tuple[int, int, Colour, Colour | None]] = []
            for d in p.decals:
                k = i * 6 + d.face
                quads.append(_decal_quad(p.corners[list(_FACE_UV[d.face])], d) + self._normals[k] * 0.004)
                mine.append((base + 4 * (len(quads) - 1), k, d.colour, d.glow))
            self._decals.append(mine)
        balls = np.array([b.centre for b in self.balls], np.float64).reshape(-1, 3)
        self._points = (
            np.concatenate([self._corners, *quads, balls])
            if quads
            else np.concatenate([self._corners, balls])
        )

    @property
    def ball_base(self) -> int:
        return len(self._points) - len(self.balls)

    def plate_corners(self) -> F64:
        """Plate corners (4, 3) in local metres: top-left, top-right, bottom-right, bottom-left as printed."""
        w, h = self.plate_size
        y, z = self.plate_centre
        s = 1.0 if self.plate_end == FRONT_END else -1.0
        # Seen from behind (rear plate), +x is on the right; seen from the front, on the left.
        xl, xr = (-w / 2, w / 2) if s < 0 else (w / 2, -w / 2)
        tilt = 0.03 * s  # plates lean back a little
        return np.array(
            [
                [xl, y + h / 2, z - tilt],
                [xr, y + h / 2, z - tilt],
                [xr, y - h / 2, z + tilt],
                [xl, y - h / 2, z + tilt],
            ]
        )


def _shade(colour: Colour, k: float) -> Colour:
    return (colour[0] * k, colour[1] * k, colour[2] * k)


def _taper(
    x0: float, x1: float, y0: float, y1: float, z0: float, z1: float, dx: float, dz0: float, dz1: float
) -> F64:
    """A box whose top face is inset by dx at the sides, dz0 at the back and dz1 at the front."""
    c = draw.box_corners(x0, x1, y0, y1, z0, z1)
    c[4:, 0] = np.where(c[4:, 0] < (x0 + x1) / 2, x0 + dx, x1 - dx)
    c[4:, 2] = np.where(c[4:, 2] < (z0 + z1) / 2, z0 + dz0, z1 - dz1)
    return c


CAR_PAINTS: list[Colour] = [
    (235, 235, 232),
    (240, 240, 240),
    (175, 175, 172),
    (140, 140, 140),
    (35, 35, 38),
    (30, 30, 150),
    (120, 60, 20),
    (60, 60, 70),
    (185, 195, 200),
    (40, 80, 140),
]
BIKE_PAINTS: list[Colour] = [
    (30, 30, 32),
    (30, 30, 170),
    (150, 80, 20),
    (225, 225, 225),
    (170, 170, 170),
    (40, 40, 120),
    (60, 120, 60),
    (180, 130, 60),
]
CLOTHES: list[Colour] = [
    (200, 200, 200),
    (40, 40, 40),
    (130, 70, 30),
    (40, 40, 160),
    (90, 120, 60),
    (60, 170, 220),
    (180, 150, 220),
    (110, 110, 110),
    (150, 40, 120),
    (20, 140, 230),
]
HELMETS: list[Colour] = [
    (240, 240, 240),
    (30, 30, 30),
    (40, 40, 200),
    (160, 90, 20),
    (40, 170, 230),
    (120, 60, 150),
]
GLASS: Colour = (62, 55, 50)
TYRE: Colour = (28, 28, 30)
TAIL: Colour = (40, 40, 170)
HEAD: Colour = (215, 225, 230)
SKIN: Colour = (100, 128, 170)


def _pick(rng: np.random.Generator, colours: list[Colour]) -> Colour:
    c = colours[int(rng.integers(len(colours)))]
    k = rng.uniform(0.9, 1.08)
    return (min(255.0, c[0] * k), min(255.0, c[1] * k), min(255.0, c[2] * k))


def car_model(rng: np.random.Generator, *, plate_rows: int, plate_end: int) -> VehicleModel:
    """A sedan, hatchback, SUV or van: a lower body, a glazed cabin, four wheels, lights and bumpers."""
    style = rng.choice(["sedan", "hatch", "suv", "van"], p=[0.4, 0.25, 0.25, 0.1])
    L = {"sedan": 4.5, "hatch": 3.9, "suv": 4.7, "van": 4.8}[style] * rng.uniform(0.95, 1.05)
    W = rng.uniform(1.7, 1.85)
    clear = 0.22 if style != "suv" else 0.3
    belt = clear + (0.62 if style != "van" else 0.75)
    roof = belt + {"sedan": 0.5, "hatch": 0.55, "suv": 0.7, "van": 0.95}[style]
    paint = _pick(rng, CAR_PAINTS)
    hw = W / 2
    parts: list[Part] = []
    r = 0.32
    for zc in (-L / 2 + 0.85, L / 2 - 0.9):
        for xs in (-1, 1):
            x0 = xs * (hw - 0.06) - 0.11
            parts.append(Part(draw.box_corners(x0, x0 + 0.22, 0, 2 * r, zc - r, zc + r), TYRE, 0))
    light_v = (0.62, 0.9)
    rear_decals = (
        Decal(BACK, 0.02, *light_v, 0.2, TAIL, glow=(60, 60, 255)),
        Decal(BACK, 0.8, *light_v, 0.98, TAIL, glow=(60, 60, 255)),
        Decal(BACK, 0.0, 0.0, 1.0, 0.25, _shade(paint, 0.55)),  # bumper
    )
    front_decals = (
        Decal(FRONT, 0.03, 0.6, 0.22, 0.85, HEAD, glow=(235, 245, 255)),
        Decal(FRONT, 0.78, 0.6, 0.97, 0.85, HEAD, glow=(235, 245, 255)),
        Decal(FRONT, 0.3, 0.55, 0.7, 0.85, (45, 45, 48)),  # grille
        Decal(FRONT, 0.0, 0.0, 1.0, 0.3, _shade(paint, 0.5)),
    )
    body = draw.box_corners(-hw, hw, clear, belt, -L / 2, L / 2)
    parts.append(Part(body, paint, 1, MIDDLE, rear_decals + front_decals))
    back_in = {"sedan": 0.55, "hatch": 0.15, "suv": 0.15, "van": 0.1}[style]
    front_in = {"sedan": 1.25, "hatch": 1.05, "suv": 1.1, "van": 0.6}[style]
    cabin = _taper(-hw + 0.05, hw - 0.05, belt, roof, -L / 2 + back_in, L / 2 - front_in, 0.14, 0.35, 0.55)
    glass = (
        Decal(BACK, 0.08, 0.1, 0.92, 0.9, GLASS),
        Decal(FRONT, 0.06, 0.08, 0.94, 0.92, GLASS),
        Decal(LEFT, 0.06, 0.1, 0.94, 0.88, GLASS),
        Decal(RIGHT, 0.06, 0.1, 0.94, 0.88, GLASS),
    )
    parts.append(Part(cabin, paint, 2, MIDDLE, glass))
    if plate_rows == 1:
        size, y = (0.52, 0.11), clear + 0.3
    else:
        size, y = (0.33, 0.165), clear + 0.3
    z = (L / 2 + 0.015) * (1 if plate_end == FRONT_END else -1)
    return VehicleModel("car", L, W, roof, parts, [], plate_end, size, (y, z))


def motorbike_model(
    rng: np.random.Generator, *, plate_end: int = REAR, passenger: bool | None = None
) -> VehicleModel:
    """A scooter or underbone with a rider (sometimes a passenger), a rear plate and lights."""
    paint = _pick(rng, BIKE_PAINTS)
    shirt = _pick(rng, CLOTHES)
    trousers = _pick(rng, [(40, 40, 45), (90, 70, 50), (120, 110, 100), (60, 50, 40)])
    helmet = _pick(rng, HELMETS)
    parts: list[Part] = []
    balls: list[Ball] = []
    r = 0.28
    for zc in (-0.64, 0.62):
        parts.append(Part(draw.box_corners(-0.055, 0.055, 0, 2 * r, zc - r, zc + r), TYRE, 0))
    parts.append(Part(_taper(-0.17, 0.17, 0.28, 0.72, -0.78, 0.45, 0.02, 0.1, 0.15), paint, 1))
    parts.append(Part(draw.box_corners(-0.15, 0.15, 0.72, 0.82, -0.72, 0.05), (35, 30, 30), 1))  # seat
    tail = draw.box_corners(-0.12, 0.12, 0.6, 0.8, -0.95, -0.72)
    parts.append(
        Part(tail, paint, 5, REAR, (Decal(BACK, 0.15, 0.45, 0.85, 0.95, TAIL, glow=(60, 60, 255)),)),
    )
    fender = draw.box_corners(-0.1, 0.1, 0.33, 0.6, -0.98, -0.9)
    parts.append(Part(fender, (30, 30, 32), 5, REAR))
    fairing = _taper(-0.2, 0.2, 0.55, 1.08, 0.42, 0.72, 0.04, 0.0, 0.12)
    parts.append(
        Part(
            fairing, paint, 5, FRONT_END, (Decal(FRONT, 0.25, 0.55, 0.75, 0.85, HEAD, glow=(235, 245, 255)),)
        )
    )
    parts.append(Part(draw.box_corners(-0.36, 0.36, 1.0, 1.05, 0.4, 0.46), (40, 40, 40), 3))  # handlebar
    # Rider: thighs and shins, torso, arms, head; the helmet is a ball.
    parts.append(Part(draw.box_corners(-0.2, 0.2, 0.8, 0.98, -0.45, 0.12), trousers, 2))
    for xs in (-1, 1):
        x0 = xs * 0.22 - 0.06
        parts.append(Part(draw.box_corners(x0, x0 + 0.12, 0.3, 0.85, 0.02, 0.18), trousers, 2))
    lean = rng.uniform(0.0, 0.1)
    torso = _taper(-0.22, 0.22, 0.95, 1.52, -0.42 + lean, -0.12 + lean, 0.03, 0.0, 0.0)
    parts.append(Part(torso, shirt, 3))
    for xs in (-1, 1):
        x0 = xs * 0.26 - 0.05
        arm = draw.box_corners(x0, x0 + 0.1, 1.0, 1.11, -0.26 + lean, 0.42)
        arm[[0, 1, 4, 5], 1] += 0.34  # from the shoulder (back) down to the grip (front)
        parts.append(Part(arm, shirt, 3))
    balls.append(Ball((0.0, 1.6, -0.27 + lean), 0.065, SKIN, 3))
    balls.append(Ball((0.0, 1.72, -0.29 + lean), 0.145, helmet, 4))
    if passenger if passenger is not None else rng.random() < 0.25:
        shirt2 = _pick(rng, CLOTHES)
        parts.append(Part(_taper(-0.2, 0.2, 0.9, 1.42, -0.78, -0.5, 0.03, 0.0, 0.0), shirt2, 2))
        balls.append(Ball((0.0, 1.57, -0.65), 0.135, _pick(rng, HELMETS), 3))
    return VehicleModel("motorbike", 1.95, 0.72, 1.87, parts, balls, plate_end, (0.19, 0.14), (0.47, -0.985))


@dataclass
class Pose:
    """Where a vehicle stands: ground position (x, z) in world metres and heading (0 = driving away)."""

    x: float
    z: float
    heading_deg: float = 0.0

    def rotation(self) -> F64:
        a = math.radians(self.heading_deg)
        c, s = math.cos(a), math.sin(a)
        # Rotation about the up axis; heading 180 drives toward the camera.
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])

    def to_world(self, local: F64) -> F64:
        return np.asarray(local @ self.rotation().T + np.array([self.x, 0.0, self.z]), np.float64)


@dataclass(frozen=True)
class Shading:
    """Per-frame light on a vehicle: overall gain and whether lights glow (night)."""

    gain: float = 1.0
    night: bool = False


_SUN = np.array([0.45, 0.8, -0.4]) / np.linalg.norm([0.45, 0.8, -0.4])


def _decal_quad(face_pts: F64, d: Decal) -> F64:
    a, b, c, e = face_pts  # face corners: a->b along u, a->e along v (e is the 4th corner)
    out = []
    for u, v in ((d.u0, d.v0), (d.u1, d.v0), (d.u1, d.v1), (d.u0, d.v1)):
        out.append((1 - u) * (1 - v) * a + u * (1 - v) * b + u * v * c + (1 - u) * v * e)
    return np.array(out)


#: For each face, its corners reordered so that u runs left to right and v upward when seen from outside.
_FACE_UV: dict[int, tuple[int, int, int, int]] = {
    BACK: (0, 1, 5, 4),
    FRONT: (2, 3, 7, 6),
    LEFT: (3, 0, 4, 7),
    RIGHT: (1, 2, 6, 5),
    TOP: (4, 5, 6, 7),
}


@dataclass
class Drawn:
    """What drawing one vehicle produced: its screen bounding box and the glowing lights to add."""

    bbox: tuple[int, int, int, int] | None
    glows: list[tuple[float, float, float, Colour]]  # x, y, radius px, colour


def draw_vehicle(
    img: Image,
    ids: Image,
    vid: int,
    cam: Camera,
    model: VehicleModel,
    pose: Pose,
    shading: Shading,
) -> Drawn:
    """Paint `model` at `pose` onto `img`, and its silhouette as `vid` onto `ids` (same size, uint8)."""
    rot = pose.rotation()
    offset = np.array([pose.x, 0.0, pose.z])
    cam_pts = cam.to_camera(model._points @ rot.T + offset)
    z = cam_pts[:, 2]
    behind = z < draw.NEAR
    if behind.all():
        return Drawn(None, [])
    uv = cam.focal * cam_pts[:, :2] / np.maximum(z, draw.NEAR)[:, None] + np.array(
        [cam.width / 2, cam.height / 2]
    )
    n_corners = len(model._corners)
    ok = ~behind[:n_corners]
    lo, hi = uv[:n_corners][ok].min(axis=0), uv[:n_corners][ok].max(axis=0)
    bbox = (math.floor(lo[0]), math.floor(lo[1]), math.ceil(hi[0]), math.ceil(hi[1]))
    h, w = img.shape[:2]
    if bbox[2] < 0 or bbox[3] < 0 or bbox[0] >= w or bbox[1] >= h:
        return Drawn(bbox, [])
    fx = draw.fixed(uv)
    normals = model._normals @ rot.T
    centres = model._centres @ rot.T + offset
    facing = ((np.asarray(cam.position) - centres) * normals).sum(axis=1) > 0
    g = shading.gain
    light = g * (0.62 + 0.38 * np.clip(normals @ _SUN, 0, 1))
    colours = (model._face_colours * light[:, None]).tolist()
    camera_end = REAR if abs(pose.heading_deg) < 90 else FRONT_END
    part_depth = z[:n_corners].reshape(-1, 8).mean(axis=1)
    small = (hi[1] - lo[1]) < 14  # far away: details are below a pixel

    items: list[tuple[int, float, int, bool]] = []  # (layer, -depth, index, is_ball)
    for i, p in enumerate(model.parts):
        layer = p.layer if p.end == MIDDLE else (9 if p.end == camera_end else 0)
        items.append((layer, -float(part_depth[i]), i, False))
    bb = model.ball_base
    for j, b in enumerate(model.balls):
        items.append((b.layer, -float(z[bb + j]), j, True))
    items.sort()

    glows: list[tuple[float, float, float, Colour]] = []
    for _, _, i, is_ball in items:
        if is_ball:
            b = model.balls[i]
            k = bb + i
            if behind[k]:
                continue
            r = cam.focal * b.radius / z[k]
            rr = max(1, round(r * 8))
            centre = (int(fx[k, 0]), int(fx[k, 1]))
            cv2.circle(img, centre, rr, _shade(b.colour, g * 0.92), -1, cv2.LINE_AA, draw.SHIFT)
            cv2.circle(ids, centre, rr, vid, -1, cv2.LINE_8, draw.SHIFT)
            if not small:  # a soft highlight on the helmet
                hc = (int(fx[k, 0] - r * 2.4), int(fx[k, 1] - r * 2.8))
                cv2.circle(
                    img, hc, max(1, round(r * 2.4)), _shade(b.colour, g * 1.08), -1, cv2.LINE_AA, draw.SHIFT
                )
            continue
        base = i * 8
        if behind[base : base + 8].any():
            continue
        pts = fx[base : base + 8]
        cv2.fillConvexPoly(ids, cv2.convexHull(pts), vid, cv2.LINE_8, draw.SHIFT)
        for f, face in enumerate(BOX_FACES):
            k = i * 6 + f
            if facing[k]:
                cv2.fillConvexPoly(img, pts[list(face)], colours[k], cv2.LINE_AA, draw.SHIFT)
        for start, k, colour, glow in model._decals[i]:
            if not facing[k] or behind[start : start + 4].any() or (small and glow is None):
                continue
            if glow is not None and shading.night:
                colour = glow
                q = uv[start : start + 4]
                glows.append(
                    (float(q[:, 0].mean()), float(q[:, 1].mean()), float(np.ptp(q[:, 0])) * 0.9 + 2, glow)
                )
            elif glow is None:
                colour = _shade(colour, light[k])
            cv2.fillConvexPoly(img, fx[start : start + 4], colour, cv2.LINE_AA, draw.SHIFT)
    return Drawn(bbox, glows)
