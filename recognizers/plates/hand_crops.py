"""Hand-read plates of the scenes' train split, cut out as a crop folder for the plate reader.

``python -m matthan.recognizers.plates.hand_crops --scenes ../shared/datasets/vn-plate-scenes --out DIR``
writes ``DIR/images/*.jpg`` and ``DIR/labels.csv`` (the crops dataset's columns), for
``train_reader --extra-crops DIR``.

`scene_train_texts.csv` (beside this module) names plates of the vn-plate-scenes **train** split (the
scene image, the plate's index in its label file, the text read by eye here). They are the plates at
least 40 px wide that plate-reader 8 read in no Vietnamese format or with confidence under 0.97 (so
self-training left them out): of 455 such plates, the 260 whose every character could be read by eye
(the others are blurred, hidden or cut by the frame, and left out rather than guessed); each was shown
beside plate-reader 8's reading (with the second look), 232 of those readings were right and 28 were
corrected. How they were read: `benchmarks/data/README.md`. None comes from the validation split.

Each plate is cut twice: along its labelled corners exactly as the agent cuts a detected plate
(:func:`detector.rectify`), and along the upright box around them with 0-25 % more on each side (drawn
from a generator seeded 0, in the file's order), as other systems' boxes cut plates.
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import cv2
import numpy as np

from matthan.recognizers.plates import grammar
from matthan.recognizers.plates.detector import box_crop, rectify
from matthan.recognizers.plates.scenes import read_yolo_polygons
from matthan.recognizers.plates.train_reader import save_crop, write_crop_labels

log = logging.getLogger(__name__)

TEXTS = Path(__file__).with_name("scene_train_texts.csv")


def read_texts(path: Path = TEXTS) -> list[tuple[str, int, str]]:
    """(scene image file name, plate index, text) per hand-read plate."""
    with path.open(newline="") as fh:
        return [(row["image"], int(row["plate"]), row["text"]) for row in csv.DictReader(fh)]


def cut(scenes: Path, out: Path, texts: Path = TEXTS) -> int:
    """Cut the plates `texts` names from `scenes`' train split into `out`; returns the crops written."""
    split = scenes / "train"
    if not (split / "images").is_dir():
        raise FileNotFoundError(f"{split / 'images'} is missing: --scenes takes the vn-plate-scenes dataset")
    rng = np.random.default_rng(0)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows: list[list[str | int]] = []
    for image_name, k, text in read_texts(texts):
        n_rows = text.count("\n") + 1
        if grammar.parse(text, rows=n_rows) is None:
            raise ValueError(f"{texts}: {image_name} plate {k}: {text!r} is no Vietnamese plate")
        image = cv2.imread(str(split / "images" / image_name))
        if image is None:
            raise FileNotFoundError(f"{split / 'images' / image_name}: missing or unreadable")
        frame = np.asarray(image, np.uint8)
        h, w = frame.shape[:2]
        corners, _ = read_yolo_polygons(split / "labels" / f"{Path(image_name).stem}.txt", w, h)
        if k >= len(corners):
            raise ValueError(f"{texts}: {image_name} has no plate {k}")
        margins = [float(v) for v in rng.uniform(0.0, 0.25, 4)]
        family = "scene-hand-" + image_name.split("_")[0]
        stem = f"{Path(image_name).stem[:40]}_{k}"
        for name, crop in (
            (f"{stem}.jpg", rectify(frame, corners[k])),
            (f"{stem}_box.jpg", box_crop(frame, corners[k], margins)),
        ):
            save_crop(out, name, crop)
            rows.append([name, text, n_rows, family, "VN"])
    write_crop_labels(out, rows)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=Path, default=Path("../shared/datasets/vn-plate-scenes"))
    parser.add_argument("--out", type=Path, required=True, help="crop folder to write (images/, labels.csv)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    n = cut(args.scenes, args.out)
    log.info("%d crops written to %s", n, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
