"""The camera conditions of the plate reader's conditions benchmark (benchmarks/plate_conditions.py)."""

from __future__ import annotations

from pathlib import Path

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


def test_a_stream_shrinks_the_frame_and_says_by_how_much() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    out, scale = pc.frame_condition("320 px stream").apply(frame, pc.seeded("f", "s"))
    assert out.shape[:2] == (240, 320) and scale == 0.5
    small = np.zeros((200, 300, 3), np.uint8)
    out, scale = pc.frame_condition("320 px stream").apply(small, pc.seeded("f", "s"))
    assert out.shape[:2] == (200, 300) and scale == 1.0  # never enlarged


def test_frame_blur_is_sized_in_the_detectors_640_px_view() -> None:
    def smear(width: int) -> int:
        frame = np.zeros((width * 3 // 4, width, 3), np.uint8)
        frame[:, width // 2 :] = 255
        out, scale = pc.frame_condition("motion 6 px").apply(frame, pc.seeded("f", "m"))
        assert scale == 1.0
        row = out[10, :, 0]
        return int(((row > 10) & (row < 245)).sum())  # pixels the edge is smeared over

    assert 4 <= smear(640) <= 7
    assert 10 <= smear(1280) <= 13  # twice as many pixels of a frame twice the size
    assert 4 <= smear(320) <= 7  # small frames are not enlarged: 6 of their own pixels


@pytest.mark.skipif(
    not (pc.SCENES / "images").is_dir(), reason="../shared/datasets/vn-plate-scenes is absent"
)
def test_measure_frames_scores_the_path_the_agent_runs(tmp_path: Path) -> None:
    import csv
    import shutil

    from matthan.recognizers.base import Detections
    from matthan.recognizers.plates import scenes
    from matthan.recognizers.plates.detector import PlateDetector, PlatesConfig

    with pc.SCENE_TEXTS.open(newline="") as fh:
        header, *rows = list(csv.reader(fh))  # a two-row plate's text holds a newline
    keep = [r for r in rows if r[0].startswith("Tgmt_")][:6]
    (tmp_path / "images").mkdir()
    for name in {r[0] for r in keep}:
        shutil.copy(pc.SCENES / "images" / name, tmp_path / "images" / name)
    texts = tmp_path / "texts.csv"
    with texts.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *keep])
    detector = PlateDetector(PlatesConfig())
    detector.load()
    as_shot, stream = pc.measure_frames(
        detector,
        [pc.frame_condition("as shot"), pc.frame_condition("480 px stream")],
        tmp_path / "images",
        texts,
    )
    direct = scenes.evaluate(
        lambda f: detector(f, Detections.empty()),
        tmp_path / "images",
        scenes.read_labels(texts, tmp_path / "images"),
        labelled_only=True,
    )
    assert as_shot["recall"] == direct["recall"] and as_shot["end_to_end_exact"] == direct["end_to_end_exact"]
    assert as_shot["n_plates"] == len(keep) and as_shot["recall"] > 0.8
    # the 480-px stream's boxes are mapped back to the frame as shot, so its plates still match
    assert stream["recall"] > 0.8


#: Czech crops (never trained on) read in a Vietnamese format when turned 15 degrees either way or seen
#: 45 px wide: 26 of 732 with plate-reader 9 and the Vietnamese floor (`reader.VN_FLOOR`), 62 without
#: the floor. The ceiling leaves 14 of margin and fails if the floor's effect is lost.
FOREIGN_UNDER_CONDITIONS_CEILING = 40


@pytest.mark.skipif(
    not (pc.CROPS / "labels.csv").is_file(), reason="../shared/datasets/vn-plate-crops is absent"
)
def test_foreign_plates_a_camera_gives_small_or_turned_are_seldom_read_as_vietnamese() -> None:
    from matthan.recognizers.plates.detector import crop_reader

    _, foreign = pc.crops()
    conditions = [pc.condition(n) for n in ("turned +15 deg", "turned -15 deg", "45 px wide")]
    rows = pc.measure(crop_reader(), [], foreign, conditions)
    assert sum(r["foreign_as_vietnamese"] for r in rows) <= FOREIGN_UNDER_CONDITIONS_CEILING, rows
