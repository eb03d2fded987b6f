"""Snapshots: faces on no watchlist are blurred before they leave the agent; matched ones are not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from matthan.edge.agent import Agent
from matthan.edge.config import parse_config
from matthan.edge.sightings import Decision
from matthan.recognizers.base import CLASS_FACE, CLASS_PLATE
from tests.conftest import shared_path


def detail(image: npt.NDArray[np.uint8]) -> float:
    return float(np.var(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F)))


@pytest.fixture
def face_crop() -> npt.NDArray[np.uint8]:
    photo = cv2.imread(str(shared_path("datasets/faces/deepface-pairs/images/img1.jpg")))
    assert photo is not None
    return np.ascontiguousarray(photo[200:1020, 415:1025])  # the face in that photo


def decision(crop: npt.NDArray[np.uint8], class_id: int, person: str | None) -> Decision:
    fields = {"person": person} if class_id == CLASS_FACE else {"normalised": "30A12345"}
    return Decision(1, class_id, fields, np.array([0, 0, 10, 10], np.float32), 0.9, 0.0, False, crop)


@pytest.mark.parametrize(
    ("class_id", "person", "blur_setting", "blurred"),
    [
        (CLASS_FACE, None, True, True),
        (CLASS_FACE, "unknown", True, True),
        (CLASS_FACE, "p7", True, False),
        (CLASS_FACE, None, False, False),
        (CLASS_PLATE, None, True, False),
    ],
)
def test_unmatched_faces_are_blurred_in_snapshots(
    tmp_path: Path,
    face_crop: npt.NDArray[np.uint8],
    class_id: int,
    person: str | None,
    blur_setting: bool,
    blurred: bool,
) -> None:
    config = parse_config(
        {
            "data_dir": str(tmp_path),
            "kafka": {"bootstrap_servers": "127.0.0.1:1"},
            "storage": {"blur_unmatched_faces": blur_setting},
            "cameras": [{"id": "c", "url": "rtsp://127.0.0.1:1/x"}],
        }
    )
    agent = Agent(config)
    snap = agent.snapshot("c", "e1", decision(face_crop, class_id, person))
    assert snap is not None
    saved = cv2.imread(snap["url"].removeprefix("file://"))
    assert saved is not None and saved.shape == face_crop.shape
    ratio = detail(saved) / detail(face_crop)
    assert (ratio < 0.05) if blurred else (ratio > 0.5), ratio
    agent.spool.close()


def test_over_quota_snapshots_go_first_and_events_are_kept(
    tmp_path: Path, face_crop: npt.NDArray[np.uint8], caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(
        {
            "data_dir": str(tmp_path),
            "kafka": {"bootstrap_servers": "127.0.0.1:1"},
            "storage": {"quota_mb": 0.5},
            "cameras": [{"id": "c", "url": "rtsp://127.0.0.1:1/x"}],
        }
    )
    agent = Agent(config)
    for i in range(12):  # about 1 MB of sharp plate-sized snapshots
        agent.snapshot("c", f"e{i}", decision(face_crop, CLASS_PLATE, None))
    for _ in range(5):
        agent.heartbeat()
    events_before = agent.spool.depth()
    agent.enforce_quota()
    assert agent.spool.size_bytes() + agent.snapshots.size_bytes() <= 0.5 * 2**20
    assert agent.spool.depth() == events_before, "events are never dropped"
    left = sorted(p.name for p in (tmp_path / "snapshots" / "c").glob("*.jpg"))
    assert 0 < len(left) < 12
    assert "over its" in caplog.text

    # a quota smaller than the events alone raises the alarm and keeps every event
    tiny = Agent(
        config.model_copy(update={"storage": config.storage.model_copy(update={"quota_mb": 0.0001})})
    )
    tiny.enforce_quota()
    assert "ALARM" in caplog.text
    assert tiny.spool.depth() == events_before
    agent.spool.close()
    tiny.spool.close()
