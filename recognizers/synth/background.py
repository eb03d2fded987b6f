"""The static part of a street scene, rendered once per clip: road, sidewalks, shop-houses, trees, poles.

The ground (asphalt, markings, kerbs, tiles) is painted in a top view in metres and warped into the
image through the camera's ground homography, blurred along the road with distance as a cheap mip-map.
Everything upright is drawn as projected polygons, far to near. The result is supersampled and reduced,
so edges are smooth.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from . import draw
from .camera import Camera

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class RoadLayout:
    """Cross-section of a two-way street (metres; X = 0 on the centre line, traffic keeps right)."""

    lane_width: float = 3.5
    lanes_each_way: int = 2
    sidewalk: float = 4.0
    kerb: float = 0.25
    length: float = 80.0

    @property
    def half_road(self) -> float:
        return self.lane_width * self.lanes_each_way

    @property
    def facade_x(self) -> float:
        return self.half_road + self.kerb + self.sidewalk


@dataclass(frozen=True)
class Lighting:
    """Day: sun and haze. Night: a dim ambient, street lamps and an infrared illuminator at the camera."""

    night: bool

    @property
    def ambient(self) -> float:
        return 0.07 if self.night else 1.0

    def falloff(self, distance: F64 | float) -> F64:
        """Relative brightness at `distance` metres from the camera (IR illuminator at night, 1 by day)."""
        d = np.asarray(distance, np.float64)
        if not self.night:
            return np.ones_like(d)
        return np.clip((9.0 / np.maximum(d, 1.0)) ** 2, 0.0, 1.0) * 0.9 + self.ambient


Colour = tuple[float, float, float]


def _scale(c: tuple[float, float, float] | tuple[int, int, int], k: float) -> Colour:
    return (float(c[0]) * k, float(c[1]) * k, float(c[2]) * k)


def _rgb(values: npt.ArrayLike) -> Colour:
    a = np.asarray(values, np.float64).reshape(3)
    return (float(a[0]), float(a[1]), float(a[2]))


SKY_TOP = (205.0, 190.0, 175.0)
SKY_HAZE = (215.0, 212.0, 205.0)


def _haze(
    colour: tuple[float, float, float], distance: float, lighting: Lighting
) -> tuple[float, float, float]:
    """Atmospheric perspective by day; the illuminator's falloff by night."""
    if lighting.night:
        g = float(lighting.falloff(distance))
        return (colour[0] * g, colour[1] * g, colour[2] * g)
    k = 1.0 - math.exp(-distance / 260.0)
    return _rgb([c * (1 - k) + h * k for c, h in zip(colour, SKY_HAZE, strict=True)])


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int, amp: float) -> F32:
    small = rng.normal(0.0, amp, (max(2, shape[0] // cell + 2), max(2, shape[1] // cell + 2))).astype(
        np.float32
    )
    return np.asarray(cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), np.float32)


class _Ground:
    """A top-view canvas of the ground in metres: X across, Z along (row 0 is Z = z0)."""

    def __init__(self, x0: float, x1: float, z0: float, z1: float, res: float) -> None:
        self.x0, self.z0, self.res = x0, z0, res
        self.w = round((x1 - x0) / res)
        self.h = round((z1 - z0) / res)
        self.img = np.zeros((self.h, self.w, 3), np.float32)

    def cells(self, metres: float) -> int:
        """A length in texels (at least 2)."""
        return max(2, round(metres / self.res))

    def u(self, x: float) -> int:
        return round((x - self.x0) / self.res)

    def v(self, z: float) -> int:
        return round((z - self.z0) / self.res)

    def rect(
        self, x0: float, x1: float, z0: float, z1: float, colour: tuple[float, ...], alpha: float = 1.0
    ) -> None:
        a, b = sorted((self.u(x0), self.u(x1)))
        c, d = sorted((self.v(z0), self.v(z1)))
        a, b, c, d = max(a, 0), min(b, self.w), max(c, 0), min(d, self.h)
        if a >= b or c >= d:
            return
        region = self.img[c:d, a:b]
        region *= 1 - alpha
        region += np.float32(alpha) * np.array(colour, np.float32)

    def to_ground(self) -> F64:
        """The affine map from this canvas' pixels to ground (X, Z) metres, as a 3x3 matrix."""
        return np.array([[self.res, 0, self.x0], [0, self.res, self.z0], [0, 0, 1.0]])


def _paint_ground(layout: RoadLayout, rng: np.random.Generator, lighting: Lighting, cam: Camera) -> _Ground:
    # 2.5 cm per texel at 1280 pixels across; coarser for smaller frames (the texture is warped down anyway).
    res = float(np.clip(0.025 * 1280 / cam.width, 0.02, 0.08))
    g = _Ground(-layout.facade_x - 0.5, layout.facade_x + 0.5, 0.0, layout.length, res)
    hr = layout.half_road
    # Asphalt: a dark grey with broad blotches, patched repairs and grain.
    base = np.array([84.0, 86.0, 88.0], np.float32) * rng.uniform(0.9, 1.1)
    g.img[:] = base
    tone = _smooth_noise(rng, (g.h, g.w), g.cells(4.0), 6.0) + _smooth_noise(
        rng, (g.h, g.w), g.cells(0.6), 4.0
    )
    g.img += tone[:, :, None]
    for _ in range(int(rng.integers(3, 8))):
        x = rng.uniform(-hr, hr - 2)
        z = rng.uniform(3, layout.length - 10)
        shade = base * rng.uniform(0.8, 1.15)
        g.rect(x, x + rng.uniform(1, 3), z, z + rng.uniform(1.5, 6), tuple(shade), 0.8)
    # Darker, smoother wheel tracks and oil drips down the middle of each lane (soft-edged bands).
    xs = np.arange(g.w) * g.res + g.x0
    lane_pos = np.mod(xs, layout.lane_width) - layout.lane_width / 2
    tracks = 0.06 * np.exp(-(lane_pos**2) / (2 * 0.3**2)) - 0.03 * np.exp(
        -((np.abs(lane_pos) - 0.85) ** 2) / (2 * 0.3**2)
    )
    tracks = np.where(np.abs(xs) < hr, tracks, 0.0)
    g.img *= (1.0 - tracks).astype(np.float32)[None, :, None]
    # Cracks and tar seams.
    for _ in range(int(rng.integers(4, 10))):
        pts = [(rng.uniform(-hr, hr), rng.uniform(2, layout.length))]
        for _ in range(int(rng.integers(3, 10))):
            x, z = pts[-1]
            pts.append((x + rng.normal(0, 0.15), z + rng.normal(0, 0.5)))
        arr = np.array([[g.u(x), g.v(z)] for x, z in pts], np.int32).reshape(-1, 1, 2)
        cv2.polylines(g.img, [arr], False, (60.0, 62.0, 64.0), 1, cv2.LINE_AA)

    # Markings, worn.
    white = (214.0, 218.0, 218.0)
    yellow = (40.0, 170.0, 215.0)
    paint = np.zeros((g.h, g.w), np.float32)
    paint_colour = np.zeros((g.h, g.w, 3), np.float32)

    def mark(x0: float, x1: float, z0: float, z1: float, colour: tuple[float, float, float]) -> None:
        a, b = max(0, g.u(x0)), min(g.w, g.u(x1))
        c, d = max(0, g.v(z0)), min(g.h, g.v(z1))
        if a < b and c < d:
            paint[c:d, a:b] = 1.0
            paint_colour[c:d, a:b] = colour

    for x in (-0.12, 0.12):
        mark(x - 0.06, x + 0.06, 0, layout.length, yellow)
    for lane in range(1, layout.lanes_each_way):
        for side in (-1, 1):
            x = side * lane * layout.lane_width
            z = float(rng.uniform(0, 6))
            while z < layout.length:
                mark(x - 0.06, x + 0.06, z, z + 2.0, white)
                z += 6.0
    for side in (-1, 1):
        x = side * (hr - 0.2)
        mark(x - 0.08, x + 0.08, 0, layout.length, white)
    zebra = float(rng.uniform(22, 30))
    x = -hr + 0.5
    while x < hr - 0.5:
        mark(x, x + 0.5, zebra, zebra + 4.0, white)
        x += 1.0
    mark(0.0, hr, zebra - 1.2, zebra - 0.9, white)  # stop line for oncoming traffic
    wear = np.clip(
        0.55
        + _smooth_noise(rng, (g.h, g.w), g.cells(0.3), 0.35)
        + rng.standard_normal((g.h, g.w), dtype=np.float32) * np.float32(0.12),
        0,
        1,
    )
    alpha = (paint * wear.astype(np.float32))[:, :, None]
    g.img = g.img * (1 - alpha) + paint_colour * alpha

    # Kerbs and tiled sidewalks, tree pits and shade.
    for side in (-1, 1):
        k0, k1 = side * hr, side * (hr + layout.kerb)
        g.rect(k0, k0 + side * 0.12, 0, layout.length, (52.0, 54.0, 56.0))  # gutter
        g.rect(k0 + side * 0.12, k1, 0, layout.length, (168.0, 170.0, 168.0))
        terracotta = rng.random() < 0.5
        tile = np.array([84.0, 98.0, 150.0] if terracotta else [146.0, 150.0, 152.0], np.float32)
        s0, s1 = sorted((k1, side * layout.facade_x))
        a, b = max(0, g.u(s0)), min(g.w, g.u(s1))
        size = 0.4
        region = g.img[:, a:b]
        zz = (np.arange(g.h) * g.res + g.z0)[:, None]
        xx = (np.arange(a, b) * g.res + g.x0)[None, :]
        ti = np.floor(xx / size).astype(np.int64) * 7919 + np.floor(zz / size).astype(np.int64) * 104729
        jitter = ((ti * 2654435761) % 1000 / 1000.0 - 0.5).astype(np.float32) * 18.0
        grout = (np.abs(xx / size - np.round(xx / size)) < 0.05) | (
            np.abs(zz / size - np.round(zz / size)) < 0.05
        )
        region[:] = tile + jitter[:, :, None]
        region[grout] *= 0.7
        region += _smooth_noise(rng, region.shape[:2], g.cells(1.0), 7.0)[:, :, None]
    # Manholes.
    for _ in range(int(rng.integers(1, 4))):
        cx, cz = g.u(rng.uniform(-hr + 1, hr - 1)), g.v(rng.uniform(6, layout.length - 5))
        radius = round(0.35 / g.res)
        cv2.circle(g.img, (cx, cz), radius, (60.0, 62.0, 64.0), -1, cv2.LINE_AA)
        cv2.circle(g.img, (cx, cz), radius, (110.0, 112.0, 112.0), 3, cv2.LINE_AA)

    # Light: dappled tree shade by day; the illuminator's falloff and lamp pools by night.
    zz = (np.arange(g.h) * g.res + g.z0).astype(np.float64)
    xx = (np.arange(g.w) * g.res + g.x0).astype(np.float64)
    cam_x, cam_y, _ = cam.position
    dist = np.sqrt((xx[None, :] - cam_x) ** 2 + zz[:, None] ** 2 + cam_y**2)
    if lighting.night:
        light = lighting.falloff(dist).astype(np.float32)
        for side in (-1, 1):
            for z in np.arange(rng.uniform(5, 20), layout.length, 25.0):
                lx = side * (hr - 1.0)
                pool = np.exp(-(((xx[None, :] - lx) ** 2) + (zz[:, None] - z) ** 2) / (2 * 4.0**2))
                light += (0.35 * pool).astype(np.float32)
        g.img *= light[:, :, None]
    else:
        shade = np.clip(_smooth_noise(rng, (g.h, g.w), g.cells(0.75), 1.0), -1, 1)
        near_kerb = np.clip(1.0 - (np.abs(np.abs(xx) - hr - 2.0) / 4.0), 0, 1)[None, :]
        g.img *= (1.0 - 0.22 * np.clip(shade, 0, 1) * near_kerb)[:, :, None].astype(np.float32)
    g.img += rng.standard_normal(g.img.shape, dtype=np.float32) * np.float32(3.0)
    return g


def _warp_ground(g: _Ground, cam: Camera, out: Image) -> None:
    """Warp the top view into `out` (camera resolution), blurring along Z with distance (a crude mip-map)."""
    base = np.clip(g.img, 0, 255).astype(np.uint8)
    levels = [base]
    for sigma in (2.0, 5.0, 12.0, 28.0):
        levels.append(np.asarray(cv2.GaussianBlur(base, (1, 0), sigmaX=0.1, sigmaY=sigma), np.uint8))
    # The ground footprint of one pixel along Z grows as distance^2 / (focal * height).
    zz = np.arange(g.h) * g.res + g.z0
    footprint = (zz**2 + cam.position[1] ** 2) / (cam.focal * cam.position[1]) / g.res  # in texture pixels
    level = np.clip(np.log2(np.maximum(footprint, 1.0) / 1.5) * 1.2, 0, len(levels) - 1)
    lo = np.floor(level).astype(np.int64)
    frac = (level - lo).astype(np.float32)[:, None, None]
    hi = np.minimum(lo + 1, len(levels) - 1)
    stack = np.stack(levels)
    rows = np.arange(g.h)
    mixed = stack[lo, rows].astype(np.float32) * (1 - frac) + stack[hi, rows].astype(np.float32) * frac
    tex = np.clip(mixed, 0, 255).astype(np.uint8)
    m = cam.ground_homography() @ g.to_ground()
    cv2.warpPerspective(
        tex, m, (cam.width, cam.height), dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT
    )


def _sky(img: Image, cam: Camera, lighting: Lighting) -> None:
    h = img.shape[0]
    # Row of the horizon: where a level ray lands.
    far = np.array([[cam.position[0], cam.position[1], 1e6]])
    horizon = float(cam.project(far)[0][0, 1])
    t = np.clip((np.arange(h) - (horizon - h * 0.6)) / max(1.0, h * 0.6), 0, 1)[:, None]
    top, haze = np.array(SKY_TOP), np.array(SKY_HAZE)
    col = top * (1 - t) + haze * t
    if lighting.night:
        col = col * 0.05 + np.array([8.0, 6.0, 6.0])
    img[:] = col[:, None, :].astype(np.uint8)


_FACADE_COLOURS = [
    (150, 200, 225),
    (170, 215, 235),
    (210, 210, 200),
    (180, 190, 215),
    (200, 180, 160),
    (130, 170, 200),
    (190, 200, 190),
    (215, 220, 225),
    (150, 160, 170),
]
_SIGN_COLOURS = [(40, 40, 200), (160, 80, 20), (30, 170, 220), (60, 140, 40), (230, 230, 230), (40, 110, 240)]


def _buildings(
    img: Image, cam: Camera, layout: RoadLayout, rng: np.random.Generator, lighting: Lighting
) -> None:
    """Rows of narrow shop-houses on both sides, from far to near, and a skyline closing the street."""
    fx = layout.facade_x
    far_z = layout.length + 20.0
    # Skyline across the end of the street.
    x = -80.0
    while x < 80.0:
        w = rng.uniform(6, 18)
        h = rng.uniform(8, 35)
        col = _haze(
            _scale(_FACADE_COLOURS[int(rng.integers(len(_FACADE_COLOURS)))], 0.85),
            far_z + 60,
            lighting,
        )
        draw.polygon(
            img, cam, np.array([[x, 0, far_z], [x + w, 0, far_z], [x + w, h, far_z], [x, h, far_z]]), col
        )
        x += w
    for side in (-1, 1):
        z = 2.0
        blocks: list[tuple[float, float, float, tuple[float, float, float]]] = []
        while z < far_z:
            w = rng.uniform(3.8, 6.5)
            h = rng.choice([rng.uniform(7, 12), rng.uniform(12, 22)], p=[0.6, 0.4])
            col = _scale(_FACADE_COLOURS[int(rng.integers(len(_FACADE_COLOURS)))], rng.uniform(0.9, 1.05))
            blocks.append((z, z + w, float(h), col))
            z += w
        for z0, z1, h, col in reversed(blocks):
            _shop_house(img, cam, side, fx, z0, z1, h, col, rng, lighting)


def _shop_house(
    img: Image,
    cam: Camera,
    side: int,
    fx: float,
    z0: float,
    z1: float,
    h: float,
    colour: tuple[float, float, float],
    rng: np.random.Generator,
    lighting: Lighting,
) -> None:
    x = side * fx
    dist = math.hypot(z0, x - cam.position[0])
    lit = 1.0 if side < 0 else 0.8  # the sun is on the left-hand facades

    def col(c: tuple[float, float, float], k: float = 1.0) -> tuple[float, float, float]:
        return _haze((c[0] * k * lit, c[1] * k * lit, c[2] * k * lit), dist, lighting)

    def quad(
        y0: float, y1: float, a: float, b: float, c: tuple[float, float, float], inset: float = 0.0
    ) -> None:
        xx = x - side * inset
        draw.polygon(img, cam, np.array([[xx, y0, a], [xx, y0, b], [xx, y1, b], [xx, y1, a]]), c)

    # Side wall, seen where this house stands taller than its nearer neighbour.
    wall = np.array([[x, 0, z0], [x + side * 12, 0, z0], [x + side * 12, h, z0], [x, h, z0]])
    draw.polygon(img, cam, wall, col(colour, 0.7))
    quad(0, h, z0, z1, col(colour))
    # Ground floor: an open shop front or a roller shutter, a signboard above.
    m = 0.25
    if rng.random() < 0.65:
        quad(0, 2.8, z0 + m, z1 - m, col((40.0, 42.0, 48.0)))
        # Shelves of goods inside the open shop front.
        for shelf in (0.45, 1.05, 1.65, 2.25):
            a = z0 + m + 0.1
            while a < z1 - m - 0.3:
                wi = rng.uniform(0.12, 0.4)
                tone = rng.uniform(60, 190)
                goods = _rgb(tone + rng.normal(0, 25, 3))
                quad(shelf, shelf + rng.uniform(0.15, 0.45), a, min(a + wi, z1 - m - 0.1), col(goods))
                a += wi + rng.uniform(0.0, 0.12)
            quad(shelf - 0.04, shelf, z0 + m, z1 - m, col((120.0, 120.0, 118.0)))
    else:
        quad(0, 2.8, z0 + m, z1 - m, col((150.0, 155.0, 160.0)))
        for y in np.arange(0.1, 2.8, 0.12):  # roller-shutter slats
            quad(float(y), float(y) + 0.025, z0 + m, z1 - m, col((120.0, 124.0, 128.0)))
    sign = _SIGN_COLOURS[int(rng.integers(len(_SIGN_COLOURS)))]
    quad(2.9, 3.7, z0 + 0.1, z1 - 0.1, col(_scale(sign, 1.0)), inset=-0.05)
    for _ in range(int(rng.integers(1, 4))):  # lettering blocks on the sign
        a = rng.uniform(z0 + 0.3, z1 - 1.3)
        quad(
            3.05,
            3.55,
            a,
            a + rng.uniform(0.6, 1.2),
            col((235.0, 235.0, 235.0) if sum(sign) < 400 else (30.0, 30.0, 30.0)),
            inset=-0.06,
        )
    if rng.random() < 0.45:  # a sloping awning over the pavement
        awning = _SIGN_COLOURS[int(rng.integers(len(_SIGN_COLOURS)))]
        out = x - side * rng.uniform(1.2, 2.2)
        pts = np.array(
            [[x, 2.85, z0 + 0.1], [x, 2.85, z1 - 0.1], [out, 2.45, z1 - 0.1], [out, 2.45, z0 + 0.1]]
        )
        draw.polygon(img, cam, pts, col(_scale(awning, 0.85)))
    # Upper floors: windows and balconies.
    y = 4.0
    while y + 2.6 < h:
        if rng.random() < 0.5:
            quad(y, y + 1.1, z0 + 0.15, z1 - 0.15, col(colour, 0.8), inset=-0.6)  # balcony parapet
            quad(y + 1.1, y + 2.4, z0 + 0.4, z1 - 0.4, col((70.0, 75.0, 80.0)))
        else:
            n = 2 if z1 - z0 > 4.5 else 1
            span = (z1 - z0 - 0.6) / n
            for i in range(n):
                a = z0 + 0.3 + i * span + 0.3
                lit_window = lighting.night and rng.random() < 0.35
                glass = (60.0, 160.0, 220.0) if lit_window else (90.0, 95.0, 100.0)
                c = glass if lit_window else col(glass)
                quad(y + 0.5, y + 2.1, a, a + span - 0.6, c)
        y += 3.3


def _street_furniture(
    img: Image, cam: Camera, layout: RoadLayout, rng: np.random.Generator, lighting: Lighting
) -> None:
    """Trees and power poles along the kerbs with sagging cables between the poles; far to near."""
    things: list[tuple[float, str, int]] = []
    for side in (-1, 1):
        for z in np.arange(rng.uniform(4, 12), layout.length + 10, rng.uniform(9, 14)):
            things.append((float(z + rng.uniform(-2, 2)), "tree", side))
        for z in np.arange(rng.uniform(2, 10), layout.length + 10, 28.0):
            things.append((float(z), "pole", side))
    things.sort(key=lambda t: -t[0])
    poles: dict[int, list[F64]] = {-1: [], 1: []}
    for z, kind, side in things:
        dist = math.hypot(z, side * layout.half_road - cam.position[0])
        shade = float(lighting.falloff(dist)) if lighting.night else 1.0
        x = side * (layout.half_road + layout.kerb + 0.9)
        if kind == "tree":
            trunk = draw.box_corners(x - 0.15, x + 0.15, 0, 3.2, z - 0.15, z + 0.15)
            draw.polygon(
                img,
                cam,
                trunk[[3, 0, 4, 7]] if side > 0 else trunk[[1, 2, 6, 5]],
                _tint((40, 55, 75), shade, dist, lighting),
            )
            draw.polygon(img, cam, trunk[[0, 1, 5, 4]], _tint((35, 48, 65), shade, dist, lighting))
            for _ in range(16):
                c = np.array([x + rng.normal(0, 1.0), rng.uniform(3.6, 6.2), z + rng.normal(0, 1.0)])
                g = rng.uniform(0.6, 1.1)
                draw.sphere(
                    img, cam, c, rng.uniform(0.7, 1.3), _tint((40 * g, 95 * g, 55 * g), shade, dist, lighting)
                )
        else:
            xp = x + side * 0.6
            pole = draw.box_corners(xp - 0.13, xp + 0.13, 0, 8.5, z - 0.13, z + 0.13)
            draw.polygon(img, cam, pole[[0, 1, 5, 4]], _tint((150, 150, 148), shade, dist, lighting))
            arm = np.array([[xp - 0.9, 7.8, z], [xp + 0.9, 7.8, z]])
            draw.polyline(
                img,
                cam,
                arm,
                _tint((120, 120, 120), shade, dist, lighting),
                max(1.0, cam.focal * 0.08 / max(z, 1)),
            )
            lamp = np.array([[xp, 8.0, z], [xp - side * 2.0, 8.3, z]])
            draw.polyline(
                img,
                cam,
                lamp,
                _tint((110, 110, 110), shade, dist, lighting),
                max(1.0, cam.focal * 0.06 / max(z, 1)),
            )
            if lighting.night:
                draw.sphere(img, cam, np.array([xp - side * 2.0, 8.2, z]), 0.25, (235.0, 245.0, 250.0))
            poles[side].append(np.array([xp, 7.8, z]))
    # Cables: a few sagging wires between consecutive poles on each side, as on every Vietnamese street.
    for side in (-1, 1):
        tops = sorted(poles[side], key=lambda p: p[2])
        for a, b in itertools.pairwise(tops):
            for k in range(int(rng.integers(3, 7))):
                off = np.array([rng.uniform(-0.8, 0.8), -0.2 * k, 0])
                t = np.linspace(0, 1, 24)[:, None]
                pts = a + off + (b - a) * t
                pts[:, 1] -= rng.uniform(0.4, 1.2) * 4 * t[:, 0] * (1 - t[:, 0])
                zmid = float((a[2] + b[2]) / 2)
                draw.polyline(
                    img,
                    cam,
                    pts,
                    _tint((30, 30, 32), 1.0, zmid, lighting),
                    max(1.0, cam.focal * 0.015 / max(zmid, 1)),
                )


def _tint(
    c: tuple[float, float, float], shade: float, dist: float, lighting: Lighting
) -> tuple[float, float, float]:
    if lighting.night:
        return (c[0] * shade, c[1] * shade, c[2] * shade)
    return _haze(c, dist, lighting)


@dataclass(frozen=True)
class Background:
    """The rendered static scene at the output size (BGR uint8) and what it was rendered for."""

    image: Image
    camera: Camera
    layout: RoadLayout
    lighting: Lighting


SUPERSAMPLE = 2


def render_background(
    cam: Camera, layout: RoadLayout, lighting: Lighting, rng: np.random.Generator
) -> Background:
    """Render the empty street seen by `cam` (supersampled, then reduced to the camera's size)."""
    big = cam.scaled(SUPERSAMPLE)
    img = np.zeros((big.height, big.width, 3), np.uint8)
    _sky(img, big, lighting)
    ground = _paint_ground(layout, rng, lighting, cam)
    _warp_ground(ground, big, img)
    _buildings(img, big, layout, rng, lighting)
    _street_furniture(img, big, layout, rng, lighting)
    small = cv2.resize(img, (cam.width, cam.height), interpolation=cv2.INTER_AREA)
    return Background(np.ascontiguousarray(np.asarray(small, np.uint8)), cam, layout, lighting)
