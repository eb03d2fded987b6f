"""Plate reader under camera conditions: what a camera's plates must look like to be read.

    python -m matthan.benchmarks.plate_conditions

The reader is measured on crops of a few cameras; the cameras it will meet differ in resolution,
mounting, shutter, lens, compression and light. This benchmark degrades the crops it never trained on
as such cameras would, one condition at a time, and reads them as `matthan plates read` does (the
second look included), so that an installer can tell from a camera's plates whether they can be read,
and an operator how far a reading under each condition can be trusted:

- Vietnamese: the validation part of ``../shared/datasets/vn-plate-crops`` (our label fixes applied):
  share read exactly, and share read wrongly with confidence >= ``SURE`` (a wrong reading that an
  alert threshold would not stop);
- foreign: its Czech crops (never trained on): how many come out in a Vietnamese format, which must be
  none whatever the condition.

Then the whole path the agent runs (detect -> cut -> read) on the frames of the vn-plate-scenes
validation split (never trained on), each frame degraded as a camera would (a smaller stream, motion
blur, defocus, compression, dark; sizes in pixels of the 640-px view the detector searches): recall
at IoU 0.5 on its 879 labelled plates and exact reads of the 698 read by eye
(``benchmarks/data/vn-plate-scenes-valid-text.csv``).

Every condition is deterministic (its random draws are seeded by the crop's name, or by the frame's
place among the frames, which are read in the order of their names). Accuracy only: no
timing, so the numbers hold on any machine with the same models. Writes
``benchmarks/results/plate_conditions.json`` and the ``## Plate reader: camera conditions`` section of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from matthan.benchmarks.common import cpu_model, write_json, write_section
from matthan.recognizers.base import Detections
from matthan.recognizers.plates import grammar, scenes
from matthan.recognizers.plates.detector import PlateDetector, PlateLocator, PlatesConfig, crop_reader
from matthan.recognizers.plates.evaluate import LABEL_FIXES, read_label_fixes, read_labels, split_of
from matthan.recognizers.plates.reader import Image, PlateReader, load_image

HERE = Path(__file__).resolve().parent
CROPS = HERE.parent.parent / "shared" / "datasets" / "vn-plate-crops"
SCENES = HERE.parent.parent / "shared" / "datasets" / "vn-plate-scenes" / "valid"
SCENE_TEXTS = HERE / "data" / "vn-plate-scenes-valid-text.csv"
#: the longest side of the view the plate detector searches (640 px)
VIEW = PlatesConfig().max_side
RESULTS_JSON = HERE / "results" / "plate_conditions.json"
SECTION = "## Plate reader: camera conditions"
#: a wrong reading at least this sure is one a watchlist alert at the usual thresholds would pass
SURE = 0.7
#: the never-trained-on foreign family the benchmark reads (Czech; see evaluate.FOREIGN_FAMILIES)
FOREIGN_FAMILY = "iwt"

Transform = Callable[[Image, np.random.Generator], Image]


@dataclass(frozen=True)
class Condition:
    name: str
    #: what a camera does to give it
    cause: str
    apply: Transform


def plate_width(px: int, quality: int = 85) -> Transform:
    """The crop shrunk (area averaging) to `px` pixels wide, then JPEG-compressed at `quality`: a far
    plate or a low-resolution stream. Crops already narrower are only compressed."""

    def apply(image: Image, _rng: np.random.Generator) -> Image:
        h, w = image.shape[:2]
        if w > px:
            image = cv2.resize(image, (px, max(6, round(h * px / w))), interpolation=cv2.INTER_AREA)
        return jpeg(quality)(image, _rng)

    return apply


def turned(degrees: float) -> Transform:
    """The crop turned by `degrees` (counter-clockwise) about its centre, the canvas grown to hold it
    and its edges repeated: a leaning plate or a camera's roll, cut by an upright box."""

    def apply(image: Image, _rng: np.random.Generator) -> Image:
        h, w = image.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
        cos, sin = abs(m[0, 0]), abs(m[0, 1])
        size = (int(w * cos + h * sin), int(w * sin + h * cos))
        m[0, 2] += size[0] / 2 - w / 2
        m[1, 2] += size[1] / 2 - h / 2
        return np.asarray(cv2.warpAffine(image, m, size, borderMode=cv2.BORDER_REPLICATE))

    return apply


