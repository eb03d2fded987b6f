"""The hand-read plates of the scenes' train split (`scene_train_texts.csv`) and the crops cut from them."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from matthan.recognizers.plates import grammar, hand_crops
from matthan.recognizers.plates.scenes import read_yolo_polygons
from tests.conftest import shared_path


def test_every_text_is_a_vietnamese_plate_of_the_train_split_and_none_twice() -> None:
    texts = hand_crops.read_texts()
    assert len(texts) >= 250
    keys = [(image, k) for image, k, _ in texts]
    assert len(set(keys)) == len(keys)
    for image, k, text in texts:
        assert k >= 0 and image.endswith(".jpg")
        assert grammar.parse(text, rows=text.count("\n") + 1) is not None, (image, text)


def test_the_named_plates_are_in_the_train_split_and_not_in_validation() -> None:
    scenes = shared_path("datasets/vn-plate-scenes")
    valid = {p.name for p in (scenes / "valid" / "images").glob("*.jpg")}
    for image, k, _ in hand_crops.read_texts():
        assert image not in valid
        path = scenes / "train" / "images" / image
        assert path.is_file(), image
        frame = cv2.imread(str(path))
        h, w = frame.shape[:2]
        corners, _ = read_yolo_polygons(scenes / "train" / "labels" / f"{path.stem}.txt", w, h)
        assert k < len(corners)
        # the plates that self-training cannot label itself: at least MIN_WIDTH wide
        assert float(corners[k][:, 0].max() - corners[k][:, 0].min()) >= 40


def test_cut_writes_each_plate_along_corners_and_a_looser_box(tmp_path: Path) -> None:
    scenes = shared_path("datasets/vn-plate-scenes")
    texts = hand_crops.read_texts()[:5]
    listed = tmp_path / "texts.csv"
    with listed.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "plate", "text"])
        writer.writerows(texts)
    n = hand_crops.cut(scenes, tmp_path / "crops", listed)
    assert n == 10
    with (tmp_path / "crops" / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == [t for _, _, t in texts for _ in range(2)]
    for plain, box in zip(rows[0::2], rows[1::2], strict=True):
        assert box["image"] == plain["image"].replace(".jpg", "_box.jpg")
        assert re.fullmatch(r"scene-hand-[A-Za-z]+", plain["family"]) and plain["country"] == "VN"
        assert int(plain["rows"]) == plain["text"].count("\n") + 1
        a = cv2.imread(str(tmp_path / "crops" / "images" / plain["image"]))
        b = cv2.imread(str(tmp_path / "crops" / "images" / box["image"]))
        assert a is not None and b is not None and a.size > 0 and b.size > 0
    # the same file again gives the same crops (the box margins come from a seeded generator)
    again = hand_crops.cut(scenes, tmp_path / "again", listed)
    assert again == n
    for row in rows:
        first = cv2.imread(str(tmp_path / "crops" / "images" / row["image"]))
        second = cv2.imread(str(tmp_path / "again" / "images" / row["image"]))
        assert np.array_equal(first, second)


def test_cut_refuses_a_text_that_is_no_vietnamese_plate(tmp_path: Path) -> None:
    scenes = shared_path("datasets/vn-plate-scenes")
    image, k, _ = hand_crops.read_texts()[0]
    listed = tmp_path / "texts.csv"
    listed.write_text(f"image,plate,text\n{image},{k},ABC\n")
    with pytest.raises(ValueError, match="no Vietnamese plate"):
        hand_crops.cut(scenes, tmp_path / "crops", listed)


def test_cut_names_a_missing_scenes_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="vn-plate-scenes"):
        hand_crops.cut(tmp_path / "nowhere", tmp_path / "crops")
