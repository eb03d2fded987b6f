"""Verification accuracy floors (with margin under what we measured) and the metric arithmetic."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
import pytest

from matthan.edge.cli import main
from matthan.recognizers.faces.evaluate import (
    EvalInputError,
    equal_error_rate,
    identity_pairs,
    read_pairs,
    roc_auc,
    threshold_at_far,
    write_pairs,
)


def _verify(pairs: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    assert main(["eval", "faces-verify", "--pairs", str(pairs), "--images", str(images)]) == 0
    result: dict[str, float] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return result


def test_deepface_pairs(models: Path, deepface: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Target AUC >= 0.99; we measured 1.000 (master, 300 pairs) and 0.9999 (pivot, 280 pairs)."""
    master = _verify(deepface / "pairs_master.csv", deepface / "images", capsys)
    assert master["pairs"] == 300 and master["images_without_face"] == 0
    assert master["auc"] >= 0.99
    assert master["eer"] <= 0.03
    pivot = _verify(deepface / "pairs_pivot_with_scores.csv", deepface / "images", capsys)
    assert pivot["pairs"] == 280 and pivot["auc"] >= 0.99
    assert master["latency_ms_per_embedding"] > 0


def test_orl_identity_pairs(
    models: Path, orl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On 15 of ORL's 40 people (all 10,725 pairs) TAR@FAR 1e-3 is ~0.98 (0.983 on all 40)."""
    people = {f"s{i}" for i in range(1, 16)}
    pairs = [p for p in identity_pairs(orl) if p[0].split("/")[0] in people and p[1].split("/")[0] in people]
    result = _verify(write_pairs(pairs, tmp_path / "orl.csv"), orl, capsys)
    assert result["genuine_pairs"] == 15 * 45
    assert result["auc"] >= 0.99
    assert result["tar_at_far_1e-3"] >= 0.9


def test_metrics_on_known_scores() -> None:
    genuine = np.array([0.1, 0.2, 0.3, 0.7], np.float32)
    impostor = np.array([0.5, 0.6, 0.8, 0.9], np.float32)
    assert roc_auc(genuine, impostor) == pytest.approx(14 / 16)
    assert roc_auc(np.array([0.5]), np.array([0.5])) == pytest.approx(0.5)
    assert threshold_at_far(impostor, 0.0) < 0.5
    assert 0.6 <= threshold_at_far(impostor, 0.5) < 0.8
    assert equal_error_rate(genuine, impostor) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("text", "expectation"),
    [
        ("file_x,file_y,same\na,b,1\na,c,0\n", nullcontext([("a", "b", True), ("a", "c", False)])),
        ("file_x,file_y,Decision\na,b,Yes \na,c, No\n", nullcontext([("a", "b", True), ("a", "c", False)])),
        ("file_x,file_y\na,b\n", pytest.raises(EvalInputError, match="needs columns")),
        ("file_x,file_y,same\na,b,maybe\n", pytest.raises(EvalInputError, match=":2: same must be")),
        ("file_x,file_y,same\n", pytest.raises(EvalInputError, match="no pairs")),
    ],
)
def test_read_pairs(tmp_path: Path, text: str, expectation: AbstractContextManager[object]) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    with expectation as expected:
        assert read_pairs(path) == expected


def test_verify_needs_both_kinds_of_pairs(
    models: Path, deepface: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = write_pairs([("img1.jpg", "img2.jpg", True)], tmp_path / "p.csv")
    argv = ["eval", "faces-verify", "--pairs", str(pairs), "--images", str(deepface / "images")]
    assert main(argv) == 2
    assert "both genuine" in capsys.readouterr().err
