"""Synthetic street clips: traffic on a Vietnamese street seen by a pole camera, with per-frame plate truth.

`make_street_clip` writes an H.264 MP4 (keyframe every second, no B-frames) and a ``.truth.json``
beside it; `iter_frames` yields the same frames with their plate labels without encoding, and
`render_scene` draws one random still (random camera, street and traffic) for detector training.

The street is two lanes each way, traffic keeping right; vehicles in the right-hand lanes drive away
from the camera (their rear plates face it), those on the left come toward it (cars show their front
plates; motorbikes have none in front). Motorbikes are the majority, as on Vietnamese streets.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.plates.grammar import PlateInfo, random_plate

from . import draw
from .background import Background, Lighting, RoadLayout, render_background
from .camera import Camera
from .plates import PlateShape, RenderedPlate, render_plate
from .truth import ClipInfo, ClipTruth, Corners, PlateFrame, VehicleTruth
from .vehicles import FRONT_END, REAR, Pose, Shading, VehicleModel, car_model, draw_vehicle, motorbike_model

Image = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]

#: Default height of one row of plate text, in pixels, from which a plate counts as readable.
READABLE_PX = 12.0


@dataclass(frozen=True)
class Rig:
    """Where the camera is: focal length as a multiple of the image width, height, across-road position,
    downward pitch and yaw (negative looks toward the oncoming lanes)."""

    focal_factor: float = 1.15
    height_m: float = 2.7
    x_m: float = 4.6
    pitch_deg: float = 12.0
    yaw_deg: float = -6.0

    def camera(self, size: tuple[int, int]) -> Camera:
        return Camera.looking_down_road(
            size,
            focal_factor=self.focal_factor,
            height_m=self.height_m,
            x_m=self.x_m,
            pitch_deg=self.pitch_deg,
            yaw_deg=self.yaw_deg,
        )

    @classmethod
    def random(cls, rng: np.random.Generator) -> Rig:
        return cls(
            focal_factor=float(rng.uniform(0.9, 1.6)),
            height_m=float(rng.uniform(2.4, 5.0)),
            x_m=float(rng.uniform(0.0, 6.0)),
            pitch_deg=float(rng.uniform(9.0, 20.0)),
            yaw_deg=float(rng.uniform(-9.0, 3.0)),
        )


# --------------------------------------------------------------------------------------------- plates


def _is_bike_text(info: PlateInfo) -> bool:
    top = info.text.split("\n")[0]
    return info.rows == 2 and "-" in top and info.category in ("civil", "moped")


def plate_for(kind: str, rng: np.random.Generator) -> tuple[PlateInfo, PlateShape]:
    """A random plate that fits a vehicle of `kind` ("car" or "motorbike") and the plate's shape."""
    for _ in range(100):
        if kind == "motorbike":
            info = random_plate(rng, rows=2, category="moped" if rng.random() < 0.05 else "civil")
            if _is_bike_text(info):
                return info, "motorbike"
        else:
            rows = 1 if rng.random() < 0.85 else 2
            # Taxis, vans and trucks carry yellow commercial plates; some cars are state or military.
            category = str(
                rng.choice(
                    ["civil", "commercial", "state", "military", "any"], p=[0.55, 0.3, 0.07, 0.03, 0.05]
                )
            )
            info = random_plate(rng, rows=rows, category=None if category == "any" else category)
            if not _is_bike_text(info):
                return info, "car_long" if rows == 1 else "car_square"
    raise RuntimeError(f"no {kind} plate drawn in 100 tries")  # pragma: no cover - grammar tables changed


def _pyramid(plate: RenderedPlate) -> list[Image]:
    """The plate image and its halvings, so a distant plate is resampled from a similar size."""
    levels = [plate.image]
    while levels[-1].shape[0] >= 16:
        levels.append(np.asarray(cv2.pyrDown(levels[-1]), np.uint8))
    return levels


# -------------------------------------------------------------------------------------------- traffic


