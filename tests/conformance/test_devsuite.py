"""The development suite: generated from synthetic clips and the shared face photos, and passed by
our own agent through `matthan conformance run --sut reference` (with whatever recognisers this
install has: plate requirements are stated only when the plate models are installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matthan.benchmarks.conformance.devsuite import DEEPFACE, YUNET
from matthan.benchmarks.conformance.suite import load_suite
from matthan.edge.cli import main
from tests.recognizers.faces.conftest import model_store, store_root, yunet_store

__all__ = ["model_store", "store_root", "yunet_store"]  # session fixtures installing both face models

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("gstreamer")]


def test_the_reference_agent_passes_the_dev_suite(
    tmp_path: Path, model_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (DEEPFACE.is_dir() and YUNET.is_file()):
        pytest.skip(f"needs {DEEPFACE} and {YUNET} (the shared data folder beside the repository)")
    monkeypatch.setenv("MATTHAN_MODEL_STORE", str(model_store))
    suite_dir = tmp_path / "dev"
    assert main(["conformance", "make-dev-suite", str(suite_dir)]) == 0
    suite = load_suite(suite_dir)
    assert {c.id for c in suite.manifest.clips} == {"day", "night", "day-interrupted", "faces"}
    assert any(c.interruption for c in suite.manifest.clips)
    faces = suite.truths["faces"].faces
    assert {f.identity for f in faces} >= {"person-1", "person-2", "unknown"}
    plates = [p for t in suite.truths.values() for p in t.plates]
    assert {p.rows for p in plates} == {1, 2} and len({p.colour for p in plates}) >= 2
    capsys.readouterr()

    out = tmp_path / "report"
    code = main(["conformance", "run", "--suite", str(suite_dir), "--sut", "reference", "--out", str(out)])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and line["passed"], json.dumps(line, indent=1)
    assert line["requirements"]["face_hit_rate"]["value"] >= 0.66
    assert line["requirements"]["face_false_match_rate"]["value"] == 0.0
    assert line["requirements"]["recovery_time_s"]["passed"]
    report = json.loads((out / "report.json").read_text())
    assert report["system_under_test"]["enrolled"]["person-1"] >= 1
    assert report["suite"]["sha256"] == line["suite_sha256"]
