"""Camera-like degradations of plate images, for training recognisers on synthetic plates.

Each helper takes a BGR uint8 image and a `numpy.random.Generator` and returns a new image;
:func:`perspective` also returns where the plate's corners went. :func:`augment_plate` chains them
at random the way a roadside camera degrades a plate: oblique view, motion or defocus blur, dusk or
infrared night mode, dirt, sensor noise and compression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Corners = npt.NDArray[np.float32]  # (4, 2): top-left, top-right, bottom-right, bottom-left


def _u8(a: Any) -> Image:
    """Any array (numpy or cv2) as contiguous uint8, saturated."""
    return np.ascontiguousarray(np.clip(np.asarray(a), 0, 255).astype(np.uint8))


def _clutter(h: int, w: int, rng: np.random.Generator) -> Image:
    """A plausible surround for a plate: a smooth vehicle-paint colour with blotches and edges."""
    grey = rng.uniform(20, 220)
    base = grey + rng.normal(0.0, 25.0, 3)
    small = rng.normal(0.0, 12.0, (max(2, h // 16), max(2, w // 16), 1)).repeat(3, axis=2)
    out = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC) + base
    for _ in range(int(rng.integers(0, 4))):
        y = int(rng.integers(0, h))
        cv2.line(out, (0, y), (w - 1, y + int(rng.integers(-h // 4, h // 4 + 1))), (grey * 0.5,) * 3, 2)
    return _u8(out)


def perspective(
    image: Image,
    rng: np.random.Generator,
    *,
    max_rotate_deg: float = 10.0,
    max_skew: float = 0.12,
    pad: float = 0.25,
    background: Image | None = None,
) -> tuple[Image, Corners]:
    """View the plate obliquely on a canvas `pad` (fraction of its size) larger on each side.

    The plate is rotated by up to `max_rotate_deg` and each corner moves by up to `max_skew` of the
    plate height (a camera above or beside the road). Returns the canvas and the plate's four corners
    in it (top-left, top-right, bottom-right, bottom-left).
    """
    h, w = image.shape[:2]
    ch, cw = round(h * (1 + 2 * pad)), round(w * (1 + 2 * pad))
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    centred = src - np.array([w / 2, h / 2])
    a = float(np.deg2rad(rng.uniform(-max_rotate_deg, max_rotate_deg)))
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    # A yaw/pitch-like keystone: one side shorter than the other.
    kx, ky = (float(v) for v in rng.uniform(-max_skew, max_skew, 2))
    scale = np.array([[1 - kx, 1 - ky], [1 + kx, 1 - ky], [1 + kx, 1 + ky], [1 - kx, 1 + ky]])
    jitter = rng.uniform(-max_skew / 3, max_skew / 3, (4, 2)) * h
    dst = (centred * scale) @ rot.T + jitter
    span = np.ptp(dst, axis=0)
    dst *= min(1.0, 0.98 * cw / max(1e-6, float(span[0])), 0.98 * ch / max(1e-6, float(span[1])))
    dst += np.array([cw / 2, ch / 2])
    m = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
    canvas = background.copy() if background is not None else _clutter(ch, cw, rng)
    if canvas.shape[:2] != (ch, cw):
        canvas = np.asarray(cv2.resize(canvas, (cw, ch)), np.uint8)
    cv2.warpPerspective(
        image, m, (cw, ch), dst=canvas, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT
    )
    return canvas, dst.astype(np.float32)


def motion_blur(image: Image, rng: np.random.Generator, *, max_length: int = 9) -> Image:
    """Smear along a random direction by up to `max_length` pixels (a vehicle moving in the exposure)."""
    n = int(rng.integers(3, max(4, max_length + 1)))
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    k = np.asarray(cv2.warpAffine(k, rot, (n, n)), np.float32)
    k /= max(1e-6, float(k.sum()))
    return _u8(cv2.filter2D(image, -1, k))


def defocus_blur(image: Image, rng: np.random.Generator, *, max_radius: float = 2.5) -> Image:
    """Blur with a disc (an out-of-focus lens) of radius up to `max_radius` pixels."""
    r = float(rng.uniform(0.8, max(0.9, max_radius)))
    n = 2 * int(np.ceil(r)) + 1
    k = np.zeros((n, n), np.float32)
    cv2.circle(k, (n // 2 * 16, n // 2 * 16), round(r * 16), 1.0, -1, cv2.LINE_AA, 4)
    k /= max(1e-6, float(k.sum()))
    return _u8(cv2.filter2D(image, -1, k))


def low_light(image: Image, rng: np.random.Generator, *, min_gain: float = 0.12) -> Image:
    """Dusk: less light, a warm sodium-lamp or cold LED cast, and the noise that a high gain brings."""
    gain = rng.uniform(min_gain, 0.5)
    cast = rng.choice([np.array([0.7, 0.9, 1.15]), np.array([1.1, 1.0, 0.9])])
    f = image.astype(np.float32) * (gain * cast.astype(np.float32))
    f += rng.normal(0.0, 4.0 + 10.0 * (0.5 - gain), image.shape).astype(np.float32)
    return _u8(f)


def ir_greyscale(image: Image, rng: np.random.Generator) -> Image:
    """An infrared night image: monochrome, with the plate's retroreflective ground glowing bright."""
    b, g, r = (image[:, :, i].astype(np.float32) for i in range(3))
    # Under 850 nm light dyes and paints look alike; brightness follows overall reflectance.
    grey = 0.25 * b + 0.35 * g + 0.4 * r
    lo, hi = np.percentile(grey, [2, 98])
    contrast = rng.uniform(0.7, 1.2)
    grey = (grey - lo) / max(1.0, hi - lo) * 255.0 * contrast + rng.uniform(-20, 30)
    grey += rng.normal(0.0, rng.uniform(2.0, 8.0), grey.shape).astype(np.float32)
    g8 = _u8(grey)
    return np.ascontiguousarray(np.repeat(g8[:, :, None], 3, axis=2))