@dataclass
class Traveller:
    """One vehicle's trip along a lane at constant speed (motorbikes weave a little)."""

    track_id: int
    model: VehicleModel
    info: PlateInfo
    shape: PlateShape
    plate: RenderedPlate | None  # None when the plate faces away from the camera
    x: float
    direction: int  # +1 away from the camera, -1 toward it
    speed: float
    t_start: float  # time at z_start
    z_start: float
    z_end: float
    sway: tuple[float, float, float] = (0.0, 0.0, 0.0)  # amplitude m, frequency Hz, phase
    pyramid: list[Image] = field(default_factory=list)

    def pose(self, t: float) -> Pose | None:
        travelled = (t - self.t_start) * self.speed
        if travelled < 0 or travelled > abs(self.z_end - self.z_start):
            return None
        z = self.z_start + self.direction * travelled
        amp, freq, phase = self.sway
        x = self.x + amp * math.sin(2 * math.pi * freq * t + phase)
        heading = (0.0 if self.direction > 0 else 180.0) + math.degrees(
            amp * 2 * math.pi * freq * math.cos(2 * math.pi * freq * t + phase) / max(self.speed, 0.1)
        )
        return Pose(x, z, heading)

    @property
    def t_end(self) -> float:
        return self.t_start + abs(self.z_end - self.z_start) / self.speed


@dataclass(frozen=True)
class _Lane:
    x: float
    direction: int
    car_share: float
    mean_gap_s: float


def _lanes(layout: RoadLayout) -> list[_Lane]:
    """An inner lane each way shared by cars and motorbikes, and three motorbike files along the kerb.

    Oncoming motorbikes show the camera no plate (they carry one at the rear only), so their files are
    sparser: the camera watches departing traffic the way plate cameras usually do.
    """
    w = layout.lane_width
    out = []
    for d in (1, -1):
        out.append(_Lane(d * w * 0.5, d, 0.5, 5.0))
        for k, x in enumerate((w * 1.25, w * 1.55, w * 1.82)):
            out.append(_Lane(d * x, d, 0.0, (4.5 + 1.5 * k) * (1.0 if d > 0 else 1.7)))
    return out


def _make_traveller(
    rng: np.random.Generator, track_id: int, lane: _Lane, kind: str, t_start: float, speed: float, far: float
) -> Traveller:
    info, shape = plate_for(kind, rng)
    end = REAR if lane.direction > 0 else FRONT_END
    if kind == "car":
        model = car_model(rng, plate_rows=info.rows, plate_end=end)
        sway = (0.0, 0.0, 0.0)
    else:
        model = motorbike_model(rng)
        sway = (
            float(rng.uniform(0.03, 0.15)),
            float(rng.uniform(0.1, 0.35)),
            float(rng.uniform(0, 2 * math.pi)),
        )
    shows_plate = not (kind == "motorbike" and lane.direction < 0)
    plate = None
    if shows_plate:
        height = 96 if info.rows == 2 else 72
        plate = render_plate(info.text, info.rows, info.colour or "white", rng, height_px=height, shape=shape)
    z_start, z_end = (-0.5, far) if lane.direction > 0 else (far, -2.5)
    jitter = float(rng.uniform(-0.15, 0.15)) if kind == "motorbike" else 0.0
    return Traveller(
        track_id=track_id,
        model=model,
        info=info,
        shape=shape,
        plate=plate,
        x=lane.x + jitter,
        direction=lane.direction,
        speed=speed,
        t_start=t_start,
        z_start=z_start,
        z_end=z_end,
        sway=sway,
        pyramid=_pyramid(plate) if plate is not None else [],
    )


