"""A stroke font in the spirit of the Vietnamese plate typeface: condensed, bold, upright.

Each glyph is a few centre-line polylines in a unit box (u to the right, v downward, both 0..1). Drawing
maps the box into a pixel rectangle inset by half the stroke width and strokes the lines thickly with
round caps, so no font file is needed. Shapes are drawn from scratch after the look of printed plates:
stadium-shaped 0, flat-topped 7, closed 4, two-bowl 3 and 8.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
Stroke = list[Point]

#: Vertical radius, in v units, of the round ends of full-width shapes (0, C, U...): the box is about
#: twice as tall as wide, so this keeps the ends close to semicircles.
_R = 0.25


def _arc(cu: float, cv: float, ru: float, rv: float, a0: float, a1: float) -> Stroke:
    """Points on an elliptical arc from a0 to a1 degrees (0 = right, 90 = down: clockwise on screen)."""
    steps = max(2, math.ceil(abs(a1 - a0) / 10.0) + 1)
    out: Stroke = []
    for i in range(steps):
        a = math.radians(a0 + (a1 - a0) * i / (steps - 1))
        out.append((cu + ru * math.cos(a), cv + rv * math.sin(a)))
    return out


def _stadium() -> Stroke:
    top = _arc(0.5, _R, 0.5, _R, 180, 360)
    bottom = _arc(0.5, 1 - _R, 0.5, _R, 0, 180)
    return [*top, *bottom, top[0]]


def _rot180(strokes: list[Stroke]) -> list[Stroke]:
    return [[(1 - u, 1 - v) for u, v in s] for s in strokes]


def _squeeze(strokes: list[Stroke], u0: float) -> list[Stroke]:
    """The same strokes mapped into u0..1 (to make room on the left, as for the bar of Đ)."""
    return [[(u0 + u * (1 - u0), v) for u, v in s] for s in strokes]


def _build() -> dict[str, list[Stroke]]:
    g: dict[str, list[Stroke]] = {}
    g["0"] = [_stadium()]
    g["1"] = [[(0.12, 0.24), (0.62, 0.0), (0.62, 1.0)]]
    g["2"] = [[*_arc(0.5, 0.26, 0.5, 0.26, 195, 385), (0.0, 1.0), (1.0, 1.0)]]
    g["3"] = [[*_arc(0.48, 0.24, 0.46, 0.24, 200, 450), *_arc(0.5, 0.74, 0.5, 0.26, 270, 520)]]
    g["4"] = [[(0.74, 1.0), (0.74, 0.0), (0.0, 0.7), (1.0, 0.7)]]
    g["5"] = [[(0.95, 0.0), (0.08, 0.0), (0.03, 0.46), *_arc(0.5, 0.685, 0.5, 0.315, 215, 520)]]
    six = [[*_arc(0.5, _R, 0.5, _R, 335, 180), (0.0, 0.67)], _arc(0.5, 0.67, 0.5, 0.33, 0, 360)]
    g["6"] = six
    g["7"] = [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)]]
    g["8"] = [_arc(0.5, 0.24, 0.44, 0.24, 0, 360), _arc(0.5, 0.74, 0.5, 0.26, 0, 360)]
    g["9"] = _rot180(six)
    g["A"] = [[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], [(0.2, 0.64), (0.8, 0.64)]]
    bowl_b = [
        (0.0, 1.0),
        (0.0, 0.0),
        (0.62, 0.0),
        *_arc(0.62, 0.24, 0.34, 0.24, 270, 450),
        (0.0, 0.48),
        (0.66, 0.48),
        *_arc(0.66, 0.74, 0.34, 0.26, 270, 450),
        (0.0, 1.0),
    ]
    g["B"] = [bowl_b]
    g["C"] = [[*_arc(0.5, _R, 0.5, _R, 340, 180), *_arc(0.5, 1 - _R, 0.5, _R, 180, 20)]]
    d_shape = [
        (0.0, 0.0),
        (0.45, 0.0),
        *_arc(0.45, _R, 0.55, _R, 270, 360),
        *_arc(0.45, 1 - _R, 0.55, _R, 0, 90),
        (0.0, 1.0),
        (0.0, 0.0),
    ]
    g["D"] = [d_shape]
    g["Đ"] = [*_squeeze([d_shape], 0.16), [(0.0, 0.5), (0.5, 0.5)]]
    g["E"] = [[(1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (1.0, 1.0)], [(0.0, 0.48), (0.82, 0.48)]]
    g["F"] = [[(1.0, 0.0), (0.0, 0.0), (0.0, 1.0)], [(0.0, 0.48), (0.82, 0.48)]]
    g["G"] = [
        [*_arc(0.5, _R, 0.5, _R, 340, 180), *_arc(0.5, 1 - _R, 0.5, _R, 180, 0), (1.0, 0.56), (0.55, 0.56)]
    ]
    g["H"] = [[(0.0, 0.0), (0.0, 1.0)], [(1.0, 0.0), (1.0, 1.0)], [(0.0, 0.5), (1.0, 0.5)]]
    g["I"] = [[(0.5, 0.0), (0.5, 1.0)], [(0.18, 0.0), (0.82, 0.0)], [(0.18, 1.0), (0.82, 1.0)]]
    g["J"] = [[(1.0, 0.0), *_arc(0.5, 1 - _R, 0.5, _R, 0, 180), (0.0, 0.66)]]
    g["K"] = [[(0.0, 0.0), (0.0, 1.0)], [(1.0, 0.0), (0.0, 0.62)], [(0.32, 0.43), (1.0, 1.0)]]
    g["L"] = [[(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]]
    g["M"] = [[(0.0, 1.0), (0.0, 0.0), (0.5, 0.62), (1.0, 0.0), (1.0, 1.0)]]
    g["N"] = [[(0.0, 1.0), (0.0, 0.0), (1.0, 1.0), (1.0, 0.0)]]
    g["O"] = [_stadium()]
    bowl_p = [(0.0, 1.0), (0.0, 0.0), (0.6, 0.0), *_arc(0.6, 0.26, 0.4, 0.26, 270, 450), (0.0, 0.52)]
    g["P"] = [bowl_p]
    g["Q"] = [_stadium(), [(0.58, 0.72), (1.0, 1.0)]]
    g["R"] = [bowl_p, [(0.45, 0.52), (1.0, 1.0)]]
    g["S"] = [[*_arc(0.5, 0.25, 0.5, 0.25, 340, 90), *_arc(0.5, 0.75, 0.5, 0.25, 270, 520)]]
    g["T"] = [[(0.0, 0.0), (1.0, 0.0)], [(0.5, 0.0), (0.5, 1.0)]]
    g["U"] = [[(0.0, 0.0), *_arc(0.5, 1 - _R, 0.5, _R, 180, 0), (1.0, 0.0)]]
    g["V"] = [[(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)]]
    g["W"] = [[(0.0, 0.0), (0.22, 1.0), (0.5, 0.35), (0.78, 1.0), (1.0, 0.0)]]
    g["X"] = [[(0.0, 0.0), (1.0, 1.0)], [(1.0, 0.0), (0.0, 1.0)]]
    g["Y"] = [[(0.0, 0.0), (0.5, 0.52), (1.0, 0.0)], [(0.5, 0.52), (0.5, 1.0)]]
    g["Z"] = [[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]]
    g["-"] = [[(0.0, 0.52), (1.0, 0.52)]]
    g["."] = [[(0.5, 1.0), (0.5, 1.0)]]
    g[" "] = []
    return g


GLYPHS: dict[str, list[Stroke]] = _build()

#: Other cuts of some glyphs seen on real plates, drawn instead of `GLYPHS` where asked for (`render_text`'s
#: `alternates`): the open 4 (its slanted stroke stops short of the upright, which starts a third of the
#: way down) and the 1 with a long flag reaching a third of the way down. Drawn to test whether their
#: absence makes the reader read real 4s and 1s as 7 (2026-11-28: a fine-tune with them half the time
#: did not cure it; see the plate-reader card).
ALTERNATES: dict[str, list[Stroke]] = {
    "4": [[(0.45, 0.0), (0.0, 0.7), (1.0, 0.7)], [(0.74, 0.34), (0.74, 1.0)]],
    "1": [[(0.0, 0.34), (0.62, 0.0), (0.62, 1.0)]],
}

#: Glyph width as a fraction of its height (before the stroke is added).
_WIDTH = {"-": 0.24, ".": 0.04, " ": 0.22, "M": 0.46, "W": 0.48, "Đ": 0.42}
_DEFAULT_WIDTH = 0.37


def glyph_width(ch: str) -> float:
    """Width of the centre-line box of `ch` as a fraction of the text height (the stroke adds to it)."""
    return _WIDTH.get(ch, _DEFAULT_WIDTH)


def supported(text: str) -> bool:
    """Whether every character of `text` (ignoring row breaks) has a glyph."""
    return all(ch in GLYPHS for ch in text.replace("\n", ""))


@dataclass(frozen=True)
class GlyphBox:
    """Where one character landed, in pixels of the mask it was drawn on."""

    char: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class TextMask:
    """One row of text as coverage (0..255, uint8), tight around the glyphs, and each glyph's box."""

    mask: npt.NDArray[np.uint8]
    glyphs: list[GlyphBox]