def smear(image: Image, px: float) -> Image:
    """`image` blurred horizontally over `px` pixels (at least 2): motion during the exposure."""
    n = max(2, round(px))
    kernel = np.full((1, n), 1.0 / n, np.float32)
    return np.asarray(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE))


def motion(share: float) -> Transform:
    """Horizontal motion blur over `share` of the crop's width: a vehicle crossing the view during a
    long exposure."""
    return lambda image, _rng: smear(image, share * image.shape[1])


def defocus(share: float) -> Transform:
    """Gaussian blur with a sigma of `share` of the crop's height: a lens focused elsewhere."""

    def apply(image: Image, _rng: np.random.Generator) -> Image:
        return np.asarray(cv2.GaussianBlur(image, (0, 0), share * image.shape[0]))

    return apply


def jpeg(quality: int) -> Transform:
    """JPEG compression at `quality`: a stream's bit rate."""

    def apply(image: Image, _rng: np.random.Generator) -> Image:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR))

    return apply


def dark(gain: float, noise: float) -> Transform:
    """Under-exposed: light scaled by `gain` on a gamma-2.2 curve, then sensor noise of `noise` grey
    levels (a street at night without infrared)."""

    def apply(image: Image, rng: np.random.Generator) -> Image:
        linear = (image.astype(np.float32) / 255.0) ** 2.2 * gain
        out = linear ** (1 / 2.2) * 255.0 + rng.normal(0.0, noise, image.shape)
        return np.clip(out, 0, 255).astype(np.uint8)

    return apply


CONDITIONS: tuple[Condition, ...] = (
    Condition("as cut", "the crops as they are", lambda image, _rng: image),
    *(
        Condition(f"{px} px wide", "a far plate or a low-resolution stream (JPEG 85)", plate_width(px))
        for px in (100, 70, 55, 45, 35)
    ),
    *(
        Condition(f"turned {d:+d} deg", "a leaning plate or the camera's roll", turned(d))
        for d in (5, -5, 10, -10, 15, -15)
    ),
    Condition("motion 4 %", "a vehicle crossing the view in a long exposure", motion(0.04)),
    Condition("motion 8 %", "the same, faster or longer", motion(0.08)),
    Condition("defocus 2 %", "a lens focused elsewhere", defocus(0.02)),
    Condition("defocus 4 %", "the same, further off", defocus(0.04)),
    Condition("JPEG 20", "a low bit rate", jpeg(20)),
    Condition("JPEG 10", "a very low bit rate", jpeg(10)),
    Condition("dark", "night without infrared: a quarter of the light, noise", dark(0.25, 6.0)),
)


def condition(name: str) -> Condition:
    """The condition called `name` (KeyError naming the known ones)."""
    for c in CONDITIONS:
        if c.name == name:
            return c
    raise KeyError(f"no condition {name!r}; known: {', '.join(c.name for c in CONDITIONS)}")