def schedule_traffic(rng: np.random.Generator, seconds: float, layout: RoadLayout) -> list[Traveller]:
    """Vehicles entering each lane at random (a Poisson stream with a minimum headway), from a pre-roll
    long enough that the street is already busy at t = 0. A vehicle never catches up with the one ahead."""
    far = layout.length
    plans: list[tuple[float, _Lane, str, float]] = []
    for lane in _lanes(layout):
        t = -far / 6.0 - float(rng.uniform(0, lane.mean_gap_s))
        prev: tuple[float, float, float] | None = None  # start time, speed, length
        while t < seconds:
            kind = "car" if rng.random() < lane.car_share else "motorbike"
            speed = float(rng.uniform(6.0, 9.5) if kind == "car" else rng.uniform(5.0, 8.5))
            length = 4.8 if kind == "car" else 2.0
            if prev is not None:
                p_start, p_speed, p_len = prev
                headway = (p_len + length) / 2 + 2.5
                t = max(t, p_start + headway / min(speed, p_speed))
                # Slow down rather than drive through the vehicle ahead before it leaves the street.
                if speed > p_speed:
                    speed = p_speed
            plans.append((t, lane, kind, speed))
            prev = (t, speed, length)
            t += float(rng.exponential(lane.mean_gap_s))
    plans.sort(key=lambda p: p[0])
    return [_make_traveller(rng, i + 1, lane, kind, t, v, far) for i, (t, lane, kind, v) in enumerate(plans)]


# ------------------------------------------------------------------------------------------ rendering


@dataclass(frozen=True)
class FramePlate:
    """A plate in a rendered frame (see :class:`matthan.recognizers.synth.truth.PlateFrame`)."""

    track_id: int
    text: str
    rows: int
    colour: str
    box: tuple[float, float, float, float]
    corners: Corners
    text_px: float
    visible: float
    readable: bool


@dataclass
class StreetFrame:
    """One rendered frame: the image (BGR uint8), its plates and the vehicles in view (screen boxes)."""

    index: int
    t: float
    image: Image
    plates: list[FramePlate]
    vehicles: dict[int, tuple[int, int, int, int]]


def _glow_sprite() -> npt.NDArray[np.float32]:
    ax = np.linspace(-3, 3, 65, dtype=np.float32)
    g = np.exp(-(ax[None, :] ** 2 + ax[:, None] ** 2) / 2)
    return np.asarray(g, np.float32)


_GLOW = _glow_sprite()


@functools.lru_cache(maxsize=512)
def _glow(size: int, colour: tuple[int, int, int]) -> Image:
    """A `size` x `size` soft light of `colour` (cached: sizes come from a coarse ladder)."""
    sprite = np.asarray(cv2.resize(_GLOW, (size, size)), np.float32)
    return np.clip(sprite[:, :, None] * np.array(colour, np.float32), 0, 255).astype(np.uint8)


def _add_glow(
    img: Image, x: float, y: float, r: float, colour: tuple[float, float, float], strength: float
) -> None:
    """Add a light's bloom (a Gaussian of radius about `r` pixels) onto `img` in place."""
    h, w = img.shape[:2]
    r = min(r, 0.06 * w)
    step = round(math.log(max(3.0, r * 6)) / math.log(1.15))
    size = int(1.15**step) | 1
    x0, y0 = round(x) - size // 2, round(y) - size // 2
    a0, b0, a1, b1 = max(0, x0), max(0, y0), min(w, x0 + size), min(h, y0 + size)
    if a0 >= a1 or b0 >= b1:
        return
    c = (round(colour[0] * strength), round(colour[1] * strength), round(colour[2] * strength))
    sprite = _glow(size, c)[b0 - y0 : b1 - y0, a0 - x0 : a1 - x0]
    img[b0:b1, a0:a1] = cv2.add(img[b0:b1, a0:a1], sprite)


def _r2(v: float | np.floating[npt.NBitBase]) -> float:
    return round(float(v), 2)


