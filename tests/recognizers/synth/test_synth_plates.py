"""Synthetic plates: shapes, colours, glyph labels, determinism and the training augmentations."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pytest

from matthan.recognizers.synth import augment
from matthan.recognizers.synth.glyphs import ALTERNATES, GLYPHS, render_text
from matthan.recognizers.synth.plates import (
    DEFAULT_FONT,
    SIZE_MM,
    FontStyle,
    RenderedPlate,
    random_alternates,
    random_font,
    render_plate,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize(
    ("text", "rows", "colour", "shape"),
    [
        ("30A-123.45", 1, "white", "car_long"),
        ("51LD-678.90", 1, "yellow", "car_long"),
        ("29-B1\n123.45", 2, "white", "motorbike"),
        ("59-X3 456.78", 2, "blue", "motorbike"),
        ("80B\n012.34", 2, "red", "car_square"),
        ("43Đ-999.99", 1, "blue", "car_long"),
    ],
)
def test_plate_has_the_proportions_of_its_format(text: str, rows: int, colour: str, shape: str) -> None:
    plate = render_plate(text, rows, colour, _rng(), height_px=64, shape=shape)  # type: ignore[arg-type]
    w_mm, h_mm = SIZE_MM[shape]
    h, w, c = plate.image.shape
    assert (h, c) == (64, 3) and plate.image.dtype == np.uint8
    assert abs(w / h - w_mm / h_mm) < 0.05
    assert plate.rows == rows and plate.colour == colour and plate.shape == shape
    assert plate.text.count("\n") == rows - 1
    assert [g.char for g in plate.glyphs] == [ch for ch in plate.text if ch != "\n"]
    for g in plate.glyphs:
        x1, y1, x2, y2 = g.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


@pytest.mark.parametrize(
    ("colour", "ground", "ink_dark"),
    [
        ("white", lambda b, g, r: min(b, g, r) > 200, True),
        ("yellow", lambda b, g, r: r > 200 and g > 160 and b < 90, True),
        ("blue", lambda b, g, r: b > 120 and r < 70, False),
        ("red", lambda b, g, r: r > 160 and b < 80 and g < 80, False),
    ],
)
def test_plate_ground_and_ink_colours(colour: str, ground: object, ink_dark: bool) -> None:
    img = render_plate("30A-123.45", 1, colour, _rng(), height_px=48).image
    b, g, r = (float(np.median(img[:, :, i])) for i in range(3))
    assert callable(ground) and ground(b, g, r), (colour, b, g, r)
    luma = img.astype(np.float32).mean(axis=2)
    if ink_dark:
        assert np.percentile(luma, 3) < 90  # black text
    else:
        assert np.percentile(luma, 97) > 200  # white text


def test_same_seed_same_plate_other_seed_other_grain() -> None:
    a = render_plate("29-B1\n123.45", 2, "white", _rng(7)).image
    b = render_plate("29-B1\n123.45", 2, "white", _rng(7)).image
    c = render_plate("29-B1\n123.45", 2, "white", _rng(8)).image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("text", "rows", "colour", "shape", "expect"),
    [
        ("30A-123.45", 1, "white", None, nullcontext()),
        ("29-B1\n123.45", 1, "white", None, pytest.raises(ValueError, match="row")),
        ("30A-123.45", 2, "white", None, pytest.raises(ValueError, match="row")),
        ("30A-123.45", 1, "green", None, pytest.raises(ValueError, match="colour")),
        ("30A-123.45", 1, "white", "motorbike", pytest.raises(ValueError, match="row")),
        ("30A-123#45", 1, "white", None, pytest.raises(ValueError, match="glyph")),
    ],
)
def test_bad_plate_requests_raise(
    text: str, rows: int, colour: str, shape: str | None, expect: AbstractContextManager[object]
) -> None:
    with expect:
        render_plate(text, rows, colour, _rng(), shape=shape)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "rows", "shape"), [("1BA 1114", 1, "car_long"), ("ZG\n8894-AB", 2, "car_square")]
)
def test_european_band_is_blue_at_the_left_and_the_text_moves_right_of_it(
    text: str, rows: int, shape: str
) -> None:
    plain = render_plate(text, rows, "white", _rng(2), height_px=64, shape=shape)  # type: ignore[arg-type]
    eu = render_plate(text, rows, "white", _rng(2), height_px=64, shape=shape, band="CZ")  # type: ignore[arg-type]
    assert eu.image.shape == plain.image.shape and eu.text == plain.text  # the code is not the plate's text
    h, w = eu.image.shape[:2]
    band = eu.image[h // 4 : h // 2, int(0.02 * w) + 3 : int(0.06 * w)].reshape(-1, 3).mean(axis=0)
    assert band[0] > 100 and band[2] < 60  # blue (BGR)
    first_plain = min(g.box[0] for g in plain.glyphs)
    first_eu = min(g.box[0] for g in eu.glyphs)
    assert first_eu > first_plain and first_eu > 0.09 * w
    assert max(g.box[2] for g in eu.glyphs) < w
    # the glyph labels are the plate's text only, not the band's code
    assert [g.char for g in eu.glyphs] == [g.char for g in plain.glyphs]


@pytest.mark.parametrize(("band", "shape"), [("cz", "car_long"), ("CZE1", "car_long"), ("CZ", "motorbike")])
def test_bad_bands_raise(band: str, shape: str) -> None:
    rows = 2 if shape == "motorbike" else 1
    text = "29-B1\n123.45" if rows == 2 else "1BA 1114"
    with pytest.raises(ValueError, match="band"):
        render_plate(text, rows, "white", _rng(), shape=shape, band=band)  # type: ignore[arg-type]


def _ink_columns(image: np.ndarray) -> tuple[int, float]:
    """Width of the text block (columns holding dark ink, border excluded) and the ink share."""
    luma = image.astype(np.float32).mean(axis=2)
    h, w = luma.shape
    inner = luma[h // 5 : -h // 5, w // 25 : -w // 25] < 100
    cols = np.flatnonzero(inner.any(axis=0))
    return int(cols[-1] - cols[0]), float(inner.mean())


def test_font_style_changes_the_cut_and_the_default_is_unchanged() -> None:
    text = "30A-123.45"
    default = render_plate(text, 1, "white", _rng(3), height_px=64).image
    same = render_plate(text, 1, "white", _rng(3), height_px=64, font=DEFAULT_FONT).image
    assert np.array_equal(default, same)
    narrow = render_plate(text, 1, "white", _rng(3), height_px=64, font=FontStyle(condense=0.75)).image
    heavy = render_plate(text, 1, "white", _rng(3), height_px=64, font=FontStyle(stroke=0.19)).image
    thin = render_plate(text, 1, "white", _rng(3), height_px=64, font=FontStyle(stroke=0.09)).image
    wide_block, _ = _ink_columns(default)
    narrow_block, _ = _ink_columns(narrow)
    assert narrow_block < 0.85 * wide_block
    assert _ink_columns(heavy)[1] > 1.2 * _ink_columns(thin)[1]
    # a two-row motorbike plate, whose text already fills the width, still gets narrower
    bike = render_plate("29-B1\n123.45", 2, "white", _rng(3), height_px=64).image
    bike_narrow = render_plate(
        "29-B1\n123.45", 2, "white", _rng(3), height_px=64, font=FontStyle(condense=0.75)
    )
    assert _ink_columns(bike_narrow.image)[0] < 0.85 * _ink_columns(bike)[0]
    for g in bike_narrow.glyphs:
        assert 0 <= g.box[0] < g.box[2] <= bike_narrow.image.shape[1]


def _row_glyphs(plate: RenderedPlate, row: int) -> list[tuple[float, float]]:
    return [(g.box[0], g.box[2]) for g in plate.glyphs if g.row == row]


def test_justify_spreads_long_rows_across_the_plate_and_leaves_short_ones() -> None:
    plain = render_plate("62-H5\n7108", 2, "white", _rng(3), height_px=64)
    spread = render_plate("62-H5\n7108", 2, "white", _rng(3), height_px=64, font=FontStyle(justify=1.0))
    half = render_plate("62-H5\n7108", 2, "white", _rng(3), height_px=64, font=FontStyle(justify=0.5))
    w = plain.image.shape[1]

    def span(p: RenderedPlate) -> float:
        boxes = _row_glyphs(p, 1)
        return boxes[-1][1] - boxes[0][0]

    # the four digits span most of the plate when justified, about half their free room at 0.5
    assert span(plain) < 0.7 * w and span(spread) > 0.85 * w
    assert span(plain) + 0.35 * (span(spread) - span(plain)) < span(half) < span(spread)
    # glyphs keep their size, only the gaps grow, and the row stays centred on the plate
    for (a0, a1), (b0, b1) in zip(_row_glyphs(plain, 1), _row_glyphs(spread, 1), strict=True):
        assert abs((a1 - a0) - (b1 - b0)) < 0.5
    first, last = _row_glyphs(spread, 1)[0][0], _row_glyphs(spread, 1)[-1][1]
    assert abs(first - (w - last)) < 2
    # and the ink follows the boxes: the lower half's inked columns reach further out
    lower = [_ink_columns(p.image[p.image.shape[0] // 2 :])[0] for p in (plain, spread)]
    assert lower[1] > 1.2 * lower[0]
    # a short row (a square car plate's series) keeps its natural spacing
    car = render_plate("51F\n1234", 2, "white", _rng(3), height_px=64, shape="car_square")
    car_spread = render_plate(
        "51F\n1234", 2, "white", _rng(3), height_px=64, shape="car_square", font=FontStyle(justify=1.0)
    )
    assert _row_glyphs(car, 0) == _row_glyphs(car_spread, 0)
    assert _row_glyphs(car, 1) != _row_glyphs(car_spread, 1)
    # rows that already fill the plate are unchanged
    full = render_plate("29-MD2\n123.45", 2, "white", _rng(3), height_px=64)
    full_spread = render_plate(
        "29-MD2\n123.45", 2, "white", _rng(3), height_px=64, font=FontStyle(justify=1.0)
    )
    assert np.array_equal(full.image, full_spread.image)


def test_random_fonts_vary_within_plausible_cuts() -> None:
    rng = _rng(5)
    fonts = [random_font(rng) for _ in range(200)]
    strokes = [f.stroke for f in fonts]
    condense = [f.condense for f in fonts]
    assert min(strokes) >= 0.09 and max(strokes) <= 0.19 and np.std(strokes) > 0.02
    assert min(condense) >= 0.72 and max(condense) <= 1.1 and np.std(condense) > 0.05


def _ink(mask: np.ndarray, u0: float, u1: float, v0: float, v1: float) -> float:
    """Mean coverage of a region of a glyph mask given in fractions of its width and height."""
    h, w = mask.shape
    return float(mask[round(v0 * h) : round(v1 * h), round(u0 * w) : round(u1 * w)].mean())


def test_alternate_cuts_open_the_4_and_lengthen_the_flag_of_the_1() -> None:
    closed, opened = render_text("4", 80).mask, render_text("4", 80, alternates=frozenset("4")).mask
    # the closed 4's upright reaches the top; the open one's starts about a third of the way down
    assert _ink(closed, 0.6, 0.9, 0.0, 0.2) > 60 and _ink(opened, 0.6, 0.9, 0.0, 0.2) < 10
    assert _ink(opened, 0.6, 0.9, 0.5, 1.0) > 60  # the upright is still there below
    short, long = render_text("1", 80).mask, render_text("1", 80, alternates=frozenset("1")).mask
    assert _ink(long, 0.0, 0.3, 0.25, 0.4) > 2 * _ink(short, 0.0, 0.3, 0.25, 0.4)
    # characters without another cut, and rows without 1 or 4, come out as before
    assert np.array_equal(render_text("A7", 40).mask, render_text("A7", 40, alternates=frozenset("A7")).mask)
    plain = render_plate("29-B2\n567.89", 2, "white", _rng(3), height_px=64).image
    alt = FontStyle(alternates=frozenset(ALTERNATES))
    assert np.array_equal(
        plain, render_plate("29-B2\n567.89", 2, "white", _rng(3), height_px=64, font=alt).image
    )
    assert not np.array_equal(
        render_plate("29-B1\n404.41", 2, "white", _rng(3), height_px=64).image,
        render_plate("29-B1\n404.41", 2, "white", _rng(3), height_px=64, font=alt).image,
    )


def test_random_alternates_follow_their_share() -> None:
    rng = _rng(7)
    assert random_alternates(rng, 0.0) == frozenset()
    assert random_alternates(rng, 1.0) == frozenset(ALTERNATES)
    drawn = [random_alternates(rng, 0.5) for _ in range(400)]
    for ch in ALTERNATES:
        assert 0.4 < sum(ch in d for d in drawn) / len(drawn) < 0.6


def test_every_glyph_draws_ink() -> None:
    for ch, strokes in GLYPHS.items():
        if ch == " ":
            continue
        mask = render_text(ch, 40).mask
        assert mask.max() == 255, ch
        assert strokes or ch == ".", ch


def test_augment_plate_keeps_corners_on_the_canvas_and_is_deterministic() -> None:
    plate = render_plate("29-B1\n123.45", 2, "yellow", _rng(), height_px=48).image
    for seed in range(12):
        out = augment.augment_plate(plate, _rng(seed))
        h, w = out.image.shape[:2]
        assert out.image.dtype == np.uint8 and out.image.shape[2] == 3
        assert out.corners.shape == (4, 2)
        assert (out.corners >= 0).all() and (out.corners[:, 0] <= w).all() and (out.corners[:, 1] <= h).all()
        again = augment.augment_plate(plate, _rng(seed))
        assert np.array_equal(out.image, again.image)


def test_perspective_corners_track_the_plate() -> None:
    plate = np.zeros((40, 60, 3), np.uint8)
    plate[:] = 255
    canvas, corners = augment.perspective(plate, _rng(3), background=np.zeros((60, 90, 3), np.uint8))
    inside = canvas[int(corners[:, 1].mean()), int(corners[:, 0].mean())]
    assert inside.min() == 255  # the plate centre lands on the plate
    assert canvas[0, 0].max() == 0  # the corner of the canvas is background


@pytest.mark.parametrize(
    "fn",
    [augment.motion_blur, augment.defocus_blur, augment.low_light, augment.dirt, augment.noise, augment.jpeg],
)
def test_each_degradation_keeps_shape_and_type(fn: object) -> None:
    img = render_plate("30A-123.45", 1, "white", _rng(), height_px=32).image
    assert callable(fn)
    out = fn(img, _rng(1))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, img)


def test_ir_greyscale_is_monochrome() -> None:
    img = render_plate("30A-123.45", 1, "blue", _rng(), height_px=32).image
    out = augment.ir_greyscale(img, _rng(1))
    assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 1], out[:, :, 2])
