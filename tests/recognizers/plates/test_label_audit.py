"""The label audit: rows cut between the text rows, disagreements classified, crops listed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from matthan.benchmarks import label_audit
from matthan.recognizers.plates.evaluate import LabelRow


def two_row_crop(gap_at: int, h: int = 100, w: int = 140) -> np.ndarray:
    """White crop with dark text bands above and below a white gap centred at `gap_at`."""
    img = np.full((h, w, 3), 255, np.uint8)
    img[5 : gap_at - 4, 10:-10] = 30
    img[gap_at + 4 : h - 5, 10:-10] = 30
    return img


@pytest.mark.parametrize("gap_at", [40, 50, 60])
def test_split_rows_cuts_in_the_gap_between_the_text_rows(gap_at: int) -> None:
    img = two_row_crop(gap_at)
    top, bottom = label_audit.split_rows(img, 2)
    cut = top.shape[0] - label_audit.CUT_OVERLAP
    assert gap_at - 4 <= cut < gap_at + 4
    assert top.shape[0] + bottom.shape[0] == img.shape[0] + 2 * label_audit.CUT_OVERLAP
    # each half holds one whole text band
    assert (top[:, 20, 0] == 30).sum() == gap_at - 9
    assert (bottom[:, 20, 0] == 30).sum() == img.shape[0] - 5 - gap_at - 4


def test_split_rows_keeps_a_one_row_crop_whole() -> None:
    img = two_row_crop(50)
    (whole,) = label_audit.split_rows(img, 1)
    assert whole is img


@pytest.mark.parametrize(
    ("label", "reading", "kind"),
    [
        (("54N5", "6409"), ("54N5", "6409"), None),
        (("54N5", "6079"), ("54N5", "6409"), "substitution"),
        (("59H7", "43986"), ("59H1", "43986"), "substitution"),
        (("59C7", "05899"), ("59C", "05899"), "length"),
        (("30E99999",), ("30E999",), "length"),
        (("29D", "42271"), ("29D",), "length"),
    ],
)
def test_compare_classifies_disagreements(
    label: tuple[str, ...], reading: tuple[str, ...], kind: str | None
) -> None:
    assert label_audit.compare(label, reading) == kind


def test_audit_lists_the_crops_read_otherwise_substitutions_first(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    readings = {}
    rows = []
    for name, label, read in [
        ("a.png", "54-N5\n6079", ("54-N5", "6409")),
        ("b.png", "59-C1\n058.99", ("59-C", "058.99")),
        ("c.png", "30E-999.99", ("30E-999.99",)),
        ("d.png", "29-H1\n439.86", ("29-H1", "439.86")),
    ]:
        img = two_row_crop(50)
        img[0, 0] = len(rows)  # the fake reader knows a top half (or a whole crop) by this pixel
        img[-1, 0] = 100 + len(rows)  # and a bottom half by this one
        cv2.imwrite(str(images / name), img)
        readings[len(rows)] = read
        rows.append(LabelRow(name, label))

    def read_row(part: np.ndarray) -> str:
        if part[0, 0, 0] < 10:
            return readings[int(part[0, 0, 0])][0]
        return readings[int(part[-1, 0, 0]) - 100][1]

    rows.append(LabelRow("missing.png", "29-H1\n439.86"))
    found = label_audit.audit(rows, images, read_row)
    assert [(f.image, f.kind) for f in found] == [("a.png", "substitution"), ("b.png", "length")]
    assert found[0].label == ("54N5", "6079") and found[0].reading == ("54N5", "6409")

    out = tmp_path / "audit.csv"
    label_audit.write_csv(found, out)
    lines = out.read_text().splitlines()
    assert lines[0] == "image,split,kind,label,rapidocr"
    assert lines[1].startswith("a.png,") and lines[1].endswith(",substitution,54N5/6079,54N5/6409")


def test_main_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert label_audit.main(["--crops", str(tmp_path)]) == 2
    assert "no labels at" in capsys.readouterr().err