def dirt(image: Image, rng: np.random.Generator, *, amount: float = 0.35) -> Image:
    """Mud spots and streaks, blurred, covering up to about `amount` of the image."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(2, 12))):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(1, max(2, w // 8))), int(rng.integers(1, max(2, h // 5))))
        cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.2, 1.0)), -1)
    mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), max(1.0, h / 25)), np.float32)
    mask = np.clip(mask, 0, 1) * amount
    mud = np.array(rng.choice([[40, 60, 80], [60, 70, 75], [30, 35, 40]]), np.float32)
    f = image.astype(np.float32)
    f = f * (1 - mask[:, :, None]) + mud * mask[:, :, None]
    return _u8(f)


def noise(image: Image, rng: np.random.Generator, *, sigma: tuple[float, float] = (2.0, 12.0)) -> Image:
    """Gaussian sensor noise with a standard deviation drawn from `sigma`."""
    s = rng.uniform(*sigma)
    return _u8(image.astype(np.float32) + rng.normal(0.0, s, image.shape).astype(np.float32))


def jpeg(image: Image, rng: np.random.Generator, *, quality: tuple[int, int] = (15, 90)) -> Image:
    """Round-trip through JPEG at a quality drawn from `quality` (block artefacts of a cheap camera)."""
    q = int(rng.integers(quality[0], quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return _u8(decoded)


@dataclass(frozen=True)
class AugmentedPlate:
    """A degraded view of a plate and the plate's four corners in it (TL, TR, BR, BL)."""

    image: Image
    corners: Corners


def augment_plate(image: Image, rng: np.random.Generator, *, strength: float = 1.0) -> AugmentedPlate:
    """A random chain of degradations; `strength` in 0..1 scales how likely and how strong each is."""
    s = float(np.clip(strength, 0.0, 1.0))
    out, corners = perspective(image, rng, max_rotate_deg=10 * s, max_skew=0.15 * s + 1e-3)
    h = image.shape[0]
    if rng.random() < 0.4 * s:
        out = motion_blur(out, rng, max_length=max(3, round(h * 0.12 * s)))
    elif rng.random() < 0.4 * s:
        out = defocus_blur(out, rng, max_radius=max(1.0, h * 0.04 * s))
    night = rng.random()
    if night < 0.15 * s:
        out = ir_greyscale(out, rng)
    elif night < 0.35 * s:
        out = low_light(out, rng)
    if rng.random() < 0.25 * s:
        out = dirt(out, rng, amount=0.5 * s)
    if rng.random() < 0.7 * s:
        out = noise(out, rng, sigma=(1.0, 2.0 + 10.0 * s))
    if rng.random() < 0.5 * s:
        out = jpeg(out, rng, quality=(max(10, round(90 - 70 * s)), 95))
    return AugmentedPlate(out, corners)
