"""`matthan bench … --record`: each recorded run keeps the machine's speed beside its latencies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from matthan.benchmarks import cli, common


def test_recorded_runs_carry_the_speed_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Benchmark results\n\n## Faces\n\nkept as it is\n")
    write_section = common.write_section

    def to_tmp(section: str, text: str, results: Path = results_md) -> None:
        write_section(section, text, results)

    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(common, "write_section", to_tmp)
    monkeypatch.setattr(common, "speed_reference_ms", lambda repeats=3: 46.04)
    run: dict[str, Any] = {"benchmark": "pipeline", "machine": "AMD EPYC", "capture_to_ack_ms_p95": 82.1}
    cli.record("pipeline", "street", run)
    cli.record("pipeline", "older", {**run, "capture_to_ack_ms_p95": 40.0})
    saved = json.loads((tmp_path / "results" / "pipeline.json").read_text())
    assert saved["street"]["speed_reference_ms"] == 46.0 and saved["street"]["capture_to_ack_ms_p95"] == 82.1
    text = results_md.read_text()
    assert "kept as it is" in text and "## Edge agent: pipeline" in text
    header = next(line for line in text.splitlines() if line.startswith("| run |"))
    assert "speed_reference_ms" in header
    assert sum(1 for line in text.splitlines() if line.startswith("| street (")) == 1
