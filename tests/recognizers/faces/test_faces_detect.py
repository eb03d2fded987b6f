"""YuNet decoding, NMS, and detection accuracy on dlib's hand-labelled example photos."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import cv2
import numpy as np
import pytest

from matthan.edge.cli import main
from matthan.models import resolve
from matthan.recognizers.faces.boxes import iou_matrix, nms
from matthan.recognizers.faces.evaluate import (
    EvalInputError,
    dlib_xml_to_rows,
    match_boxes,
    read_box_labels,
    square_boxes,
    write_box_labels,
)
from matthan.recognizers.faces.yunet import YuNetDetector


@pytest.mark.parametrize(
    ("boxes", "scores", "threshold", "kept"),
    [
        ([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], [0.9, 0.8, 0.7], 0.3, [0, 2]),
        ([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], [0.7, 0.8, 0.9], 0.3, [2, 1]),
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.5, [0, 1]),  # IoU 1/3 <= 0.5: both kept
        ([[0, 0, 10, 10]], [0.1], 0.3, [0]),
        (np.zeros((0, 4)), [], 0.3, []),
    ],
)
def test_nms(boxes: list[list[float]], scores: list[float], threshold: float, kept: list[int]) -> None:
    out = nms(np.asarray(boxes, np.float32), np.asarray(scores, np.float32), threshold)
    assert out.tolist() == kept


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert np.allclose(iou_matrix(a, b), [[1.0, 1 / 3, 0.0], [0.0, 0.0, 0.0]])


def test_greedy_matching_counts_each_label_once() -> None:
    labels = np.array([[0, 0, 10, 10]], np.float32)
    dets = np.array([[0, 0, 10, 10], [0, 0, 10, 11]], np.float32)
    assert match_boxes(dets, np.array([0.5, 0.9], np.float32), labels) == (1, 1, [])
    assert match_boxes(dets[:0], np.zeros(0, np.float32), labels) == (0, 0, [0])


def test_square_boxes_keep_centre_and_area() -> None:
    sq = square_boxes(np.array([[0, 0, 40, 90]], np.float32))
    assert np.allclose(sq, [[-10, 15, 50, 75]])


def test_decoding_matches_opencv_reference(detector_models: Path, deepface: Path) -> None:
    """Our numpy decode + NMS gives OpenCV's FaceDetectorYN result for the same model."""
    model = resolve("yunet", "-").path
    image = cv2.imread(str(deepface / "images" / "couple.jpg"))
    ours = YuNetDetector(model, score_threshold=0.6, nms_threshold=0.3).detect(image)
    ref = cv2.FaceDetectorYN.create(str(model), "", (image.shape[1], image.shape[0]), 0.6, 0.3, 5000)
    _, faces = ref.detect(image)
    assert faces is not None and len(faces) == len(ours) >= 2
    faces = faces[np.argsort(-faces[:, -1])]
    assert np.allclose(ours.boxes, np.c_[faces[:, :2], faces[:, :2] + faces[:, 2:4]], atol=0.05)
    assert np.allclose(ours.landmarks.reshape(-1, 10), faces[:, 4:14], atol=0.05)
    assert np.allclose(ours.scores, faces[:, -1], atol=1e-4)


def test_downscaled_detection_maps_back_to_frame(detector_models: Path, deepface: Path) -> None:
    """A 1382×1868 portrait: its 500 px face is beyond YuNet's largest anchors at full size (score
    0.78, box cut at the forehead), so frames are downscaled to `max_side` before detection."""
    image = cv2.imread(str(deepface / "images" / "img1.jpg"))
    model = resolve("yunet", "-").path
    found = [YuNetDetector(model, max_side=side).detect(image) for side in (640, 320)]
    assert [len(f) for f in found] == [1, 1]
    assert iou_matrix(found[0].boxes, found[1].boxes)[0, 0] > 0.85
    assert min(f.scores[0] for f in found) > 0.9
    assert found[0].boxes[0, 1] < 250  # the forehead is inside the box


def test_no_face_in_a_faceless_image(detector_models: Path, no_face_image: Path) -> None:
    found = YuNetDetector(resolve("yunet", "-").path).detect(cv2.imread(str(no_face_image)))
    assert len(found) == 0


@pytest.fixture
def dlib_labels(dlib_examples: Path, tmp_path: Path) -> Path:
    """dlib's XML labels (training + testing: 9 photos, 43 faces) as our CSV."""
    rows = dlib_xml_to_rows(dlib_examples / "training.xml") + dlib_xml_to_rows(dlib_examples / "testing.xml")
    assert len(rows) == 43
    return write_box_labels(rows, tmp_path / "dlib.csv")


def _last_json(out: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def test_finds_all_dlib_example_faces(
    detector_models: Path, dlib_examples: Path, dlib_labels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Target: all 43 faces with <= 2 false positives. dlib's labels are squares around the
    features, so the detector's taller boxes are compared as squares of equal centre and area."""
    args = ["eval", "face-detect", "--images", str(dlib_examples), "--labels", str(dlib_labels)]
    assert main([*args, "--box-style", "square"]) == 0
    square = _last_json(capsys.readouterr().out)
    assert square["faces"] == 43
    assert square["true_positives"] == 43
    assert isinstance(square["false_positives"], int) and square["false_positives"] <= 2
    # as the detector draws them, one face's box overlaps its label by only 0.49
    assert main(args) == 0
    raw = _last_json(capsys.readouterr().out)
    assert isinstance(raw["recall"], float) and raw["recall"] >= 0.95
    assert isinstance(raw["precision"], float) and raw["precision"] >= 0.95
    assert "latency_ms_per_image" in raw


def test_face_detect_reads_dlib_xml_directly(
    detector_models: Path, dlib_examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "eval",
        "face-detect",
        "--images",
        str(dlib_examples),
        "--labels",
        str(dlib_examples / "testing.xml"),
    ]
    assert main([*argv, "--box-style", "square"]) == 0
    assert _last_json(capsys.readouterr().out)["faces"] == 25


@pytest.mark.parametrize(
    ("text", "expectation"),
    [
        ("image,x1,y1,x2,y2\na.jpg,1,2,3,4\na.jpg,5,6,7,8\n", nullcontext(2)),
        ("a.jpg,1,2,3,4\n", nullcontext(1)),
        ("image,x1,y1,x2,y2\na.jpg,1,2,3\n", pytest.raises(EvalInputError, match="expected image,x1")),
        ("image,x1,y1,x2,y2\na.jpg,1,2,x,4\n", pytest.raises(EvalInputError, match=":2:")),
        ("image,x1,y1,x2,y2\n", pytest.raises(EvalInputError, match="no labelled boxes")),
    ],
)
def test_read_box_labels(tmp_path: Path, text: str, expectation: AbstractContextManager[object]) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with expectation as expected:
        labels = read_box_labels(path)
        assert len(labels["a.jpg"]) == expected


def test_face_detect_errors_are_one_line(
    detector_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("image,x1,y1,x2,y2\nmissing.jpg,1,2,3,4\n")
    assert main(["eval", "face-detect", "--images", str(tmp_path), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.jpg: no such file" in err
    assert main(["eval", "face-detect", "--images", str(tmp_path), "--labels", str(tmp_path / "x.csv")]) == 2
    assert "x.csv: no such file" in capsys.readouterr().err
