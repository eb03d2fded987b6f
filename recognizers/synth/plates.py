"""Render flat, frontal Vietnamese licence plates (training data and the street clips' plates).

Proportions follow the plates on the road: one-row car plates 520×110 mm (``30A-123.45``), two-row car
plates 330×165 mm and two-row motorbike plates 190×140 mm (``29-B1`` over ``123.45``); white (civil),
yellow (commercial), blue (state) and red (military) grounds with black text, or white text on blue and
red; a thin border inset from the edge; embossed, condensed, bold upright glyphs (see :mod:`.glyphs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np
import numpy.typing as npt

from .glyphs import ALTERNATES, render_text, supported

Image = npt.NDArray[np.uint8]
PlateColour = Literal["white", "yellow", "blue", "red"]
PlateShape = Literal["car_long", "car_square", "motorbike"]

COLOURS: tuple[str, ...] = get_args(PlateColour)
SHAPES: tuple[str, ...] = get_args(PlateShape)

#: Plate width and height in millimetres.
SIZE_MM: dict[str, tuple[float, float]] = {
    "car_long": (520.0, 110.0),
    "car_square": (330.0, 165.0),
    "motorbike": (190.0, 140.0),
}


@dataclass(frozen=True)
class _Layout:
    char_h: float  # text height as a fraction of the plate height
    row_gap: float  # gap between rows, fraction of the plate height
    margin_x: float  # horizontal room left on each side for text, fraction of the plate width


_LAYOUT: dict[str, _Layout] = {
    "car_long": _Layout(char_h=0.66, row_gap=0.0, margin_x=0.05),
    "car_square": _Layout(char_h=0.36, row_gap=0.085, margin_x=0.07),
    "motorbike": _Layout(char_h=0.37, row_gap=0.075, margin_x=0.055),
}

#: Ground and text colours (BGR).
_GROUND: dict[str, tuple[int, int, int]] = {
    "white": (238, 240, 240),
    "yellow": (28, 200, 245),
    "blue": (150, 62, 22),
    "red": (38, 34, 196),
}
_INK: dict[str, tuple[int, int, int]] = {
    "white": (28, 26, 26),
    "yellow": (24, 22, 22),
    "blue": (240, 240, 240),
    "red": (240, 240, 240),
}

_SUPERSAMPLE = 3


@dataclass(frozen=True)
class GlyphLabel:
    """One character of a rendered plate and its box (x1, y1, x2, y2) in plate-image pixels."""

    char: str
    box: tuple[float, float, float, float]
    row: int


@dataclass(frozen=True)
class RenderedPlate:
    """A flat frontal plate image (BGR uint8) and what is printed on it.

    `text` is the printed form with ``"\\n"`` between rows; `char_height` is the height of one row of
    text as a fraction of the plate height, so a plate h pixels tall carries text ``char_height * h``
    pixels tall.
    """

    image: Image
    text: str
    rows: int
    colour: str
    shape: str
    char_height: float
    glyphs: tuple[GlyphLabel, ...]

    @property
    def size_mm(self) -> tuple[float, float]:
        return SIZE_MM[self.shape]


@dataclass(frozen=True)
class FontStyle:
    """How the typeface is cut: stroke width and letter gap (fractions of the text height), and a
    horizontal scale of the glyphs (below 1: condensed, as on older plates and some makers' stamps),
    the characters drawn in their other cut (see `glyphs.ALTERNATES`: the open 4, the long-flagged 1),
    and `justify`: the share of a row's free width spread evenly into its letter gaps (0: rows keep
    their natural spacing, centred; 1: each row spans the plate, as the old four-digit serials do).
    Rows of fewer than four characters (``51F`` on a square car plate) stay as they are."""

    stroke: float = 0.14
    spacing: float = 0.11
    condense: float = 1.0
    alternates: frozenset[str] = frozenset()
    justify: float = 0.0


#: the typeface drawn when no style is asked for
DEFAULT_FONT = FontStyle()


def random_font(rng: np.random.Generator) -> FontStyle:
    """A plausible plate-maker's cut: thin to heavy strokes, tight to loose spacing, narrow to wide glyphs.

    Plates from different years and workshops differ in exactly these ways (the old four-digit
    motorbike plates are tall and narrow with thin strokes), and a reader trained on one cut only
    confuses ``H`` with ``B`` or drops a narrow first digit on the others.
    """
    return FontStyle(
        stroke=float(rng.uniform(0.09, 0.19)),
        spacing=float(rng.uniform(0.05, 0.16)),
        condense=float(rng.uniform(0.72, 1.1)),
    )


def random_alternates(rng: np.random.Generator, share: float) -> frozenset[str]:
    """Each glyph that has another cut (`glyphs.ALTERNATES`) drawn in it with probability `share`."""
    return frozenset(ch for ch in sorted(ALTERNATES) if rng.random() < share)


def split_rows(text: str, rows: int) -> list[str]:
    """The rows of a plate text: ``"\\n"`` separates rows; a space does too when `rows` asks for two."""
    if rows not in (1, 2):
        raise ValueError(f"a plate has 1 or 2 rows, not {rows}")
    parts = text.split("\n")
    if len(parts) == 1 and rows == 2 and " " in text:
        parts = text.split(" ", 1)
    if len(parts) != rows:
        raise ValueError(f"plate text {text!r} has {len(parts)} row(s) but rows={rows}")
    return [p.strip() for p in parts]


def default_shape(rows: int) -> PlateShape:
    """One-row texts go on a long car plate, two-row texts on a motorbike plate."""
    return "car_long" if rows == 1 else "motorbike"


def render_plate(
    text: str,
    rows: int,
    colour: str,
    rng: np.random.Generator,
    *,
    height_px: int = 64,
    shape: PlateShape | None = None,
    font: FontStyle = DEFAULT_FONT,
    band: str = "",
) -> RenderedPlate:
    """Render the plate printed with `text` (rows separated by ``"\\n"``), `height_px` pixels tall.

    `shape` picks the plate format (default: long car plate for one row, motorbike plate for two);
    `rng` varies the ground tint, wear and embossing slightly, so the same seed gives the same image;
    `font` sets the cut of the typeface (see :func:`random_font`). A `band` (a country code of one to
    three letters) draws a European-style plate: a blue strip on the left with a ring of stars and the
    code, which is not part of the plate's text, and the text set in the room to its right (car
    plates only; Vietnamese plates have no band, foreign ones often do).
    """
    if colour not in _GROUND:
        raise ValueError(f"unknown plate colour {colour!r}; expected one of {', '.join(COLOURS)}")
    shape = shape or default_shape(rows)
    if shape not in SIZE_MM:
        raise ValueError(f"unknown plate shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if (shape == "car_long" and rows != 1) or (shape != "car_long" and rows != 2):
        raise ValueError(f"a {shape} plate has {1 if shape == 'car_long' else 2} row(s), not {rows}")
    if band and (shape == "motorbike" or not (band.isalpha() and band.isupper() and len(band) <= 3)):
        raise ValueError(f"a band takes 1-3 capital letters on a car plate, not {band!r} on a {shape} plate")
    lines = split_rows(text, rows)
    if not supported(text):
        raise ValueError(f"plate text {text!r} has characters without a glyph")
    if height_px < 8:
        raise ValueError(f"height_px must be at least 8, not {height_px}")

    w_mm, h_mm = SIZE_MM[shape]
    layout = _LAYOUT[shape]
    ss = _SUPERSAMPLE
    H = height_px * ss
    W = round(height_px * w_mm / h_mm) * ss
    mm = H / h_mm  # supersampled pixels per millimetre

    ground = np.array(_GROUND[colour], np.float32) + rng.normal(0.0, 5.0, 3).astype(np.float32)
    ink = np.array(_INK[colour], np.float32) + rng.normal(0.0, 4.0, 3).astype(np.float32)

    # Surface: the ground with a faint vertical sheen and fine grain (reflective sheeting).
    sheen = 1.0 + 0.05 * np.cos(np.linspace(-1.2, 1.8, H, dtype=np.float32) + rng.uniform(-0.5, 0.5))[:, None]
    img = np.empty((H, W, 3), np.float32)
    img[:] = ground
    img *= sheen[:, :, None]
    grain = cv2.resize(rng.normal(0.0, 4.0, (H // 6 + 1, W // 6 + 1)).astype(np.float32), (W, H))
    img += grain[:, :, None]

    # Ink coverage: the border and the text, as one mask in 0..1.
    ink_mask = np.zeros((H, W), np.uint8)
    inset, border_t, radius = 2.2 * mm, max(1.0, 1.9 * mm), 6.0 * mm
    _rounded_rect(ink_mask, inset, W - 1 - inset, H - 1 - inset, border_t, radius)

    char_h = layout.char_h * H
    block = char_h * rows + layout.row_gap * H * (rows - 1)
    y = (H - block) / 2 + 0.01 * H
    band_w = round(_BAND_W[shape] * W) if band else 0
    avail_w = (W - band_w) * (1 - 2 * layout.margin_x)
    glyphs: list[GlyphLabel] = []
    for row, line in enumerate(lines):
        tm = render_text(
            line, round(char_h), stroke=font.stroke, spacing=font.spacing, alternates=font.alternates
        )
        th, tw = tm.mask.shape
        # squeezed to fit the plate first, then condensed (or widened while there is room)
        fit = min(avail_w / tw, min(1.0, avail_w / tw) * font.condense)
        out_w = max(1, round(tw * fit))
        if font.justify > 0 and len(line) >= 4 and tw * fit < avail_w - 1:
            # the same glyphs, drawn again with the free width spread into the gaps
            extra = font.justify * (avail_w - out_w) / (len(line) - 1) / fit
            tm = render_text(
                line,
                round(char_h),
                stroke=font.stroke,
                spacing=font.spacing + extra / round(char_h),
                alternates=font.alternates,
            )
            th, tw = tm.mask.shape
            out_w = max(1, round(tw * fit))
        row_mask = cv2.resize(tm.mask, (out_w, th), interpolation=cv2.INTER_AREA) if fit != 1 else tm.mask
        x0 = round(band_w + (W - band_w - out_w) / 2)
        y0 = round(y)
        region = ink_mask[y0 : y0 + th, x0 : x0 + out_w]
        np.maximum(region, row_mask[: region.shape[0], : region.shape[1]], out=region)
        for g in tm.glyphs:
            box = ((x0 + g.x1 * fit) / ss, (y0 + g.y1) / ss, (x0 + g.x2 * fit) / ss, (y0 + g.y2) / ss)
            glyphs.append(GlyphLabel(g.char, box, row))
        y += char_h + layout.row_gap * H

    # Embossed characters: a soft shadow below-right and a highlight above-left of the raised ink.
    m = ink_mask.astype(np.float32) / 255.0
    relief = max(1, round(0.6 * mm))
    shift = np.array([[1, 0, relief], [0, 1, relief]], np.float32)
    shadow = np.asarray(cv2.warpAffine(m, shift, (W, H)), np.float32)
    shadow = np.asarray(cv2.GaussianBlur(shadow, (0, 0), relief), np.float32)
    img *= (1.0 - 0.18 * np.clip(shadow - m, 0, 1))[:, :, None]
    # Slightly uneven ink (stamped paint), then the ink itself.
    wear = 1.0 - 0.12 * cv2.resize(rng.random((H // 12 + 1, W // 12 + 1)).astype(np.float32), (W, H))
    cover = (m * wear)[:, :, None]
    img = np.asarray(img * (1.0 - cover) + ink * cover, np.float32)

    if band:
        _band(img, band, band_w, inset + border_t, rng)
    _screws(img, shape, mm, rng)

    out = cv2.resize(np.clip(img, 0, 255), (W // ss, H // ss), interpolation=cv2.INTER_AREA)
    return RenderedPlate(
        image=np.ascontiguousarray(out.astype(np.uint8)),
        text="\n".join(lines),
        rows=rows,
        colour=colour,
        shape=shape,
        char_height=round(char_h) / H,
        glyphs=tuple(glyphs),
    )


#: width of a European band as a share of the plate's width (about 45 mm on a 520 mm plate)
_BAND_W: dict[str, float] = {"car_long": 0.085, "car_square": 0.13}


def _band(
    img: npt.NDArray[np.float32], code: str, width: int, inset: float, rng: np.random.Generator
) -> None:
    """A European plate's blue strip at the left edge, inside the border: a ring of twelve yellow
    stars above the country `code` in white."""
    H = img.shape[0]
    x1, y1, y2 = round(inset), round(inset), round(H - 1 - inset)
    blue = np.array((150, 60, 10), np.float32) + rng.normal(0.0, 8.0, 3).astype(np.float32)
    img[y1:y2, x1:width] = blue
    cx, cy = (x1 + width) / 2, y1 + 0.3 * (y2 - y1)
    ring, star = 0.3 * (width - x1), max(1, round(0.045 * (width - x1)))
    for k in range(12):
        a = 2 * np.pi * k / 12
        centre = (round(cx + ring * np.cos(a)), round(cy + ring * np.sin(a)))
        cv2.circle(img, centre, star, (20, 200, 245), -1, cv2.LINE_AA)
    tm = render_text(code, max(4, round(0.28 * (y2 - y1))))
    th, tw = tm.mask.shape
    fit = min(1.0, 0.75 * (width - x1) / tw)
    size = (max(1, round(tw * fit)), max(1, round(th * fit)))
    mask = cv2.resize(tm.mask, size, interpolation=cv2.INTER_AREA)
    mh, mw = mask.shape
    top, left = round(y1 + 0.62 * (y2 - y1)), round(cx - mw / 2)
    region = img[top : top + mh, left : left + mw]
    cover = (mask[: region.shape[0], : region.shape[1]].astype(np.float32) / 255.0)[:, :, None]
    region[:] = region * (1.0 - cover) + 235.0 * cover


def _rounded_rect(mask: Image, x1: float, x2: float, y2: float, t: float, r: float) -> None:
    """Stroke a rounded rectangle from (x1, x1) to (x2, y2) on `mask` (the plate border)."""
    shift = 4
    one = 1 << shift
    y1 = x1
    c = (255, 255, 255)
    ti = max(1, round(t))

    def p(x: float, y: float) -> tuple[int, int]:
        return round(x * one), round(y * one)

    lines = [
        (p(x1 + r, y1), p(x2 - r, y1)),
        (p(x1 + r, y2), p(x2 - r, y2)),
        (p(x1, y1 + r), p(x1, y2 - r)),
        (p(x2, y1 + r), p(x2, y2 - r)),
    ]
    for a, b in lines:
        cv2.line(mask, a, b, c, ti, cv2.LINE_AA, shift)
    axes = p(r, r)
    for centre, angle in (
        ((x1 + r, y1 + r), 180),
        ((x2 - r, y1 + r), 270),
        ((x2 - r, y2 - r), 0),
        ((x1 + r, y2 - r), 90),
    ):
        cv2.ellipse(mask, p(*centre), axes, angle, 0, 90, c, ti, cv2.LINE_AA, shift)


def _screws(img: npt.NDArray[np.float32], shape: str, mm: float, rng: np.random.Generator) -> None:
    """Two mounting screws at the ends, clear of the text (between the rows on two-row plates)."""
    H, W = img.shape[:2]
    x = 0.03 if shape == "car_long" else 0.045
    spots = [(x * W, 0.5 * H), ((1 - x) * W, 0.5 * H)]
    grey = float(rng.uniform(120, 185))
    for x, y in spots:
        centre = (round(x), round(y))
        cv2.circle(img, centre, max(1, round(2.6 * mm)), (grey, grey, grey), -1, cv2.LINE_AA)
        cv2.circle(
            img, centre, max(1, round(2.6 * mm)), (grey * 0.6,) * 3, max(1, round(0.5 * mm)), cv2.LINE_AA
        )
