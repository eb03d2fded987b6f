"""The camera conditions of the plate reader's conditions benchmark (benchmarks/plate_conditions.py)."""

from __future__ import annotations

import numpy as np
import pytest

from matthan.benchmarks import plate_conditions as pc


def _crop(w: int = 200, h: int = 60) -> np.ndarray:
    """A plate-like crop: a light plate with dark upright strokes, on a dark surround."""
    crop = np.full((h, w, 3), 40, np.uint8)
    crop[h // 8 : h - h // 8, w // 16 : w - w // 16] = 230
    crop[h // 3 : 2 * h // 3, w // 5 : w - w // 5 : max(2, w // 12)] = 20
    return crop


def _apply(name: str, image: np.ndarray) -> np.ndarray:
    return pc.condition(name).apply(image, pc.seeded("a.jpg", name))


def test_conditions_have_unique_names_and_an_unknown_one_names_the_known() -> None:
    names = [c.name for c in pc.CONDITIONS]
    assert len(names) == len(set(names))
    assert names[0] == "as cut"
    with pytest.raises(KeyError, match="known: as cut, 100 px wide"):
        pc.condition("fog")


@pytest.mark.parametrize("name", [c.name for c in pc.CONDITIONS])
def test_every_condition_gives_a_bgr_crop_and_the_same_one_on_every_run(name: str) -> None:
    crop = _crop()
    first, again = _apply(name, crop), _apply(name, crop)
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    np.testing.assert_array_equal(first, again)


def test_a_width_shrinks_wider_crops_only() -> None:
    assert _apply("55 px wide", _crop(200, 60)).shape[:2] == (16, 55)
    assert _apply("55 px wide", _crop(40, 20)).shape[:2] == (20, 40)  # only compressed


def test_a_turned_crop_grows_to_hold_the_plate_and_tilts_its_strokes() -> None:
    crop = _crop(200, 60)
    out = _apply("turned +15 deg", crop)
    h, w = out.shape[:2]
    assert h > 60 + 40 and w > 200  # 200 sin 15 = 52 px taller
    # the plate's light area: its top edge now rises from left to right (counter-clockwise turn)
    light = out[..., 0] > 150
    left, right = light[:, w // 4], light[:, 3 * w // 4]
    assert np.argmax(left) > np.argmax(right)


def test_blur_smears_an_edge_and_dark_takes_the_light() -> None:
    crop = _crop()
    edge = np.abs(np.diff(crop[30, :, 0].astype(int))).max()
    assert np.abs(np.diff(_apply("motion 8 %", crop)[30, :, 0].astype(int))).max() < edge / 2
    assert np.abs(np.diff(_apply("defocus 4 %", crop)[30, :, 0].astype(int))).max() < edge / 2
    grey = np.full((60, 200, 3), 200, np.uint8)
    # a quarter of the light on a gamma-2.2 curve: 200 -> 200 * 0.25 ** (1 / 2.2) = 107, plus noise
    assert 100 < float(_apply("dark", grey).mean()) < 114


def test_draws_depend_on_the_crop_and_the_condition() -> None:
    a = pc.seeded("a.jpg", "dark").integers(1 << 30)
    assert a == pc.seeded("a.jpg", "dark").integers(1 << 30)
    assert a != pc.seeded("b.jpg", "dark").integers(1 << 30)
    assert a != pc.seeded("a.jpg", "JPEG 10").integers(1 << 30)


@pytest.mark.skipif(
    not (pc.CROPS / "labels.csv").is_file(), reason="../shared/datasets/vn-plate-crops is absent"
)
def test_measure_reads_the_crops_under_a_condition() -> None:
    from matthan.recognizers.plates.detector import crop_reader

    vietnamese, foreign = pc.crops()
    assert len(vietnamese) > 300 and len(foreign) > 200
    rows = pc.measure(crop_reader(), vietnamese[:20], foreign[:10], [pc.condition("as cut")])
    (row,) = rows
    assert (row["n"], row["foreign_n"]) == (20, 10)
    assert row["exact"] >= 18 and row["exact"] + row["wrong_and_sure"] <= 20
    assert row["foreign_as_vietnamese"] == 0
    assert "camera conditions" in pc.render_markdown(
        {"machine": "m", "reader_version": "9", "detector_version": "1", "date": "d", "rows": rows}
    )
