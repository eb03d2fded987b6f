"""A second opinion on the plate-crop labels: the crops whose label RapidOCR reads otherwise.

    python -m matthan.benchmarks.label_audit [--split train|val|all] [--out var/label-audit.csv]

Our reader fits every training crop, so a wrong training label never shows as a reading error: the
network learns it (a `6409` labelled `6079` is read `6079` on another photo of that plate). An
independent reader does not share those mistakes. Each crop of ``../shared/datasets/vn-plate-crops``
(our label fixes applied) is read row by row by RapidOCR's recogniser (PP-OCRv4, the `bench` extra):
a two-row crop is cut at its brightest pixel row between 35 % and 65 % of its height, and each half
is recognised without text detection (about 30 ms a row). Where the reading differs from the label
on the ``[A-Z0-9]`` form, the crop is listed, substitutions first (rows of equal length that differ,
which is what a mislabelled digit looks like; RapidOCR dropping or adding a character is mostly its
own error).

A listed crop is not a wrong label: RapidOCR misreads too (87 % exact on these plates). The list is
for a person to look at the crops; what they find goes into ``recognizers/plates/label_fixes.csv``
with a reason. The audit of 2026-12-04 found 36 wrong labels this way (`label_fixes.csv`).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from matthan.recognizers.plates.evaluate import LabelRow, read_label_fixes, read_labels, split_of
from matthan.recognizers.plates.reader import Image
from matthan.recognizers.plates.scenes import normalise_text

HERE = Path(__file__).resolve().parent
CROPS = HERE.parent.parent / "shared" / "datasets" / "vn-plate-crops"
#: a two-row crop is cut between its rows at the brightest pixel row within this band of its height
CUT_BAND = (0.35, 0.65)
#: pixel rows each half keeps beyond the cut (a character touching the cut stays whole)
CUT_OVERLAP = 2

ReadRow = Callable[[Image], str]


@dataclass(frozen=True)
class Finding:
    image: str
    split: str
    label: tuple[str, ...]
    reading: tuple[str, ...]
    #: "substitution" (rows of equal lengths differ) or "length" (a row's length differs)
    kind: str


def split_rows(image: Image, rows: int) -> list[Image]:
    """The crop itself (one row), or its top and bottom halves cut at the brightest pixel row."""
    if rows < 2:
        return [image]
    h = image.shape[0]
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    lo, hi = int(h * CUT_BAND[0]), int(h * CUT_BAND[1])
    if hi <= lo:
        return [image[: h // 2 + CUT_OVERLAP], image[max(h // 2 - CUT_OVERLAP, 0) :]]
    profile = grey.astype(np.float64).mean(axis=1)[lo:hi]
    # the middle of the run of brightest rows (a clean gap between the rows is several pixels tall)
    first = int(np.argmax(profile))
    last = first
    while last + 1 < len(profile) and profile[last + 1] >= profile[first] - 1.0:
        last += 1
    cut = lo + (first + last) // 2
    return [image[: cut + CUT_OVERLAP], image[max(cut - CUT_OVERLAP, 0) :]]


def compare(label: Sequence[str], reading: Sequence[str]) -> str | None:
    """None when the reading agrees with the label row by row, else the kind of disagreement."""
    pairs = [(a, b) for a, b in zip(label, reading, strict=False) if a != b]
    if not pairs and len(label) == len(reading):
        return None
    if len(label) == len(reading) and all(len(a) == len(b) for a, b in pairs):
        return "substitution"
    return "length"


def audit(rows: Sequence[LabelRow], images: Path, read_row: ReadRow) -> list[Finding]:
    """The crops (of `rows`, under `images`) that `read_row` reads otherwise than their labels."""
    found = []
    for row in rows:
        image = cv2.imread(str(images / row.image))
        if image is None:
            continue
        label = tuple(normalise_text(r) for r in row.text.split("\n"))
        reading = tuple(normalise_text(read_row(part)) for part in split_rows(image, len(label)))
        kind = compare(label, reading)
        if kind is not None:
            found.append(Finding(row.image, split_of(row.image), label, reading, kind))
    found.sort(key=lambda f: (f.kind != "substitution", f.image))
    return found


def rapidocr_row_reader() -> ReadRow:
    """RapidOCR's recogniser alone (no text detection, no angle classifier), one thread."""
    module = importlib.import_module("rapidocr_onnxruntime")
    engine = module.RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def read(image: Image) -> str:
        result, _ = engine(image, use_det=False, use_cls=False, use_rec=True)
        return str(result[0][0]) if result else ""

    return read


def write_csv(findings: Sequence[Finding], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "split", "kind", "label", "rapidocr"])
        for f in findings:
            w.writerow([f.image, f.split, f.kind, "/".join(f.label), "/".join(f.reading)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=Path, default=CROPS)
    parser.add_argument("--split", choices=("train", "val", "all"), default="all")
    parser.add_argument("--out", type=Path, default=Path("var") / "label-audit.csv")
    args = parser.parse_args(argv)
    labels = args.crops / "labels.csv"
    if not labels.is_file():
        print(f"error: no labels at {labels}", file=sys.stderr)
        return 2
    try:
        read_row = rapidocr_row_reader()
    except ImportError:
        print("error: RapidOCR is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    splits = {"train", "val"} if args.split == "all" else {args.split}
    fixed = read_labels(labels, read_label_fixes())
    rows = [r for r in fixed if split_of(r.image, r.extra.get("country", "VN")) in splits]
    findings = audit(rows, args.crops / "images", read_row)
    write_csv(findings, args.out)
    subs = sum(f.kind == "substitution" for f in findings)
    print(f"{len(rows)} crops, {len(findings)} read otherwise ({subs} substitutions): {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