_SHIFT = 4  # cv2 drawing with 4 fractional bits: sub-pixel placement.
_ONE = float(1 << _SHIFT)


def _fixed(p: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    return np.round(p * _ONE).astype(np.int32)


def _stroke_polyline(mask: npt.NDArray[np.uint8], pts: npt.NDArray[np.float64], t: float) -> None:
    """A thick polyline with flat ends and round joins (the plate typeface has square terminals)."""
    r = t / 2
    if len(pts) == 1 or (np.allclose(pts[0], pts[-1]) and len(pts) == 2):
        cv2.circle(mask, tuple(int(v) for v in _fixed(pts[0])), round(r * _ONE), 255, -1, cv2.LINE_AA, _SHIFT)
        return
    closed = len(pts) > 2 and bool(np.allclose(pts[0], pts[-1]))
    for a, b in itertools.pairwise(pts):
        d = b - a
        n = float(np.hypot(d[0], d[1]))
        if n < 1e-9:
            continue
        off = np.array([-d[1], d[0]]) / n * r
        quad = np.array([a + off, b + off, b - off, a - off])
        cv2.fillConvexPoly(mask, _fixed(quad), 255, cv2.LINE_AA, _SHIFT)
    joins = pts[1:-1] if not closed else pts[:-1]
    for p in joins:
        cv2.circle(mask, tuple(int(v) for v in _fixed(p)), round(r * _ONE), 255, -1, cv2.LINE_AA, _SHIFT)


def render_text(
    text: str,
    height: int,
    *,
    stroke: float = 0.14,
    spacing: float = 0.11,
    alternates: frozenset[str] = frozenset(),
) -> TextMask:
    """Draw one row of `text` `height` pixels tall at its natural (unsqueezed) width.

    `stroke` and `spacing` are fractions of the height; characters in `alternates` are drawn in their
    other cut (`ALTERNATES`). Callers that must fit a narrower box resize the mask horizontally, which
    thins vertical strokes the way a condensed cut does.
    """
    h = float(height)
    t = max(1.0, stroke * h)
    widths = [glyph_width(ch) * h + t for ch in text]
    gap = spacing * h
    total = sum(widths) + gap * max(0, len(text) - 1)
    mask = np.zeros((height, max(1, math.ceil(total))), np.uint8)
    boxes: list[GlyphBox] = []
    x = 0.0
    for ch, w in zip(text, widths, strict=True):
        inner_w, inner_h = w - t, h - t
        ox, oy = x + t / 2, t / 2
        if ch == ".":
            dot = np.array([[x + w / 2, h - t * 0.62]])
            cv2.circle(
                mask,
                tuple(int(v) for v in _fixed(dot[0])),
                round(t * 0.62 * _ONE),
                255,
                -1,
                cv2.LINE_AA,
                _SHIFT,
            )
        shape = ALTERNATES[ch] if ch in alternates and ch in ALTERNATES else GLYPHS.get(ch, [])
        for stroke_pts in shape if ch != "." else []:
            pts = np.array([(ox + u * inner_w, oy + v * inner_h) for u, v in stroke_pts], np.float64)
            _stroke_polyline(mask, pts, t)
        boxes.append(GlyphBox(ch, x, 0.0, x + w, h))
        x += w + gap
    return TextMask(mask, boxes)