def seeded(image_name: str, condition_name: str) -> np.random.Generator:
    """The random draws of one condition on one crop, the same on every run."""
    digest = hashlib.sha256(f"{condition_name}\0{image_name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class FrameCondition:
    name: str
    cause: str
    #: the frame degraded, and the factor its size was scaled by (labels are scaled with it)
    apply: Callable[[Image, np.random.Generator], tuple[Image, float]]


def _in_view(px: float, frame: Image) -> float:
    """`px` pixels of the detector's 640-px view in the frame's own pixels."""
    return float(px * max(max(frame.shape[:2]) / VIEW, 1.0))


def stream(longest: int) -> Callable[[Image, np.random.Generator], tuple[Image, float]]:
    """The frame as a stream whose longest side is `longest` pixels (never enlarged), JPEG 85."""

    def apply(frame: Image, rng: np.random.Generator) -> tuple[Image, float]:
        scale = min(1.0, longest / max(frame.shape[:2]))
        if scale < 1.0:
            h, w = frame.shape[:2]
            frame = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        return jpeg(85)(frame, rng), scale

    return apply


def frame_motion(px: float) -> Callable[[Image, np.random.Generator], tuple[Image, float]]:
    """Horizontal motion blur over `px` pixels of the 640-px view."""

    def apply(frame: Image, _rng: np.random.Generator) -> tuple[Image, float]:
        return smear(frame, _in_view(px, frame)), 1.0

    return apply


def frame_defocus(sigma: float) -> Callable[[Image, np.random.Generator], tuple[Image, float]]:
    """Gaussian blur of `sigma` pixels of the 640-px view."""

    def apply(frame: Image, _rng: np.random.Generator) -> tuple[Image, float]:
        return np.asarray(cv2.GaussianBlur(frame, (0, 0), _in_view(sigma, frame))), 1.0

    return apply


def _unscaled(transform: Transform) -> Callable[[Image, np.random.Generator], tuple[Image, float]]:
    return lambda frame, rng: (transform(frame, rng), 1.0)


FRAME_CONDITIONS: tuple[FrameCondition, ...] = (
    FrameCondition("as shot", "the frames as they are", _unscaled(lambda frame, _rng: frame)),
    FrameCondition("480 px stream", "a sub-stream: the frame's longest side 480 px (JPEG 85)", stream(480)),
    FrameCondition("320 px stream", "a smaller sub-stream: 320 px (JPEG 85)", stream(320)),
    FrameCondition("motion 3 px", "vehicles moving in a long exposure (in the 640-px view)", frame_motion(3)),
    FrameCondition("motion 6 px", "the same, faster or longer", frame_motion(6)),
    FrameCondition("defocus 1 px", "a lens focused elsewhere (sigma, in the 640-px view)", frame_defocus(1)),
    FrameCondition("defocus 2 px", "the same, further off", frame_defocus(2)),
    FrameCondition("JPEG 20", "a low bit rate", _unscaled(jpeg(20))),
    FrameCondition("JPEG 10", "a very low bit rate", _unscaled(jpeg(10))),
    FrameCondition(
        "dark", "night without infrared: a quarter of the light, noise", _unscaled(dark(0.25, 6.0))
    ),
)


def frame_condition(name: str) -> FrameCondition:
    """The frame condition called `name` (KeyError naming the known ones)."""
    for c in FRAME_CONDITIONS:
        if c.name == name:
            return c
    raise KeyError(f"no frame condition {name!r}; known: {', '.join(c.name for c in FRAME_CONDITIONS)}")


def measure_frames(
    detector: PlateDetector,
    conditions: Sequence[FrameCondition] = FRAME_CONDITIONS,
    images_dir: Path = SCENES / "images",
    texts: Path = SCENE_TEXTS,
) -> list[dict[str, Any]]:
    """One row per frame condition: recall, precision and end-to-end exact reads (`scenes.evaluate`),
    the detector's boxes mapped back to the frame as shot."""
    labels = scenes.read_labels(texts, images_dir)
    rows = []
    for c in conditions:
        counter = itertools.count()

        def detect(frame: Image, c: FrameCondition = c, counter: Any = counter) -> Detections:
            degraded, scale = c.apply(frame, seeded(str(next(counter)), c.name))
            found = detector(degraded, Detections.empty())
            return dataclasses.replace(found, boxes=found.boxes / np.float32(scale))

        summary = scenes.evaluate(detect, images_dir, labels, labelled_only=True)
        rows.append(
            {
                "condition": c.name,
                "cause": c.cause,
                **{k: summary[k] for k in ("n_plates", "recall", "precision", "n_plates_with_text")},
                "end_to_end_exact": summary["end_to_end_exact"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def crops(crops_dir: Path = CROPS) -> tuple[list[tuple[str, Image, str]], list[tuple[str, Image]]]:
    """The Vietnamese validation crops (name, image, label) and the Czech crops (name, image)."""
    rows = read_labels(crops_dir / "labels.csv", read_label_fixes(LABEL_FIXES))
    vietnamese, foreign = [], []
    for row in rows:
        country = row.extra.get("country", "VN")
        if split_of(row.image, country) == "val":
            vietnamese.append((row.image, load_image(crops_dir / "images" / row.image), row.text))
        elif row.extra.get("family") == FOREIGN_FAMILY:
            foreign.append((row.image, load_image(crops_dir / "images" / row.image)))
    return vietnamese, foreign


def measure(
    reader: PlateReader,
    vietnamese: Sequence[tuple[str, Image, str]],
    foreign: Sequence[tuple[str, Image]],
    conditions: Sequence[Condition] = CONDITIONS,
) -> list[dict[str, Any]]:
    """One row per condition: exact, wrong and sure, foreign read in a Vietnamese format."""
    rows = []
    for c in conditions:
        exact = sure_wrong = 0
        for name, image, text in vietnamese:
            reading = reader.read(c.apply(image, seeded(name, c.name)))
            if reading.normalised == grammar.normalise(text):
                exact += 1
            elif reading.confidence >= SURE:
                sure_wrong += 1
        as_vn = sum(
            reader.read(c.apply(image, seeded(name, c.name))).format == "vn" for name, image in foreign
        )
        rows.append(
            {
                "condition": c.name,
                "cause": c.cause,
                "n": len(vietnamese),
                "exact": exact,
                "exact_match": round(exact / max(1, len(vietnamese)), 4),
                "wrong_and_sure": sure_wrong,
                "foreign_n": len(foreign),
                "foreign_as_vietnamese": as_vn,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def render_markdown(result: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        f"Machine: {result['machine']} (accuracy only, no timing). Models: plate-reader "
        f"{result['reader_version']}, plate-detector {result['detector_version']} as the second look's "
        f"locator. Command: `python -m matthan.benchmarks.plate_conditions`. Measured {result['date']}.",
        "",
        f"The {result['rows'][0]['n']} validation crops of vn-plate-crops (never trained on) and its "
        f"{result['rows'][0]['foreign_n']} Czech crops (never trained on), each degraded as a camera "
        "would, one condition at a time (seeded: the same crops every run), and read as `matthan plates "
        f'read` reads. "Wrong, sure": read wrongly with confidence >= {SURE}.',
        "",
        "| condition | as a camera gives it | read exactly | wrong, sure | Czech read as Vietnamese |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['condition']} | {r['cause']} | {r['exact_match']:.3f} ({r['exact']}) | "
            f"{r['wrong_and_sure']} | {r['foreign_as_vietnamese']} of {r['foreign_n']} |"
        )
    frames = result.get("frames")
    if frames:
        lines += [
            "",
            "Detect -> read, as the agent runs it (default `PlatesConfig`), on the frames of the "
            "vn-plate-scenes validation split degraded one way at a time: recall at IoU 0.5 of its "
            f"{frames[0]['n_plates']} labelled plates, end to end exact on the "
            f"{frames[0]['n_plates_with_text']} read by eye "
            "(`benchmarks/data/vn-plate-scenes-valid-text.csv`). Blur is given in pixels of the 640-px view "
            "the detector searches; a stream's boxes are scaled back to the frame as shot.",
            "",
            "| condition | as a camera gives it | recall | precision | end to end |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['condition']} | {r['cause']} | {r['recall']:.3f} | {r['precision']:.3f} | "
            f"{r['end_to_end_exact']:.3f} |"
            for r in frames
        ]
    return "\n".join(lines) + "\n"


def _version(path: Path | None) -> str:
    """A model's version: the name of the folder its file is in (models/NAME/VERSION/model.onnx)."""
    return path.parent.name if path is not None else "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crops", type=Path, default=CROPS, help="the vn-plate-crops folder")
    parser.add_argument("--only", nargs="*", help="crop condition names (default: all)")
    parser.add_argument("--no-frames", action="store_true", help="crops only: no detect -> read on frames")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not (args.crops / "labels.csv").is_file():
        raise SystemExit(f"{args.crops}: no labels.csv (the vn-plate-crops dataset is expected there)")
    conditions = [condition(n) for n in args.only] if args.only else list(CONDITIONS)
    reader = crop_reader()
    if not isinstance(reader.locator, PlateLocator):
        raise SystemExit("the plate detector's model is missing: the second look would not run")
    vietnamese, foreign = crops(args.crops)
    result: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": cpu_model(),
        "reader_version": _version(reader.model_path),
        "detector_version": _version(reader.locator.detector.model_path),
        "sure": SURE,
        "rows": measure(reader, vietnamese, foreign, conditions),
    }
    if not args.no_frames:
        if not (SCENES / "images").is_dir():
            raise SystemExit(f"{SCENES}: no images (the vn-plate-scenes dataset is expected there)")
        detector = PlateDetector(PlatesConfig())
        detector.load()
        result["frames"] = measure_frames(detector)
    if args.only or args.no_frames:
        print("(--only / --no-frames: RESULTS.md and the JSON are not written)")
        return 0
    write_json(RESULTS_JSON.stem, result)
    markdown = render_markdown(result)
    write_section(SECTION, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
