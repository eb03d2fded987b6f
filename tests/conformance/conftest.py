"""Conformance fixtures: a tiny suite of bar clips (a distinct "plate" per bar, exact truth), written
in the documented format, and the bar recogniser registered as a backend for the reference agent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from matthan.benchmarks.conformance.devsuite import write_h264
from matthan.benchmarks.conformance.suite import (
    Clip,
    ClipTruthFile,
    Interruption,
    Keyframe,
    Manifest,
    Matching,
    PlateTrack,
    RunSettings,
    Threshold,
    write_manifest,
    write_truth,
)
from matthan.edge import config as config_module
from tests.fixtures.bar_recognizer import BAR_GREEN_STEP

FPS, SIZE, SECONDS = 25, (320, 240), 11.0
#: (plate number k, first_s, last_s): bar k sweeps left to right during [first_s, last_s]
BARS = ((1, 3.0, 5.0), (2, 5.5, 7.5), (3, 8.0, 10.0))


BAR_W = 40


def bar_x(t: float, first_s: float, last_s: float) -> int:
    """Slow enough (50 px/s) for the tracker to follow the bar at 5 analysed frames per second."""
    return int(100 + 50 * (t - first_s))


def bar_frames() -> Iterator[np.ndarray]:
    width, height = SIZE
    for i in range(int(SECONDS * FPS)):
        t = i / FPS
        img = np.full((height, width, 3), 40, np.uint8)
        for k, first, last in BARS:
            if first <= t <= last:
                x = bar_x(t, first, last)
                img[:, x : x + BAR_W] = (0, BAR_GREEN_STEP * k, 255)
        yield img


def bar_truth() -> ClipTruthFile:
    plates = []
    for k, first, last in BARS:
        keys = [
            Keyframe(
                t=t, box=(bar_x(t, first, last), SIZE[1] * 0.4, bar_x(t, first, last) + BAR_W, SIZE[1] * 0.6)
            )
            for t in np.arange(first, last + 1e-6, 0.5).round(2).tolist()
        ]
        plates.append(PlateTrack(text=f"BARS{k}", first_s=first, last_s=last, rows=1, keyframes=keys))
    return ClipTruthFile(plates=plates)


def write_bar_suite(root: Path, requirements: dict[str, Threshold] | None = None) -> Path:
    """Two cameras on the same bar clip; the second one's stream goes away at 3 s for 2 s."""
    write_h264(root / "clips" / "bars.mp4", bar_frames(), FPS, SIZE)
    write_truth(root / "truth" / "bars.json", bar_truth())
    clips = [
        Clip(id="bars", file="clips/bars.mp4", truth="truth/bars.json", duration_s=SECONDS),
        Clip(
            id="bars-gap",
            file="clips/bars.mp4",
            truth="truth/bars.json",
            duration_s=SECONDS,
            interruption=Interruption(at_s=3.0, duration_s=2.0),
        ),
    ]
    manifest = Manifest(
        name="bars",
        clips=clips,
        matching=Matching(time_tolerance_s=1.5),
        run=RunSettings(warmup_s=2.5, tail_s=1.0, drain_s=3.0),
        requirements=requirements
        or {
            "plate_read_rate": Threshold(min=0.9),
            "plate_false_read_rate": Threshold(max=0.0),
            "plate_duplicate_rate": Threshold(max=1.5),
            "latency_p95_s": Threshold(max=5.0),
            "schema_validity": Threshold(min=1.0),
            "recovery_time_s": Threshold(max=6.0),
        },
    )
    write_manifest(root, manifest)
    return root


@pytest.fixture(scope="session")
def bar_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bar_suite(tmp_path_factory.mktemp("bar-suite"))


@pytest.fixture
def bars_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        config_module.BACKENDS, "bars", "tests.fixtures.bar_recognizer:BarsConfig:BarDetector"
    )