def _quad_area(q: F64) -> float:
    x, y = q[:, 0], q[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


class StreetRenderer:
    """Draws travellers over a pre-rendered background, with blur, lights and sensor noise."""

    def __init__(
        self,
        background: Background,
        rng: np.random.Generator,
        *,
        readable_px: float = READABLE_PX,
        exposure_s: float | None = None,
        noise_frames: int = 6,
    ) -> None:
        self.bg = background
        self.cam = background.camera
        self.night = background.lighting.night
        self.lighting = background.lighting
        self.readable_px = readable_px
        self.exposure_s = exposure_s if exposure_s is not None else (1 / 150 if self.night else 1 / 250)
        h, w = background.image.shape[:2]
        self.ids = np.zeros((h, w), np.uint8)
        sigma = 5.0 if self.night else 3.0
        self._noise: list[tuple[Image, Image]] = []
        for _ in range(max(1, noise_frames)):
            n = rng.normal(0.0, sigma, (h, w, 1)).astype(np.float32)
            if not self.night:
                n = n + rng.normal(0.0, sigma * 0.4, (h, w, 3)).astype(np.float32)  # colour noise
            n3 = np.broadcast_to(n, (h, w, 3))
            self._noise.append((np.clip(n3, 0, 255).astype(np.uint8), np.clip(-n3, 0, 255).astype(np.uint8)))

    def render(
        self, travellers: list[Traveller], t: float, noise_index: int
    ) -> tuple[Image, list[FramePlate], dict[int, tuple[int, int, int, int]]]:
        cam = self.cam
        frame = self.bg.image.copy()
        ids = self.ids
        ids.fill(0)
        h, w = frame.shape[:2]
        active: list[tuple[float, Traveller, Pose]] = []
        for tr in travellers:
            pose = tr.pose(t)
            if pose is None:
                continue
            depth = float(cam.to_camera(np.array([[pose.x, 1.0, pose.z]]))[0, 2])
            if depth < -3.0:
                continue
            active.append((depth, tr, pose))
        active.sort(key=lambda a: -a[0])

        placed: list[tuple[Traveller, int, F64]] = []
        in_view: dict[int, tuple[int, int, int, int]] = {}
        glows: list[tuple[float, float, float, tuple[float, float, float]]] = []
        for slot, (_, tr, pose) in enumerate(active):
            vid = slot % 254 + 1
            dist = math.hypot(pose.x - cam.position[0], pose.z, cam.position[1])
            gain = float(self.lighting.falloff(dist)) * 1.1 if self.night else 1.0
            if not self.night:
                self._shadow(frame, tr, pose)
            blur = self._blur_vector(tr, t)
            roi = self._roi(tr, pose, pad=int(abs(blur[0]) + abs(blur[1])) + 2)
            before = (
                frame[roi[1] : roi[3], roi[0] : roi[2]].copy()
                if roi is not None and math.hypot(*blur) >= 1.2
                else None
            )
            drawn = draw_vehicle(frame, ids, vid, cam, tr.model, pose, Shading(gain, self.night))
            glows.extend((x, y, r, c) for x, y, r, c in drawn.glows)
            corners = None
            if tr.plate is not None:
                corners = self._paste_plate(frame, ids, vid, tr, pose, gain, dist)
            if before is not None and roi is not None:
                self._motion_blur(frame, ids, vid, roi, before, blur)
            if drawn.bbox is not None:
                x1, y1, x2, y2 = drawn.bbox
                if x2 > 0 and y2 > 0 and x1 < w and y1 < h:
                    in_view[tr.track_id] = (max(0, x1), max(0, y1), min(w, x2), min(h, y2))
            if corners is not None:
                placed.append((tr, vid, corners))

        for x, y, r, c in glows:
            _add_glow(frame, x, y, r * 1.6, c, 0.9)
        if self.night:
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            frame = np.asarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), np.uint8)
        # Sensor noise, then the lens and the camera's processing soften noise and edges alike.
        pos, neg = self._noise[noise_index % len(self._noise)]
        cv2.add(frame, pos, dst=frame)
        cv2.subtract(frame, neg, dst=frame)
        frame = np.asarray(cv2.GaussianBlur(frame, (3, 3), 0.6), np.uint8)

        plates = [self._label(tr, vid, corners, ids) for tr, vid, corners in placed]
        return frame, [p for p in plates if p is not None], in_view

    # -- pieces

    def _blur_vector(self, tr: Traveller, t: float) -> tuple[float, float]:
        """Image motion of the vehicle's plate height during the exposure, in pixels."""
        dt = self.exposure_s
        a, b = tr.pose(t), tr.pose(t + dt)
        if a is None or b is None:
            return (0.0, 0.0)
        y = tr.model.plate_centre[0]
        pa, za = self.cam.project(np.array([[a.x, y, a.z]]))
        pb, zb = self.cam.project(np.array([[b.x, y, b.z]]))
        if za[0] <= draw.NEAR or zb[0] <= draw.NEAR:
            return (0.0, 0.0)
        d = pb[0] - pa[0]
        return (float(d[0]), float(d[1]))

    def _roi(self, tr: Traveller, pose: Pose, pad: int) -> tuple[int, int, int, int] | None:
        m = tr.model
        box = draw.box_corners(
            -m.width / 2 - 0.1, m.width / 2 + 0.1, 0, m.height + 0.1, -m.length / 2 - 0.1, m.length / 2 + 0.1
        )
        c = self.cam.to_camera(pose.to_world(box))
        if (c[:, 2] < draw.NEAR).any():
            return None
        px = draw.to_pixels(self.cam, c)
        h, w = self.ids.shape
        x0, y0 = max(0, int(px[:, 0].min()) - pad), max(0, int(px[:, 1].min()) - pad)
        x1, y1 = min(w, int(px[:, 0].max()) + pad + 1), min(h, int(px[:, 1].max()) + pad + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        return (x0, y0, x1, y1)

    def _shadow(self, frame: Image, tr: Traveller, pose: Pose) -> None:
        """Darken the road under the vehicle (soft contact shadow, cast a little to the right by the sun)."""
        m = tr.model
        hw, hl = m.width / 2 + 0.12, m.length / 2 + 0.1
        foot = np.array([[-hw, 0.0, -hl], [hw + 0.25, 0.0, -hl], [hw + 0.25, 0.0, hl], [-hw, 0.0, hl]])
        c = self.cam.to_camera(pose.to_world(foot))
        if (c[:, 2] < draw.NEAR).any():
            return
        px = draw.to_pixels(self.cam, c)
        h, w = frame.shape[:2]
        soft = max(1, round(0.15 * self.cam.focal / float(c[:, 2].mean())))
        x0, y0 = max(0, int(px[:, 0].min()) - soft), max(0, int(px[:, 1].min()) - soft)
        x1, y1 = min(w, int(px[:, 0].max()) + soft + 1), min(h, int(px[:, 1].max()) + soft + 1)
        if x0 >= x1 or y0 >= y1:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillConvexPoly(mask, draw.fixed(px - [x0, y0]), 0.5, cv2.LINE_AA, draw.SHIFT)
        mask = np.asarray(cv2.blur(mask, (soft, soft)), np.float32)
        region = frame[y0:y1, x0:x1]
        region[:] = (region.astype(np.float32) * (1.0 - mask[:, :, None])).astype(np.uint8)

    def _motion_blur(
        self,
        frame: Image,
        ids: Image,
        vid: int,
        roi: tuple[int, int, int, int],
        before: Image,
        blur: tuple[float, float],
    ) -> None:
        """Smear the vehicle just drawn in `roi` along its image motion, over what was there `before`.

        A box blur along each axis stands in for a line blur: vehicles driving along the road move mostly
        up or down the image, and box filters cost the same at any length.
        """
        x0, y0, x1, y1 = roi
        ksize = (max(1, round(abs(blur[0]))), max(1, round(abs(blur[1]))))
        after = frame[y0:y1, x0:x1]
        mask = (ids[y0:y1, x0:x1] == vid).astype(np.float32)
        blurred = cv2.blur(after, ksize)
        m = cv2.blur(mask, ksize)[:, :, None]
        out = blurred.astype(np.float32) * m + before.astype(np.float32) * (1 - m)
        after[:] = np.clip(out, 0, 255).astype(np.uint8)

    def _plate_world(self, tr: Traveller, pose: Pose) -> F64:
        return pose.to_world(tr.model.plate_corners())

    def _paste_plate(
        self, frame: Image, ids: Image, vid: int, tr: Traveller, pose: Pose, gain: float, dist: float
    ) -> F64 | None:
        c = self.cam.to_camera(self._plate_world(tr, pose))
        if (c[:, 2] < draw.NEAR).any():
            return None
        corners = draw.to_pixels(self.cam, c)
        h, w = frame.shape[:2]
        x0, y0 = max(0, math.floor(corners[:, 0].min()) - 1), max(0, math.floor(corners[:, 1].min()) - 1)
        x1, y1 = min(w, math.ceil(corners[:, 0].max()) + 2), min(h, math.ceil(corners[:, 1].max()) + 2)
        if x0 >= x1 or y0 >= y1:
            return corners
        target_h = (np.linalg.norm(corners[3] - corners[0]) + np.linalg.norm(corners[2] - corners[1])) / 2
        src = tr.pyramid[0]
        for level in tr.pyramid:
            if level.shape[0] >= target_h * 1.2:
                src = level
        if self.night:
            # Retroreflective sheeting sends the illuminator's light straight back: plates glow.
            src = np.asarray(cv2.convertScaleAbs(src, alpha=min(1.7, 0.35 + 2.2 * gain / 1.1)), np.uint8)
        sh, sw = src.shape[:2]
        src_pts = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
        m = cv2.getPerspectiveTransform(src_pts, (corners - [x0, y0]).astype(np.float32))
        roi = np.ascontiguousarray(frame[y0:y1, x0:x1])
        cv2.warpPerspective(
            src, m, (x1 - x0, y1 - y0), dst=roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT
        )
        frame[y0:y1, x0:x1] = roi
        cv2.fillConvexPoly(ids, draw.fixed(corners), vid, cv2.LINE_8, draw.SHIFT)
        return corners

    def _label(self, tr: Traveller, vid: int, corners: F64, ids: Image) -> FramePlate | None:
        assert tr.plate is not None
        h, w = ids.shape
        x1, y1 = float(corners[:, 0].min()), float(corners[:, 1].min())
        x2, y2 = float(corners[:, 0].max()), float(corners[:, 1].max())
        bx1, by1, bx2, by2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
        if bx1 >= bx2 or by1 >= by2:
            return None
        a0, b0 = int(bx1), int(by1)
        a1, b1 = min(w, math.ceil(bx2)), min(h, math.ceil(by2))
        quad = np.zeros((b1 - b0, a1 - a0), np.uint8)
        cv2.fillConvexPoly(quad, draw.fixed(corners - [a0, b0]), 1, cv2.LINE_8, draw.SHIFT)
        inside = quad.astype(bool)
        own = int(np.count_nonzero(ids[b0:b1, a0:a1][inside] == vid))
        whole = x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h
        # Rasterised pixels when the quad is all in the frame (consistent with `own`), else its true area.
        area = (
            float(np.count_nonzero(inside))
            if whole
            else max(_quad_area(corners), float(np.count_nonzero(inside)))
        )
        visible = min(1.0, own / max(area, 1.0))
        if own == 0:
            return None
        edge = (np.linalg.norm(corners[3] - corners[0]) + np.linalg.norm(corners[2] - corners[1])) / 2
        text_px = float(edge * tr.plate.char_height)
        readable = whole and visible >= 0.95 and text_px >= self.readable_px
        return FramePlate(
            track_id=tr.track_id,
            text=tr.info.text,
            rows=tr.info.rows,
            colour=tr.plate.colour,
            box=(_r2(bx1), _r2(by1), _r2(bx2), _r2(by2)),
            corners=(
                (_r2(corners[0, 0]), _r2(corners[0, 1])),
                (_r2(corners[1, 0]), _r2(corners[1, 1])),
                (_r2(corners[2, 0]), _r2(corners[2, 1])),
                (_r2(corners[3, 0]), _r2(corners[3, 1])),
            ),
            text_px=_r2(text_px),
            visible=_r2(visible),
            readable=bool(readable),
        )


class StreetScene:
    """A deterministic street (background + traffic) for one seed; renders any frame on demand."""

    def __init__(
        self,
        *,
        seconds: float = 20.0,
        fps: int = 25,
        size: tuple[int, int] = (1280, 720),
        seed: int = 0,
        night: bool = False,
        rig: Rig | None = None,
        readable_px: float = READABLE_PX,
    ) -> None:
        if fps <= 0 or seconds <= 0:
            raise ValueError("fps and seconds must be positive")
        if size[0] < 64 or size[1] < 64:
            raise ValueError(f"frame size {size} is too small")
        self.seconds, self.fps, self.size, self.seed, self.night = seconds, fps, size, seed, night
        self.readable_px = readable_px
        self.frame_count = round(seconds * fps)
        root = np.random.default_rng(seed)
        bg_rng, traffic_rng, noise_rng = (np.random.default_rng(s) for s in root.integers(0, 2**63, 3))
        self.layout = RoadLayout()
        self.rig = rig or Rig()
        cam = self.rig.camera(size)
        self.background = render_background(cam, self.layout, Lighting(night), bg_rng)
        self.travellers = schedule_traffic(traffic_rng, seconds, self.layout)
        self.renderer = StreetRenderer(self.background, noise_rng, readable_px=readable_px)
        self._noise_order = noise_rng.integers(0, 1 << 30, self.frame_count)

    def frame(self, index: int) -> StreetFrame:
        t = index / self.fps
        image, plates, in_view = self.renderer.render(self.travellers, t, int(self._noise_order[index]))
        return StreetFrame(index, t, image, plates, in_view)

    def frames(self) -> Iterator[StreetFrame]:
        for i in range(self.frame_count):
            yield self.frame(i)


def iter_frames(
    *,
    seconds: float = 20.0,
    fps: int = 25,
    size: tuple[int, int] = (1280, 720),
    seed: int = 0,
    night: bool = False,
    readable_px: float = READABLE_PX,
) -> Iterator[StreetFrame]:
    """The frames of the clip `make_street_clip` would write for these arguments, with their plates."""
    yield from StreetScene(
        seconds=seconds, fps=fps, size=size, seed=seed, night=night, readable_px=readable_px
    ).frames()


def make_street_clip(
    out: Path,
    *,
    seconds: float = 20.0,
    fps: int = 25,
    size: tuple[int, int] = (1280, 720),
    seed: int = 0,
    night: bool = False,
    readable_px: float = READABLE_PX,
    preset: str = "veryfast",
) -> ClipTruth:
    """Write a synthetic street clip to `out` (H.264 MP4) and its truth to ``out.with_suffix(".truth.json")``.

    The stream is yuv420p with a keyframe every second (GOP = fps) and no B-frames, so decoders and
    RTSP re-streamers see a steady, low-latency structure. The same seed always gives the same clip.
    """
    scene = StreetScene(seconds=seconds, fps=fps, size=size, seed=seed, night=night, readable_px=readable_px)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    vehicles: dict[int, VehicleTruth] = {}
    by_id = {tr.track_id: tr for tr in scene.travellers}
    import av  # only writing a clip needs PyAV; rendering stills does not

    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        cc = stream.codec_context
        cc.gop_size = fps
        cc.max_b_frames = 0
        cc.options = {
            "preset": preset,
            "crf": "21",
            # A keyframe exactly every second, none between, no B-frames (decode order = display order).
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0",
        }
        for sf in scene.frames():
            vf = av.VideoFrame.from_ndarray(sf.image, format="bgr24")
            vf.pts = sf.index
            for packet in stream.encode(vf):
                container.mux(packet)
            _collect(vehicles, by_id, sf)
        for packet in stream.encode():
            container.mux(packet)
    truth = ClipTruth(
        ClipInfo(
            fps=fps,
            width=size[0],
            height=size[1],
            seconds=scene.frame_count / fps,
            frames=scene.frame_count,
            seed=seed,
            night=night,
            readable_px=readable_px,
            gop=fps,
        ),
        sorted(vehicles.values(), key=lambda v: v.track_id),
    )
    truth.save(out.with_suffix(".truth.json"))
    return truth


def _collect(vehicles: dict[int, VehicleTruth], by_id: dict[int, Traveller], sf: StreetFrame) -> None:
    t = round(sf.t, 3)
    for tid in sf.vehicles:
        v = vehicles.get(tid)
        if v is None:
            tr = by_id[tid]
            vehicles[tid] = v = VehicleTruth(
                track_id=tid,
                kind=tr.model.kind,
                direction="away" if tr.direction > 0 else "toward",
                plate_text=tr.info.text,
                rows=tr.info.rows,
                colour=tr.info.colour or "white",
                category=tr.info.category,
                plate_shape=tr.shape,
                plate_visible=tr.plate is not None,
                first_s=t,
                last_s=t,
            )
        v.last_s = t
    for p in sf.plates:
        v = vehicles.get(p.track_id)
        if v is None:  # the plate peeks in while the body's box is off-screen: cannot happen, but be safe
            continue
        v.frames.append(PlateFrame(sf.index, t, p.box, p.corners, p.text_px, p.visible, p.readable))


# ----------------------------------------------------------------------------------- training stills


@dataclass(frozen=True)
class SceneSample:
    """One random street still and its plates (all plates at least partly visible)."""

    image: Image
    plates: list[FramePlate]
    camera: Camera


def render_scene(
    rng: np.random.Generator,
    size: tuple[int, int] = (1280, 720),
    *,
    night: bool | None = None,
    vehicles: int | None = None,
    background: Background | None = None,
) -> SceneSample:
    """A random street still for detector training: random camera rig, street, lighting and traffic.

    Rendering the street costs most of the time (about a second at 720p); pass a `background` from an
    earlier sample (`SceneSample` carries its camera; see `random_background`) to reuse it.
    """
    if background is None:
        background = random_background(rng, size, night=night)
    cam = background.camera
    layout = background.layout
    lanes = _lanes(layout)
    n = int(vehicles if vehicles is not None else rng.integers(3, 14))
    travellers: list[Traveller] = []
    taken: dict[int, list[float]] = {}
    for _ in range(n * 8):
        if len(travellers) >= n:
            break
        k = int(rng.integers(len(lanes)))
        lane = lanes[k]
        kind = "car" if rng.random() < max(lane.car_share, 0.15 if abs(lane.x) < 2 else 0.0) else "motorbike"
        z = float(2.0 + 45.0 * rng.random() ** 2)  # more near the camera, where plates matter
        if any(abs(z - other) < (5.5 if kind == "car" else 2.6) for other in taken.get(k, [])):
            continue
        tr = _make_traveller(
            rng, len(travellers) + 1, lane, kind, 0.0, float(rng.uniform(5.0, 9.0)), layout.length
        )
        tr.t_start = -abs(z - tr.z_start) / tr.speed  # at z when t = 0
        pose = tr.pose(0.0)
        if pose is None or not _in_view(cam, tr, pose):
            continue
        taken.setdefault(k, []).append(z)
        travellers.append(tr)
    renderer = StreetRenderer(
        background, rng, readable_px=READABLE_PX, exposure_s=float(rng.uniform(0.0, 0.01)), noise_frames=1
    )
    image, plates, _ = renderer.render(travellers, 0.0, 0)
    return SceneSample(image, plates, cam)


def _in_view(cam: Camera, tr: Traveller, pose: Pose) -> bool:
    """Whether the plate (or, for a vehicle without a visible plate, its middle) is inside the frame."""
    pts = pose.to_world(tr.model.plate_corners() if tr.plate is not None else np.array([[0.0, 0.8, 0.0]]))
    c = cam.to_camera(pts)
    if (c[:, 2] < draw.NEAR).any():
        return False
    px = draw.to_pixels(cam, c)
    return bool(
        (px[:, 0] >= 0).all()
        and (px[:, 0] < cam.width).all()
        and (px[:, 1] >= 0).all()
        and (px[:, 1] < cam.height).all()
    )


def random_background(
    rng: np.random.Generator, size: tuple[int, int] = (1280, 720), *, night: bool | None = None
) -> Background:
    """A random street seen from a random camera rig (for `render_scene`)."""
    if night is None:
        night = bool(rng.random() < 0.25)
    layout = RoadLayout(lane_width=float(rng.uniform(3.0, 3.6)), sidewalk=float(rng.uniform(2.5, 5.0)))
    return render_background(Rig.random(rng).camera(size), layout, Lighting(night), rng)
