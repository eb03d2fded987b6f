"""The plate detector: ONNX contract, numpy post-processing, bad input, blank frames, accuracy floor."""

from __future__ import annotations

import csv
import json
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from matthan.edge.cli import main
from matthan.models import ModelMissingError, resolve
from matthan.recognizers.base import CLASS_PLATE, Detections, Recognizer, RecognizerError
from matthan.recognizers.onnx import make_session
from matthan.recognizers.plates import scenes
from matthan.recognizers.plates.detector import (
    FINE_BOX_BELOW,
    FIX_COMMAND,
    MODEL_NAME,
    MORE_VIEWS,
    READER_FIELDS,
    STRIDE,
    PlateBoxes,
    PlateDetector,
    PlatesConfig,
    ReaderAdapter,
    box_crop,
    decode,
    letterbox,
    load_default_reader,
    nms,
    order_corners,
    rectify,
    vote,
)
from tests.conftest import NetworkAttempts, shared_path

#: Recall on the labelled plates of vn-plate-scenes/valid (never trained on) must stay above this.
#: Measured at the default score 0.4 and the half-size pass, model 1.1.0: all 0.978, carlong_ 0.996,
#: Tgmt_ 0.986, Dieu_ 0.986, Hung_ 0.938 (1.0.0 and 1.0.1: 0.980, 1.0, 0.995, 0.981, 0.933); each
#: floor leaves a margin of 3-5 points.
RECALL_FLOOR = {"": 0.94, "carlong_": 0.97, "Tgmt_": 0.94, "Dieu_": 0.94, "Hung_": 0.88}


@pytest.fixture(scope="module")
def detector() -> PlateDetector:
    det = PlateDetector(PlatesConfig(read=False))
    det.load()
    return det


def _frame_with_plate(seed: int = 0) -> tuple[np.ndarray[Any, Any], tuple[float, float, float, float]]:
    """A real-looking frame: a plain white plate with dark characters on a grey textured background."""
    rng = np.random.default_rng(seed)
    frame = np.clip(rng.normal(90, 12, (360, 480, 3)), 0, 255).astype(np.uint8)
    x1, y1, x2, y2 = 180, 200, 300, 228
    cv2.rectangle(frame, (x1, y1), (x2, y2), (235, 235, 235), -1)
    cv2.rectangle(frame, (x1, y1), (x2, y2), (30, 30, 30), 2)
    cv2.putText(frame, "51F-356.13", (x1 + 6, y2 - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 2)
    return frame, (x1, y1, x2, y2)


# ------------------------------------------------------------------------------ ONNX contract
def test_model_is_registered_with_hash_and_small() -> None:
    entry = resolve(MODEL_NAME, FIX_COMMAND)  # checks the sha256
    assert entry.path.stat().st_size <= 12 * 1024 * 1024
    assert entry.meta["input"]["name"] == "image"
    assert "CC BY 4.0" in entry.meta["data"]
    assert (entry.path.parent / "card.md").is_file()


def test_onnx_contract() -> None:
    """Input `image` (N, 3, H, W) BGR 0-255 with any H, W multiple of 32; output (N, 14, H/4, W/4)."""
    session = make_session(resolve(MODEL_NAME, FIX_COMMAND).path)
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert inp.name == "image" and out.name == "maps"
    assert inp.shape[1] == 3 and out.shape[1] == 14
    for h, w in ((480, 640), (256, 352)):
        x = np.full((1, 3, h, w), 114, np.float32)
        (maps,) = session.run(None, {"image": x})
        assert maps.shape == (1, 14, h // STRIDE, w // STRIDE)
        assert np.all((maps[:, :2] >= 0) & (maps[:, :2] <= 1)), "score channels are probabilities"


def test_is_a_recognizer() -> None:
    assert isinstance(PlateDetector(), Recognizer)
    assert PlateDetector.type_name == "plates"


# ------------------------------------------------------------------------------ numpy parts
def test_letterbox_shrinks_large_frames_and_pads_to_32() -> None:
    blob, scale = letterbox(np.zeros((3024, 4032, 3), np.uint8), 640)
    assert scale == pytest.approx(640 / 4032)
    assert blob.shape == (1, 3, 480, 640)
    blob, scale = letterbox(np.zeros((285, 380, 3), np.uint8), 640)
    assert scale == 1.0 and blob.shape == (1, 3, 288, 384)
    assert blob[0, 0, 287, 0] == 114, "padding is grey as in training"


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.45)
    assert keep.tolist() == [1, 2]


def test_decode_recovers_box_corners_and_layout() -> None:
    maps = np.zeros((14, 20, 30), np.float32)
    maps[0, 10, 15] = 0.9
    maps[1, 10, 15] = 0.8  # two-row
    px, py = 15.5 * STRIDE, 10.5 * STRIDE
    box = (px - 20, py - 8, px + 20, py + 8)
    maps[2:6, 10, 15] = np.log(np.array([20, 8, 20, 8], np.float32) / STRIDE)
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]], np.float32)
    maps[6:14, 10, 15] = ((corners - [px, py]) / [40, 16]).reshape(8)
    out = decode(maps, 0.3, 10)
    assert out.scores.tolist() == pytest.approx([0.9])
    assert out.boxes[0] == pytest.approx(box, abs=1e-3)
    assert out.corners[0] == pytest.approx(corners, abs=1e-3)
    assert out.layouts.tolist() == [1]


def test_order_corners_from_any_polygon() -> None:
    poly = np.array([[10, 20], [12, 10], [50, 11], [51, 15], [49, 22]], np.float32)
    c = order_corners(poly)
    assert c.tolist() == [[12, 10], [50, 11], [49, 22], [10, 20]]


def test_order_corners_never_collapse_into_fewer_than_four_points() -> None:
    # the polygon of vn-plate-scenes valid Tgmt_0484 (a plate cut off by the frame's bottom, 400x300):
    # its lowest-left point is both the top-left and the bottom-left extreme
    poly = np.array([[174.2, 278.7], [345.0, 204.3], [345.0, 248.5], [233.3, 299.0]], np.float32)
    c = order_corners(poly)
    assert len({tuple(p) for p in c.tolist()}) == 4
    assert cv2.contourArea(c) > 0.9 * cv2.contourArea(cv2.convexHull(poly))  # encloses the polygon
    tl, tr, br, bl = c
    assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]
    frame = np.zeros((300, 400, 3), np.uint8)
    cv2.fillPoly(frame, [poly.astype(np.int32)], (255, 255, 255))
    crop = rectify(frame, c, margin=0.0)
    assert crop.shape[0] > 40 and crop.mean() > 0.6 * 255  # the plate, not a sliver along one side


def test_rectify_gives_an_upright_crop_of_the_plate_size() -> None:
    frame, (x1, y1, x2, y2) = _frame_with_plate()
    crop = rectify(frame, np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32), margin=0.0)
    assert crop.shape[:2] == (y2 - y1, x2 - x1)


# ------------------------------------------------------------------------------ behaviour
@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((480, 640, 3), np.uint8),
        np.full((480, 640, 3), 114, np.uint8),
        np.full((720, 1280, 3), 255, np.uint8),
        np.random.default_rng(0).integers(0, 256, (480, 640, 3)).astype(np.uint8),
    ],
    ids=["black", "grey", "white-720p", "noise"],
)
def test_no_plate_on_a_blank_frame(detector: PlateDetector, frame: np.ndarray[Any, Any]) -> None:
    assert len(detector(frame, Detections.empty())) == 0


@pytest.mark.parametrize(
    ("frame", "expectation"),
    [
        (np.zeros((240, 320, 3), np.uint8), nullcontext()),
        ([[0, 0, 0]], pytest.raises(RecognizerError, match="numpy array")),
        (np.zeros((240, 320, 3), np.float32), pytest.raises(RecognizerError, match="uint8")),
        (np.zeros((240, 320), np.uint8), pytest.raises(RecognizerError, match=r"\(H, W, 3\)")),
        (np.zeros((240, 320, 4), np.uint8), pytest.raises(RecognizerError, match=r"\(H, W, 3\)")),
        (np.zeros((0, 320, 3), np.uint8), pytest.raises(RecognizerError, match="too small")),
    ],
    ids=["ok", "list", "float", "grey", "bgra", "empty"],
)
def test_bad_input_raises_a_clear_error(
    detector: PlateDetector, frame: Any, expectation: AbstractContextManager[Any]
) -> None:
    with expectation:
        detector(frame, Detections.empty())


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="scor_threshold"):
        PlatesConfig.model_validate({"type": "plates", "scor_threshold": 0.5})


def test_missing_model_file_names_it(tmp_path: Path) -> None:
    from matthan.models import ModelMissingError

    with pytest.raises(ModelMissingError, match=r"nope\.onnx"):
        PlateDetector(PlatesConfig(model_path=tmp_path / "nope.onnx")).load()


def test_reader_fields_recorded_per_plate_and_incoming_detections_kept() -> None:
    crops: list[np.ndarray[Any, Any]] = []

    def fake_reader(crop: np.ndarray[Any, Any]) -> dict[str, Any]:
        crops.append(crop)
        return {"text": "51F-356.13", "normalised": "51F35613", "rows": 1, "confidence": 0.9}

    det = PlateDetector(PlatesConfig(), reader=fake_reader)
    frame, box = _frame_with_plate()
    earlier = Detections(
        boxes=np.array([[1, 2, 3, 4]], np.float32),
        scores=np.array([0.5], np.float32),
        class_ids=np.array([1], np.int32),
    )
    out = det(frame, earlier)
    assert len(out) >= 2 and out.class_ids[0] == 1
    plates = out.select(out.class_ids == CLASS_PLATE)
    assert len(plates) == 1 and len(crops) == 2, "two views of the plate are read"
    assert scenes.iou_matrix(plates.boxes, np.array([box], np.float64))[0, 0] > 0.5
    assert plates.data["text"] == ["51F-356.13"]
    assert 0 < plates.data["confidence"][0] <= 0.9, "confidence is scaled by the crop's quality"
    assert plates.data["layout"] == ["one-row"]
    assert np.asarray(plates.data["corners"][0]).shape == (4, 2)
    assert set(READER_FIELDS) <= set(plates.data)


def test_the_view_read_in_a_vietnamese_format_wins_then_the_more_confident() -> None:
    """The rectified crop and the upright box are both read; a grammar-valid reading beats a more
    confident unknown one, a failing view is skipped, and box_view=False reads the rectified crop only."""
    answers: list[Any] = []
    shapes: list[tuple[int, ...]] = []

    def reader(crop: np.ndarray[Any, Any]) -> dict[str, Any]:
        shapes.append(crop.shape)
        answer = answers[len(shapes) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    frame, _ = _frame_with_plate()
    unknown = {"text": "51F3561", "format": "unknown", "confidence": 0.99}
    vn_low = {"text": "51F-356.13", "format": "vn", "confidence": 0.5}
    vn_high = {"text": "51F-356.18", "format": "vn", "confidence": 0.8}
    cases = [
        ([unknown, vn_low], "51F-356.13"),
        ([vn_low, unknown], "51F-356.13"),
        ([vn_low, vn_high], "51F-356.18"),
        ([RecognizerError("unreadable"), vn_low], "51F-356.13"),
        ([RecognizerError("unreadable"), RecognizerError("unreadable")], None),
    ]
    for views, expected in cases:
        answers[:], shapes[:] = views, []
        out = PlateDetector(PlatesConfig(), reader=reader)(frame, Detections.empty())
        assert out.data["text"] == [expected], views
        assert len(shapes) == 2 and shapes[0] != shapes[1], "rectified crop and upright box differ"
    answers[:], shapes[:] = [unknown], []
    out = PlateDetector(PlatesConfig(box_view=False), reader=reader)(frame, Detections.empty())
    assert out.data["text"] == ["51F3561"] and len(shapes) == 1


def _reading(text: str, confidence: float, fmt: str = "vn") -> dict[str, Any]:
    return {
        "text": text,
        "normalised": "".join(c for c in text if c.isalnum()),
        "format": fmt,
        "confidence": confidence,
    }


def test_vote_weighs_confidence_among_vietnamese_readings_first() -> None:
    a, b = _reading("51F-356.13", 0.5), _reading("51F-356.18", 0.8)
    won = vote([a, b])
    assert won["text"] == "51F-356.18"
    assert won["confidence"] == pytest.approx(0.8 * 0.8 / 1.3), "scaled by the share of the vote"
    assert vote([a, b, _reading("51F-356.13", 0.4)])["text"] == "51F-356.13", "0.9 against 0.8"
    unknown = _reading("51F35618", 0.9, "unknown")
    same = vote([unknown, _reading("51F-356.18", 0.65)])
    assert same["format"] == "vn" and same["confidence"] == pytest.approx(0.65), "one text: its VN reading"
    # readings that are no plate do not outvote one that is, however many agree, but lower its confidence
    partial = [_reading("006D44", 0.8, "unknown")] * 4
    won = vote([*partial, _reading("30E-860.44", 0.5)])
    assert won["text"] == "30E-860.44"
    assert won["confidence"] == pytest.approx(0.5 * 0.75 / (3.2 + 0.75))
    assert vote([_reading("5F356", 0.6, "unknown"), *partial])["text"] == "006D44", "no plate: all vote"
    assert vote([]) == {}


def test_more_views_are_read_only_when_the_two_views_disagree() -> None:
    answers: list[dict[str, Any]] = []
    shapes: list[tuple[int, ...]] = []

    def reader(crop: np.ndarray[Any, Any]) -> dict[str, Any]:
        shapes.append(crop.shape)
        return answers[len(shapes) - 1]

    frame, _ = _frame_with_plate()
    first, second = _reading("51F-356.18", 0.8), _reading("51F-356.13", 0.6)
    more = [_reading("51F-356.13", 0.5)] * 3 + [_reading("51F-356.18", 0.4)] * 2
    answers[:], shapes[:] = [first, second, *more], []
    out = PlateDetector(PlatesConfig(), reader=reader)(frame, Detections.empty())
    assert len(shapes) == 2 + len(MORE_VIEWS) == 7 and len(set(shapes)) >= 5, "seven different cuts"
    assert out.data["text"] == ["51F-356.13"], "3.15 against 2.4"
    answers[:], shapes[:] = [first, second, *more], []
    out = PlateDetector(PlatesConfig(more_views=False), reader=reader)(frame, Detections.empty())
    assert out.data["text"] == ["51F-356.18"] and len(shapes) == 2
    answers[:], shapes[:] = [first, _reading("51F-356.18", 0.3), *more], []
    out = PlateDetector(PlatesConfig(), reader=reader)(frame, Detections.empty())
    assert out.data["text"] == ["51F-356.18"] and len(shapes) == 2, "views that agree need no more"
    answers[:], shapes[:] = (
        [_reading("5F356", 0.6, "unknown"), _reading("51F3561", 0.5, "unknown"), *more],
        [],
    )
    out = PlateDetector(PlatesConfig(), reader=reader)(frame, Detections.empty())
    assert out.data["text"] == ["51F-356.13"] and len(shapes) == 7, "more cuts may find the plate"


def test_reader_adapter_reads_several_crops_in_one_call_as_one_by_one() -> None:
    adapter = load_default_reader()
    assert isinstance(adapter, ReaderAdapter)
    frame, box = _frame_with_plate()
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
    crops = [rectify(frame, corners, m) for m in (0.04, 0.09, 0.25)]
    together, alone = adapter.many(crops), [adapter(crop) for crop in crops]
    assert [(r["text"], r["format"]) for r in together] == [(r["text"], r["format"]) for r in alone]
    assert [r["confidence"] for r in together] == pytest.approx([r["confidence"] for r in alone], abs=1e-4)
    with pytest.raises(RecognizerError):
        adapter.many([*crops, np.zeros((2, 2, 3), np.uint8)])


def test_plates_too_small_to_read_are_reported_without_text() -> None:
    """Guards against guessing: a plate narrower than min_read_width must never carry text."""

    def reader(crop: np.ndarray[Any, Any]) -> dict[str, Any]:
        raise AssertionError("the reader must not run on a plate this small")

    det = PlateDetector(PlatesConfig(min_read_width=500), reader=reader)
    frame, _ = _frame_with_plate()
    out = det(frame, Detections.empty())
    assert len(out) == 1
    assert out.data["text"] == [None] and out.data["confidence"] == [None]


def test_installed_reader_reads_the_rectified_crop() -> None:
    """detect -> rectify -> read -> grammar with the real plate reader, when its model is installed."""
    reader = load_default_reader()
    if reader is None:
        pytest.skip("the plate-reader model is not installed")
    fields = reader(np.full((40, 160, 3), 255, np.uint8))
    assert set(fields) == set(READER_FIELDS)
    det = PlateDetector(PlatesConfig(), reader=reader)
    frame, _ = _frame_with_plate()
    out = det(frame, Detections.empty())
    assert len(out) == 1
    assert out.data["format"][0] in ("vn", "unknown")
    assert 0.0 <= float(out.data["confidence"][0]) <= 1.0


# ------------------------------------------------------------------------------ command line
def _plate_image(folder: Path) -> Path:
    """A frame with one plate, written as a JPEG file."""
    img = folder / "a.jpg"
    cv2.imwrite(str(img), _frame_with_plate()[0])
    return img


def test_cli_detect_prints_one_json_line_per_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = _plate_image(tmp_path)
    bad = tmp_path / "b.jpg"
    bad.write_bytes(b"not an image")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    paths = [img, bad, tmp_path / "missing.jpg", tiny, img]
    assert main(["plates", "detect", "--no-read", *map(str, paths)]) == 2
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["image"] for x in lines] == list(map(str, paths))  # one line per image, in order
    (plate,) = lines[0]["plates"]
    assert set(plate) >= {"box", "score", "layout", "text", "corners"}
    assert plate["layout"] == "one-row" and plate["text"] is None
    assert lines[1]["error"] == "not an image OpenCV can decode"
    assert lines[2]["error"] == "no such file"
    assert "too small" in lines[3]["error"]
    assert lines[4]["plates"] == lines[0]["plates"]  # an image after the bad ones is still analysed
    assert f"{bad}: not an image OpenCV can decode" in err


def test_cli_detect_rejects_a_bad_fine_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = _plate_image(tmp_path)
    assert main(["plates", "detect", "--no-read", "--fine-side", "-5", str(img)]) == 2
    err = capsys.readouterr().err
    assert "bad option" in err and "fine_side" in err
    assert (
        main(["plates", "detect", "--no-read", "--fine-side", "1280", "--fine-enlarge", "0.5", str(img)]) == 2
    )
    err = capsys.readouterr().err
    assert "bad option" in err and "fine_enlarge" in err


def test_cli_detect_reads_with_the_reader_model_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = _plate_image(tmp_path)
    missing = tmp_path / "none.onnx"
    assert main(["plates", "detect", "--reader-model", str(missing), str(img)]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err
    try:
        installed = resolve("plate-reader", "").path
    except ModelMissingError:
        pytest.skip("the plate-reader model is not installed")
    copy = tmp_path / "reader.onnx"
    copy.write_bytes(installed.read_bytes())
    assert main(["plates", "detect", "--reader-model", str(copy), str(img)]) == 0
    (plate,) = json.loads(capsys.readouterr().out)["plates"]
    assert plate["format"] in ("vn", "unknown") and plate["text"]


def test_cli_eval_scenes_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame, box = _frame_with_plate()
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "x_1.png"), frame)
    cv2.imwrite(str(tmp_path / "imgs" / "x_2.png"), np.full_like(frame, 90))
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "x1", "y1", "x2", "y2", "text"])
        w.writerow(["x_1.png", *box, "51F-356.13"])
    out = tmp_path / "r.json"
    args = ["eval", "scenes", "--images", str(tmp_path / "imgs"), "--labels", str(labels), "--no-read"]
    assert main([*args, "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["n_images"] == 2 and summary["n_plates"] == 1
    assert summary["recall"] == 1.0 and summary["precision"] == 1.0
    assert summary["end_to_end_exact"] == 0.0, "no reader: a plate with text is not read exactly"
    assert {"latency_ms_p50", "latency_ms_p95"} <= set(summary)
    assert json.loads(out.read_text())["summary"]["n_images"] == 2


def test_eval_scenes_reads_labels_as_spreadsheets_write_them(tmp_path: Path) -> None:
    """A BOM and capitalised headers (Excel's "CSV UTF-8"), Windows path separators, boxes drawn right
    to left, blank lines: all read; a box that is not a number is an error naming the line."""
    labels = tmp_path / "labels.csv"
    labels.write_bytes(
        "\ufeffImage, X1 ,Y1,X2,Y2,Text\r\n"
        "cam1\\a.png,50,40,10,20,51F-356.13\r\n\r\nb.png,1,2,3,4,\r\n".encode()
    )
    a, b = scenes.read_labels(labels, tmp_path)
    assert (a.image, a.box, a.text) == ("cam1/a.png", (10.0, 20.0, 50.0, 40.0), "51F-356.13")
    assert (b.image, b.box, b.text) == ("b.png", (1.0, 2.0, 3.0, 4.0), "")
    labels.write_text("image,x1,y1,x2,y2\nb.png,1,2,three,4\n")
    with pytest.raises(ValueError, match=r"labels.csv:2: bad box"):
        scenes.read_labels(labels, tmp_path)


def test_eval_scenes_finds_images_in_subfolders_and_leaves_out_broken_ones(tmp_path: Path) -> None:
    """Images under per-camera folders are named by their path there (or by file name when that is
    unique); each folder gets its own scores; an image that cannot be decoded is listed, not fatal;
    labels naming no image are counted."""
    images = tmp_path / "images"
    for folder in ("cam1", "cam2"):
        (images / folder).mkdir(parents=True)
    frame = np.full((120, 160, 3), 90, np.uint8)
    cv2.imwrite(str(images / "cam1" / "a.png"), frame)
    cv2.imwrite(str(images / "cam2" / "b.JPG"), frame)
    (images / "cam2" / "broken.jpg").write_bytes(b"not a jpeg")
    labels = [
        scenes.LabelledPlate("cam1/a.png", (10, 10, 50, 30), "51F-356.13"),
        scenes.LabelledPlate("b.JPG", (60, 60, 100, 80)),  # by name alone: unique under images/
        scenes.LabelledPlate("elsewhere/c.png", (1, 1, 5, 5)),
    ]

    def detect(f: np.ndarray) -> Detections:  # finds one box at a fixed place in every frame
        return Detections(np.array([[10, 10, 50, 30]], np.float32), np.array([0.9], np.float32), np.zeros(1))

    records: list[dict[str, object]] = []
    summary = scenes.evaluate(detect, images, labels, records.append)
    assert summary["n_images"] == 2 and summary["n_plates"] == 2 and summary["recall"] == 0.5
    assert summary["unreadable_images"] == ["cam2/broken.jpg"]
    assert summary["labelled_images_not_found"] == 1
    assert summary["labelled_images_not_found_examples"] == ["elsewhere/c.png"]
    assert summary["by_folder"]["cam1"]["recall"] == 1.0 and summary["by_folder"]["cam2"]["recall"] == 0.0
    assert [r["image"] for r in records] == ["cam1/a.png", "cam2/b.JPG"]
    (images / "cam1" / "a.png").write_bytes(b"")
    (images / "cam2" / "b.JPG").write_bytes(b"")
    with pytest.raises(ValueError, match="could be decoded"):
        scenes.evaluate(detect, images, labels)


def test_cli_eval_scenes_bad_labels_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "imgs").mkdir()
    labels = tmp_path / "labels.csv"
    labels.write_text("image,left,top\n")
    assert main(["eval", "scenes", "--images", str(tmp_path / "imgs"), "--labels", str(labels)]) == 2
    assert "missing column" in capsys.readouterr().err


def test_half_size_pass_finds_a_plate_too_close_for_the_full_size_view(detector: PlateDetector) -> None:
    # a validation close-up (never trained on): the plate is 344 of the frame's 400 pixels wide
    valid = shared_path("datasets/vn-plate-scenes/valid")
    labels = [
        p
        for p in scenes.read_yolo_labels(valid / "labels", valid / "images")
        if p.image.startswith("Tgmt_0401_")
    ]
    assert len(labels) == 1
    frame = cv2.imread(str(valid / "images" / labels[0].image))
    found = detector.detect(frame)
    truth = np.asarray([labels[0].box], np.float32)
    assert len(found.boxes) == 1, found
    assert scenes.iou_matrix(truth, found.boxes)[0, 0] >= 0.5, (found.boxes, truth)


def test_half_size_pass_maps_boxes_back_from_frames_of_odd_size(detector: PlateDetector) -> None:
    # the half-size copy of an odd-sized frame drops its last row and column (so it is exactly half
    # size); boxes still land in frame pixels, as for the same frame one pixel smaller
    valid = shared_path("datasets/vn-plate-scenes/valid")
    frame = cv2.imread(str(valid / "images" / next((valid / "images").glob("Tgmt_0401_*"))))
    h, w = frame.shape[:2]
    even = frame[: h - h % 2, : w - w % 2]
    odd = cv2.copyMakeBorder(even, 0, 1, 0, 1, cv2.BORDER_REPLICATE)
    found_even, found_odd = detector.detect(even), detector.detect(odd)
    assert len(found_even.boxes) == len(found_odd.boxes) == 1
    np.testing.assert_allclose(found_odd.boxes, found_even.boxes, atol=2.0)


def test_half_size_pass_adds_no_second_box_for_a_plate_seen_at_full_size() -> None:
    frame, box = _frame_with_plate(seed=3)
    single = PlateDetector(PlatesConfig(read=False, coarse_pass=False)).detect(frame)
    both = PlateDetector(PlatesConfig(read=False)).detect(frame)
    assert len(single.boxes) == 1
    np.testing.assert_allclose(both.boxes, single.boxes)
    assert scenes.iou_matrix(np.asarray([box], np.float32), both.boxes)[0, 0] >= 0.5


def test_fine_pass_finds_small_plates_of_a_high_resolution_photo() -> None:
    # a 4032x3024 validation photo (never trained on): its plates are 46-242 px wide, 7-38 px once the
    # frame is shrunk to 640; the fine pass at 1280 px adds at least one that 640 px misses, at 1920 px
    # every plate is found (1.1.0: 2, 3 and 4 of 4; 1.0.1: 1, 3 and 4), and both keep what 640 px found
    valid = shared_path("datasets/vn-plate-scenes/valid")
    labels = [
        p
        for p in scenes.read_yolo_labels(valid / "labels", valid / "images")
        if p.image.startswith("Hung_0330_")
    ]
    frame = cv2.imread(str(valid / "images" / labels[0].image))
    assert frame.shape[1] == 4032
    truth = np.asarray([p.box for p in labels], np.float32)

    def found(config: PlatesConfig) -> np.ndarray[Any, Any]:
        boxes = PlateDetector(config).detect(frame).boxes
        if not len(boxes):
            return np.zeros(len(truth), bool)
        return (scenes.iou_matrix(truth, boxes) >= 0.5).any(axis=1)

    plain = found(PlatesConfig(read=False))
    middle = found(PlatesConfig(read=False, fine_side=1280))
    fine = found(PlatesConfig(read=False, fine_side=1920))
    assert middle.sum() >= plain.sum() + 1, (plain, middle)
    assert fine.all() and fine.sum() >= middle.sum() + 1, (middle, fine)
    assert not (plain & ~middle).any() and not (middle & ~fine).any()


def test_fine_pass_enlarges_a_small_frame_for_its_small_plates() -> None:
    # a 600x450 validation frame (never trained on) whose narrowest plate is 22 px wide: found only at
    # twice the size (1.1.0; with 1.0.1 this was `Dieu_0344`'s 16-px plate, which 1.1.0 finds at 600 px)
    valid = shared_path("datasets/vn-plate-scenes/valid")
    labels = [
        p
        for p in scenes.read_yolo_labels(valid / "labels", valid / "images")
        if p.image.startswith("Dieu_0103_")
    ]
    label = min(labels, key=lambda p: p.box[2] - p.box[0])
    assert label.box[2] - label.box[0] < 25
    frame = cv2.imread(str(valid / "images" / label.image))
    truth = np.asarray([label.box], np.float32)
    plain = PlateDetector(PlatesConfig(read=False)).detect(frame)
    fine = PlateDetector(PlatesConfig(read=False, fine_side=1280)).detect(frame)
    # told not to enlarge, the fine pass leaves a frame within `max_side` alone
    np.testing.assert_array_equal(
        plain.boxes,
        PlateDetector(PlatesConfig(read=False, fine_side=1280, fine_enlarge=1.0)).detect(frame).boxes,
    )
    assert not len(plain.boxes) or scenes.iou_matrix(truth, plain.boxes).max() < 0.5
    assert scenes.iou_matrix(truth, fine.boxes).max() >= 0.5, fine.boxes
    # what the main pass found stays, box for box, but for plates under `FINE_BOX_BELOW` px there,
    # which take the fine pass's box of the same plate
    kept = scenes.iou_matrix(plain.boxes, fine.boxes) if len(plain.boxes) else np.ones((0, 1))
    narrow = (plain.boxes[:, 2] - plain.boxes[:, 0]) < FINE_BOX_BELOW
    assert (kept.max(axis=1)[~narrow] > 0.99).all()
    assert (kept.max(axis=1)[narrow] >= 0.5).all()


def test_fine_pass_no_finer_than_the_main_pass_changes_nothing() -> None:
    frame, box = _frame_with_plate(seed=3)
    plain = PlateDetector(PlatesConfig(read=False)).detect(frame)
    # the frame is 480 px: not enlarged, no larger than it is, too little larger, or (640) its plate,
    # wide enough for the main pass's box, found again
    options: dict[str, Any]
    for options in (
        {"fine_side": 1280, "fine_enlarge": 1.0},
        {"fine_side": 400},
        {"fine_side": 640},
        {"fine_side": 560},
        {"fine_side": 1280, "fine_enlarge": 1.1},
    ):
        same = PlateDetector(PlatesConfig(read=False, **options)).detect(frame)
        np.testing.assert_array_equal(same.boxes, plain.boxes)
    truth = np.asarray([box], np.float32)
    fine = PlateDetector(PlatesConfig(read=False, fine_side=1280)).detect(frame)
    assert len(fine.boxes) == 1  # seen by both passes, reported once
    assert scenes.iou_matrix(truth, fine.boxes)[0, 0] >= 0.5
    # twice as large, the frame gets the fine pass at its own size: the plate still once
    big = cv2.resize(frame, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)
    found = PlateDetector(PlatesConfig(read=False, fine_side=1280, fine_enlarge=1.0)).detect(big)
    assert len(found.boxes) == 1
    assert scenes.iou_matrix(truth * 2, found.boxes)[0, 0] >= 0.5
    with pytest.raises(ValidationError):
        PlatesConfig(fine_side=-1)
    with pytest.raises(ValidationError):
        PlatesConfig(fine_enlarge=0.5)


def test_passes_merge_small_plates_on_the_fine_pass_box(monkeypatch: pytest.MonkeyPatch) -> None:
    # what each pass of a 1920x1080 frame finds (frame pixels), keyed by the side it looks at
    def plates(*rows: tuple[float, float, float, float, float]) -> PlateBoxes:
        boxes = np.asarray([r[:4] for r in rows], np.float32).reshape(-1, 4)
        corners = np.stack([boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [2, 3]], boxes[:, [0, 3]]], 1)
        return PlateBoxes(
            boxes, np.asarray([r[4] for r in rows], np.float32), np.zeros(len(rows), np.int32), corners
        )

    passes = {
        # a plate 50 px wide (17 px in the main pass: small) and one 300 px wide (100 px there)
        640: plates((100, 100, 150, 115, 0.9), (500, 500, 800, 600, 0.8)),
        320: plates(),
        1280: plates((102, 101, 149, 114, 0.5), (505, 505, 795, 598, 0.95), (1500, 900, 1540, 912, 0.6)),
    }
    detector = PlateDetector(PlatesConfig(read=False, fine_side=1280))
    detector._session = object()  # no model: the passes are the stand-ins above
    monkeypatch.setattr(detector, "_detect_at", lambda image, side, scale, min_width: passes[side])
    frame = np.zeros((1080, 1920, 3), np.uint8)
    found = detector.detect(frame)
    kept = {tuple(b): round(float(s), 3) for b, s in zip(found.boxes.tolist(), found.scores, strict=True)}
    # the small plate keeps the fine pass's box, the large one the main pass's; the plate only the
    # fine pass found is added
    assert kept == {
        (102.0, 101.0, 149.0, 114.0): 0.5,
        (500.0, 500.0, 800.0, 600.0): 0.8,
        (1500.0, 900.0, 1540.0, 912.0): 0.6,
    }
    detector.config = PlatesConfig(read=False, fine_side=0)  # no fine pass: every box the main pass's
    found = detector.detect(frame)
    assert sorted(map(tuple, found.boxes.tolist())) == [
        (100.0, 100.0, 150.0, 115.0),
        (500.0, 500.0, 800.0, 600.0),
    ]


# ------------------------------------------------------------------------------ accuracy floor
def test_recall_floor_on_validation_split(detector: PlateDetector) -> None:
    valid = shared_path("datasets/vn-plate-scenes/valid")
    labels = scenes.read_yolo_labels(valid / "labels", valid / "images")
    summary = scenes.evaluate(lambda f: detector(f, Detections.empty()), valid / "images", labels)
    assert summary["recall"] >= RECALL_FLOOR[""], summary
    for prefix, floor in RECALL_FLOOR.items():
        if prefix:
            assert summary["by_prefix"][prefix]["recall"] >= floor, (prefix, summary["by_prefix"][prefix])


TEXT_LABELS = Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "vn-plate-scenes-valid-text.csv"
#: detect -> read (two views per plate, seven where they disagree) exact on the 698 hand-read plates
#: of TEXT_LABELS (the whole validation split): 0.9871 measured with plate-reader 9 and plate-detector
#: 1.1.0 (0.9756 with plate-reader 8; 0.963 with two views only and before the reader's serial mend;
#: RESULTS.md); the floor leaves 19 plates of margin.
END_TO_END_FLOOR = 0.96


def test_end_to_end_exact_floor_on_hand_read_validation_plates(capsys: pytest.CaptureFixture[str]) -> None:
    valid = shared_path("datasets/vn-plate-scenes/valid")
    args = ["eval", "scenes", "--images", str(valid / "images"), "--labels", str(TEXT_LABELS)]
    assert main([*args, "--labelled-only"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["reader"] is True
    assert (summary["n_images"], summary["n_plates"], summary["n_plates_with_text"]) == (711, 879, 698)
    assert summary["end_to_end_exact"] >= END_TO_END_FLOOR, summary


# ------------------------------------------------------------------------------ training recipe
def _tiny_scene_dataset(data: Path, n: int, layout: int) -> Path:
    """A vn-plate-scenes-shaped folder (train/images, train/labels) of `n` frames with one plate each."""
    (data / "train" / "images").mkdir(parents=True)
    (data / "train" / "labels").mkdir(parents=True)
    for i in range(n):
        frame, (x1, y1, x2, y2) = _frame_with_plate(i)
        h, w = frame.shape[:2]
        cv2.imwrite(str(data / "train" / "images" / f"t_{i}.jpg"), frame)
        poly = [x1 / w, y1 / h, x2 / w, y1 / h, x2 / w, y2 / h, x1 / w, y2 / h]
        label = f"{layout} " + " ".join(f"{v:.5f}" for v in poly) + "\n"
        (data / "train" / "labels" / f"t_{i}.txt").write_text(label)
    return data


def test_training_smoke_exports_a_model_the_wrapper_runs(tmp_path: Path, no_network: NetworkAttempts) -> None:
    """The recipe end to end on two tiny labelled images: train a few steps, export, detect; with no
    network (nothing is downloaded: no pretrained weights, no fonts)."""
    pytest.importorskip("torch")
    from matthan.recognizers.plates import train_detector

    data = _tiny_scene_dataset(tmp_path / "scenes", 2, layout=0)
    out = tmp_path / "run"
    args = ["--data", str(data), "--out", str(out), "--epochs", "1", "--batch", "2", "--steps", "2"]
    assert train_detector.main([*args, "--size", "160"]) == 0
    assert no_network == []
    det = PlateDetector(PlatesConfig(model_path=out / "model.onnx", read=False))
    det.load()
    out_dets = det(_frame_with_plate()[0], Detections.empty())
    assert len(out_dets) <= det.config.max_plates


def test_training_can_leave_sources_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--leave-out PREFIX`: those training images are not trained on (to measure a camera the model
    never saw); leaving out every image is an error, not an empty run."""
    pytest.importorskip("torch")
    from matthan.recognizers.plates import train_detector

    data = _tiny_scene_dataset(tmp_path / "scenes", 3, layout=0)
    args = ["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch", "2"]
    args += ["--steps", "1", "--size", "160"]
    assert train_detector.main([*args, "--leave-out", "t_1", "--leave-out", "t_2"]) == 0
    assert "left out 2 images of t_1, t_2" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--leave-out left no training images"):
        train_detector.main([*args, "--leave-out", "t_"])


def test_distillation_learns_the_teachers_map(tmp_path: Path) -> None:
    """`--teacher`: the loss is nothing where the student's map is the teacher's, more the further it
    is; a run distilling an exported model into a narrower network exports a model the wrapper runs."""
    torch = pytest.importorskip("torch")
    from matthan.recognizers.plates import train_detector

    teacher = torch.rand(2, 14, 8, 8) * 0.98 + 0.01
    heat = torch.zeros(2, 1, 8, 8)
    heat[0, 0, 3, 3] = 1.0
    t = {"heat": heat}
    same = torch.cat([torch.logit(teacher[:, :1]), torch.zeros(2, 13, 8, 8)], 1)
    assert float(train_detector.distill_loss(same, teacher, t)) == pytest.approx(0.0, abs=1e-4)
    off = same.clone()
    off[:, 0] += 1.0
    further = same.clone()
    further[:, 0] += 3.0
    near, far = (float(train_detector.distill_loss(o, teacher, t)) for o in (off, further))
    assert 0.0 < near < far

    data = _tiny_scene_dataset(tmp_path / "scenes", 2, layout=0)
    args = ["--data", str(data), "--epochs", "1", "--batch", "2", "--steps", "2", "--size", "160"]
    assert train_detector.main([*args, "--out", str(tmp_path / "teacher")]) == 0
    student = tmp_path / "student"
    distil = ["--teacher", str(tmp_path / "teacher" / "model.onnx"), "--neck4", "16"]
    assert train_detector.main([*args, "--out", str(student), *distil]) == 0
    log = [json.loads(line) for line in (student / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["kd"] > 0
    det = PlateDetector(PlatesConfig(model_path=student / "model.onnx", read=False))
    assert len(det(_frame_with_plate()[0], Detections.empty())) <= det.config.max_plates
    with pytest.raises(SystemExit, match="no such teacher"):
        train_detector.main([*args, "--out", str(student), "--teacher", str(tmp_path / "absent.onnx")])


def test_training_with_loader_workers_and_other_widths(tmp_path: Path, no_network: NetworkAttempts) -> None:
    """`--workers` (augmentation in loader processes) and `--widths` give a model the wrapper runs;
    with no network, as the smoke test."""
    pytest.importorskip("torch")
    from matthan.recognizers.plates import train_detector

    data = _tiny_scene_dataset(tmp_path / "scenes", 4, layout=1)
    out = tmp_path / "run"
    args = ["--data", str(data), "--out", str(out), "--epochs", "2", "--batch", "2", "--size", "160"]
    assert (
        train_detector.main(
            [
                *args,
                "--workers",
                "2",
                "--widths",
                "8,16,24,32,48",
                "--neck",
                "32",
                "--neck4",
                "16",
                "--device",
                "auto",
            ]
        )
        == 0
    )
    assert no_network == []
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1]
    det = PlateDetector(PlatesConfig(model_path=out / "model.onnx", read=False))
    det.load()
    assert len(det(_frame_with_plate()[0], Detections.empty())) <= det.config.max_plates
    with pytest.raises(ValueError, match="5 stage widths"):
        train_detector.PlateNet((8, 16, 24))


@pytest.mark.parametrize("neck4", [0, 32])
def test_export_folds_the_input_scaling_into_the_first_convolution(tmp_path: Path, neck4: int) -> None:
    """The ONNX file takes 0..255 input with no scaling node, and computes what the network computes
    on 0..1 input (sigmoid on the two score channels); the network itself is left as it was."""
    torch = pytest.importorskip("torch")
    import onnx
    import onnxruntime as ort

    from matthan.recognizers.plates import train_detector

    torch.manual_seed(0)
    net = train_detector.PlateNet(neck4=neck4).eval()
    with torch.no_grad():
        for m in net.modules():  # BN statistics away from the identity, so the check means something
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    stem = net.stem[0].weight.detach().clone()
    path = tmp_path / "model.onnx"
    train_detector.export_onnx(net, path)
    assert torch.equal(net.stem[0].weight, stem)
    assert next(n.op_type for n in onnx.load(str(path)).graph.node if n.op_type != "Constant") == "Conv"
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 96, 128)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x) / 255.0).numpy()
    expected = np.concatenate([1 / (1 + np.exp(-y[:, :2])), y[:, 2:]], axis=1)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_older_exports_get_their_input_scaling_folded(tmp_path: Path) -> None:
    """Exports made before the folding (plate-detector 1.0.0) scale the frame by 1/255 in a node of
    their own: `fold_input_scaling` moves it into the first convolution, with the same outputs."""
    torch = pytest.importorskip("torch")
    import onnx
    import onnxruntime as ort

    from matthan.recognizers.plates import train_detector

    class OldExport(torch.nn.Module):  # what export_onnx wrote until 2026-12-06
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.net(x * (1.0 / 255.0))
            return torch.cat([torch.sigmoid(y[:, :2]), y[:, 2:]], dim=1)

    torch.manual_seed(1)
    old = tmp_path / "old.onnx"
    train_detector.export_module(OldExport(train_detector.PlateNet().eval()), old)
    assert [n.op_type for n in onnx.load(str(old)).graph.node if "image" in n.input] == ["Mul"]
    new = tmp_path / "new" / "model.onnx"
    assert train_detector.fold_input_scaling(old, new) == pytest.approx(1 / 255)
    graph = onnx.load(str(new)).graph
    assert "Mul" not in {n.op_type for n in graph.node}
    assert [n.op_type for n in graph.node if "image" in n.input] == ["Conv"]
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 96, 128)).astype(np.float32)

    def run(path: Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {"image": x})[0])

    np.testing.assert_allclose(run(new), run(old), atol=1e-5)
    with pytest.raises(ValueError, match="already folded"):
        train_detector.fold_input_scaling(new, tmp_path / "again.onnx")


def test_yunet_backbone_starts_as_the_face_detector_computes(tmp_path: Path) -> None:
    """`--yunet`: the stages of a `backbone="yunet"` network loaded from YuNet-s's ONNX file compute
    what that file computes at strides 2-32 (YuNet on 0..255 input, ours on 0..1), the export still
    takes 0..255 input, and a file of another network is refused."""
    torch = pytest.importorskip("torch")
    import onnx
    import onnxruntime as ort

    from matthan.recognizers.plates import train_detector

    src = shared_path("models/yunet/yunet_s_dynamic.onnx")
    model = onnx.load(str(src))
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    # the face detector's own tensors: what enters each 2x2 max-pool (strides 2-16), and stride 32
    taps = [n.input[0] for n in model.graph.node if n.op_type == "MaxPool"]
    taps += [
        n.output[0] for n in model.graph.node if n.op_type == "Relu" and n.input[0] == convs[22].output[0]
    ]
    assert len(taps) == 5
    model.graph.output.extend(
        onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in taps
    )
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 96, 128)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(taps, {session.get_inputs()[0].name: x})

    net = train_detector.PlateNet(neck4=32, backbone="yunet")
    assert train_detector.load_yunet(net, src) == 23
    net.eval()
    got, y = [], torch.from_numpy(x) / 255.0
    with torch.no_grad():
        for stage in train_detector.backbone_stages(net):
            y = stage(y)
            got.append(y.numpy())
    for want, have in zip(expected, got, strict=True):
        assert want.shape == have.shape
        np.testing.assert_allclose(have, want, atol=1e-4)
    path = tmp_path / "model.onnx"
    train_detector.export_onnx(net, path)
    with torch.no_grad():
        out = net(torch.from_numpy(x) / 255.0).numpy()
    exported = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    np.testing.assert_allclose(exported[:, 2:], out[:, 2:], atol=1e-4)
    other = tmp_path / "plain.onnx"
    train_detector.export_onnx(train_detector.PlateNet().eval(), other)
    with pytest.raises(ValueError, match=r"plain\.onnx: "):
        train_detector.load_yunet(net, other)  # the plain plate detector, not YuNet's stages
    with pytest.raises(ValueError, match="unknown backbone"):
        train_detector.PlateNet(backbone="resnet")


def test_publish_records_where_a_yunet_backbone_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--publish VERSION --yunet FILE`: the manifest names the YuNet file the backbone started from,
    its sha256 and its licence; a model published without `--yunet` claims no such backbone."""
    pytest.importorskip("torch")
    import matthan.models as models
    from matthan.recognizers.plates import train_detector

    monkeypatch.setattr(models, "PROJECT_MODELS", tmp_path / "store")
    exported = tmp_path / "out" / "model.onnx"
    exported.parent.mkdir()
    exported.write_bytes(b"not really a model, only bytes to copy")
    yunet = tmp_path / "yunet_s_dynamic.onnx"
    yunet.write_bytes(b"face detector")
    entry = train_detector.publish(exported, "9.9.9", yunet)
    assert entry.path == tmp_path / "store" / "plate-detector" / "9.9.9" / "model.onnx"
    assert models.sha256_of(yunet) in entry.meta["backbone"] and "Apache-2.0" in entry.meta["backbone"]
    assert "YuNet" in entry.meta["licence"]
    plain = train_detector.publish(exported, "9.9.10")
    assert "backbone" not in plain.meta and "YuNet" not in plain.meta["licence"]
    with pytest.raises(SystemExit, match=r"missing\.onnx not found"):
        train_detector.publish(exported, "9.9.11", tmp_path / "missing.onnx")


@pytest.mark.parametrize("neck4", [0, 32])
def test_a_fine_tune_starts_from_an_export_computing_what_it_computes(tmp_path: Path, neck4: int) -> None:
    """`load_onnx_weights` (`--init-from`) turns an export back into a network that, with its batch
    norms frozen, computes the export's outputs, and exports to the same; a network of another shape,
    or an export whose input scaling is not folded, is refused."""
    torch = pytest.importorskip("torch")
    import onnxruntime as ort

    from matthan.recognizers.plates import train_detector

    torch.manual_seed(2)
    net = train_detector.PlateNet(neck4=neck4).eval()
    with torch.no_grad():
        for m in net.modules():  # batch norms away from the identity: they are fused in the export
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    first = tmp_path / "first.onnx"
    train_detector.export_onnx(net, first)
    x = np.random.default_rng(1).uniform(0, 255, (1, 3, 96, 128)).astype(np.float32)

    def run(path: Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {"image": x})[0])

    fresh = train_detector.PlateNet(neck4=neck4)
    assert train_detector.load_onnx_weights(fresh, first) == sum(
        isinstance(m, torch.nn.Conv2d) for m in fresh.modules()
    )
    fresh.train()
    train_detector.freeze_norms(fresh)  # as a fine-tune trains it
    with torch.no_grad():
        y = fresh(torch.from_numpy(x) / 255.0).numpy()
    expected = run(first)
    np.testing.assert_allclose(y[:, 2:], expected[:, 2:], atol=1e-4)
    np.testing.assert_allclose(1 / (1 + np.exp(-y[:, :2])), expected[:, :2], atol=1e-5)
    again = tmp_path / "again.onnx"
    train_detector.export_onnx(fresh.eval(), again)
    np.testing.assert_allclose(run(again), expected, atol=1e-5)

    with pytest.raises(ValueError, match=r"no match|is \(|another size"):
        train_detector.load_onnx_weights(train_detector.PlateNet(neck4=48 - neck4), first)

    class OldExport(torch.nn.Module):  # input scaled by a node of its own, as before 2026-12-06
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.net = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y: torch.Tensor = self.net(x * (1.0 / 255.0))
            return y

    old = tmp_path / "old.onnx"
    train_detector.export_module(OldExport(train_detector.PlateNet().eval()), old)
    with pytest.raises(ValueError, match="not folded"):
        train_detector.load_onnx_weights(train_detector.PlateNet(), old)


def test_motion_blur_options_smear_that_share_of_crops() -> None:
    pytest.importorskip("torch")
    import random

    from matthan.recognizers.plates.train_detector import Augmenter

    default = Augmenter([], 64, random.Random(0))
    assert (default.motion_blur, default.motion_kernels) == (0.15, [3, 5, 7, 9])  # the recorded recipes'
    dot = np.zeros((64, 64, 3), np.uint8)
    dot[32, 32] = 255

    def mean_peak(aug: Augmenter) -> float:
        """How bright the dot stays above the background, on average over many crops."""
        peaks = []
        for _ in range(60):
            out = aug._photometric(dot).astype(np.float32)
            peaks.append(float(out.max() - np.median(out)))
        return float(np.mean(peaks))

    sharp = mean_peak(Augmenter([], 64, random.Random(1), motion_blur=0.0))
    smeared = Augmenter([], 64, random.Random(1), motion_blur=1.0, motion_blur_max=17)
    assert smeared.motion_kernels[-1] == 17
    assert mean_peak(smeared) < 0.4 * sharp  # every crop smeared, the dot's light spread along a line


def test_tilt_option_turns_plates_beyond_the_usual_few_degrees() -> None:
    pytest.importorskip("torch")
    import random

    from matthan.recognizers.plates.train_detector import Augmenter, Sample

    image = np.full((200, 200, 3), 90, np.uint8)
    plate = np.array([[[60, 90], [140, 90], [140, 110], [60, 110]]], np.float32)
    image[90:110, 60:140] = 230
    sample = Sample("one", image, plate, np.array([0]))

    def angles(aug: Augmenter, n: int = 40) -> list[float]:
        out = []
        for _ in range(n):
            _, corners, _ = aug(sample)
            if len(corners):
                top = corners[0][1] - corners[0][0]  # TR - TL
                out.append(abs(float(np.degrees(np.arctan2(top[1], top[0])))))
        return out

    assert max(angles(Augmenter([sample], 96, random.Random(5)))) < 15  # within ±8° plus shear
    assert max(angles(Augmenter([sample], 96, random.Random(5), tilt=1.0))) > 30


def test_antialiased_training_crops_look_like_shrunk_frames_and_keep_their_geometry() -> None:
    """`--antialias`: a crop shrunk 8x is area-averaged as `PlateDetector` shrinks frames (a warp alone
    samples every 8th pixel), and the labelled corners still lie on the plate."""
    pytest.importorskip("torch")
    import random

    import cv2

    from matthan.recognizers.plates.train_detector import (
        GREY,
        Augmenter,
        Sample,
        shrink_around,
        warp_affine_shrunk,
    )

    stripes = np.full((400, 400, 3), GREY, np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: area averaging gives grey, point sampling does not
    m = cv2.getRotationMatrix2D((200.0, 200.0), 0.0, 0.125)
    m[:, 2] += np.array([24.0, 24.0]) - (m[:, :2] @ np.array([200.0, 200.0]) + m[:, 2])
    plain = cv2.warpAffine(stripes, m, (48, 48), flags=cv2.INTER_AREA)  # INTER_AREA acts as linear here
    shrunk = warp_affine_shrunk(stripes, m, 0.125, 48)
    average = (255 + GREY) / 2
    assert abs(float(plain[20:28, 20:28].mean()) - average) > 30  # aliased: every 8th stripe, all white
    assert shrunk[20:28, 20:28].std() < 3 and abs(float(shrunk[20:28, 20:28].mean()) - average) < 4

    # a white square lands where the plain warp puts it (centre within half a pixel, same area)
    square = np.full((800, 800, 3), GREY, np.uint8)
    square[300:340, 400:440] = 255
    for scale in (0.1, 0.3, 0.69):
        m = cv2.getRotationMatrix2D((420.0, 320.0), 5.0, scale)
        m[:, 2] += np.array([100.0, 100.0]) - (m[:, :2] @ np.array([420.0, 320.0]) + m[:, 2])
        a = cv2.warpAffine(square, m, (200, 200), borderValue=(GREY,) * 3)[..., 0].astype(float) - GREY
        b = warp_affine_shrunk(square, m, scale, 200)[..., 0].astype(float) - GREY
        ys, xs = np.mgrid[:200, :200]
        for img in (a, b):
            assert img.sum() / (255 - GREY) == pytest.approx(1600 * scale**2, rel=0.05)
        assert abs((xs * a).sum() / a.sum() - (xs * b).sum() / b.sum()) < 0.5
        assert abs((ys * a).sum() / a.sum() - (ys * b).sum() / b.sum()) < 0.5

    corners = np.array([[400, 300], [440, 300], [440, 340], [400, 340]], np.float32)
    part, moved = shrink_around(square, corners, 0.2)
    inside = part[..., 0] > GREY + 20
    ys, xs = np.nonzero(inside)
    assert moved[:, 0].min() - 1 <= xs.min() and xs.max() <= moved[:, 0].max() + 1
    assert moved[:, 1].min() - 1 <= ys.min() and ys.max() <= moved[:, 1].max() + 1

    # the augmenter with it: same random draws, labelled corners on the (now smooth) plate
    sample = Sample("one", square, corners[None], np.array([0]))
    for seed in range(6):
        img, got, _ = Augmenter([sample], 96, random.Random(seed), antialias=True)(sample)
        ref_img, ref, _ = Augmenter([sample], 96, random.Random(seed))(sample)
        assert got.shape == ref.shape and np.allclose(got, ref)
        assert img.shape == ref_img.shape == (96, 96, 3)


def test_rendered_plates_are_pasted_onto_real_crops_with_their_corners() -> None:
    """`--synth-plates`: rendered plates of both layouts, pasted 14-300 px wide where they are labelled."""
    pytest.importorskip("torch")
    import random

    from matthan.recognizers.plates.train_detector import (
        SYNTH_PASTE_MAX_W,
        Augmenter,
        Sample,
        synthetic_plates,
    )

    pool = synthetic_plates(12, seed=3)
    assert len(pool) == 12 and {int(s.layouts[0]) for s in pool} == {0, 1}
    for s in pool:
        h, w = s.image.shape[:2]
        assert 40 <= h <= 120 and s.corners.shape == (1, 4, 2)
        assert s.corners[0].max(0).tolist() == [w - 1, h - 1]
    assert synthetic_plates(3, seed=3)[2].image.tobytes() == pool[2].image.tobytes()  # reproducible

    background = Sample(
        "street",
        np.full((400, 400, 3), 40, np.uint8),
        np.zeros((0, 4, 2), np.float32),
        np.zeros((0,), np.int64),
    )
    holder = Sample(
        "holder",
        np.full((100, 100, 3), 40, np.uint8),
        np.array([[[10, 10], [60, 10], [60, 30], [10, 30]]], np.float32),
        np.array([0]),
    )
    aug = Augmenter([background, holder], 320, random.Random(2), synth_plates=pool, synth_share=1.0)
    widths, pasted = [], 0
    for _ in range(40):
        img, corners, _ = aug._paste(
            np.full((320, 320, 3), 40, np.uint8), np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.int64)
        )
        if not len(corners):
            continue
        pasted += 1
        c = corners[0]
        widths.append(float(c[:, 0].max() - c[:, 0].min()))
        inside = np.zeros((320, 320), np.uint8)
        cv2.fillConvexPoly(inside, np.round(c).astype(np.int32), 1)
        changed = np.abs(img.astype(int) - 40).sum(2) > 0
        # the rendered plate lands inside its labelled corners, nothing of it outside them
        assert changed[inside == 0].mean() < 0.01
    assert pasted >= 30
    assert min(widths) >= 10 and max(widths) <= SYNTH_PASTE_MAX_W * 1.3 and max(widths) > 120
    # with no rendered plates to draw from, every pasted plate comes from the training images
    assert Augmenter([background, holder], 320, random.Random(2), synth_share=1.0).synth_share == 0.0


def test_real_crops_to_paste_are_the_readers_training_part_of_other_cameras(tmp_path: Path) -> None:
    """`--crop-plates`: the Vietnamese crops of `CROP_FAMILIES` the plate reader trains on, each with
    its image's corners and its rows' layout, kept at most `CROP_MAX_W` wide; never its validation
    part, foreign crops or the parking camera's family."""
    pytest.importorskip("torch")
    from matthan.recognizers.plates.evaluate import split_of
    from matthan.recognizers.plates.train_detector import CROP_MAX_W, crop_plates, main

    crops = tmp_path / "crops"
    (crops / "images").mkdir(parents=True)
    rows = []
    for i in range(40):
        family = ("xemay", "ndata", "CarLongPlate")[i % 3]
        name = f"{i}{family}{i}.jpg"
        two = family == "xemay"
        cv2.imwrite(
            str(crops / "images" / name), np.full((560 if two else 40, 760 if two else 160, 3), 200, np.uint8)
        )
        rows.append([name, "59-T1\n052.97" if two else "51F-069.48", 2 if two else 1, family, "VN"])
    rows.append(["9iwt9.jpg", "1AT5828", 1, "iwt", "CZ"])
    cv2.imwrite(str(crops / "images" / "9iwt9.jpg"), np.full((40, 160, 3), 200, np.uint8))
    with (crops / "labels.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["image", "text", "rows", "family", "country"], *rows])
    pool = crop_plates(crops)
    expected = {r[0] for r in rows if r[3] in ("xemay", "ndata") and split_of(r[0]) == "train"}
    assert {s.name for s in pool} == expected and 0 < len(expected) < 27
    for s in pool:
        h, w = s.image.shape[:2]
        assert w <= CROP_MAX_W and s.corners.shape == (1, 4, 2)
        assert s.corners[0].max(0).tolist() == [w - 1, h - 1]
        assert int(s.layouts[0]) == (1 if "xemay" in s.name else 0)
    with pytest.raises(FileNotFoundError, match="no Vietnamese training crops"):
        crop_plates(_only_foreign(crops, tmp_path / "crops2"))
    with pytest.raises(SystemExit, match=r"--crop-plates: .*labels\.csv is missing"):
        main(["--crops", str(tmp_path / "absent"), "--crop-plates", "0.5", "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match="alternatives"):
        main(
            [
                "--crops",
                str(crops),
                "--crop-plates",
                "0.5",
                "--synth-plates",
                "0.5",
                "--out",
                str(tmp_path / "r"),
            ]
        )


def _only_foreign(crops: Path, dst: Path) -> Path:
    (dst / "images").mkdir(parents=True)
    (dst / "labels.csv").write_text("image,text,rows,family,country\n9iwt9.jpg,1AT5828,1,iwt,CZ\n")
    return dst


def test_synthetic_training_scenes_do_not_depend_on_the_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from matthan.recognizers.plates import train_detector

    monkeypatch.setattr(train_detector, "SYNTH_CHUNK", 2)
    serial = train_detector.synthetic_samples(3, seed=5, size=(320, 180))
    parallel = train_detector.synthetic_samples(3, seed=5, size=(320, 180), workers=2)
    assert [s.name for s in serial] == ["synth_5_00000", "synth_5_00001", "synth_5_00002"]
    assert [s.name for s in parallel] == [s.name for s in serial]
    for a, b in zip(serial, parallel, strict=True):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.corners, b.corners)
    assert not np.array_equal(serial[0].image, serial[2].image)


def test_ignore_regions_are_neither_plate_nor_background() -> None:
    """A region of layout IGNORE sets no positive and takes the background penalty off its cells."""
    pytest.importorskip("torch")
    import torch

    from matthan.recognizers.plates import train_detector as td

    plate = np.array([[20, 20], [80, 20], [80, 40], [20, 40]], np.float32)
    region = np.array([[100, 100], [140, 100], [140, 120], [100, 120]], np.float32)
    t = td.make_targets(np.stack([plate, region]), np.array([0, td.IGNORE]), 160)
    assert t["heat"][0, 7, 12] == 1.0  # the plate's centre (50, 30) at stride 4
    assert t["heat"][0, 25:30, 25:35].max() < 0.01  # nothing positive in the ignored region
    assert t["ignore"][27, 30] == 1.0 and t["ignore"][7, 12] == 0.0 and t["ignore"].sum() == 50
    # a network sure of a plate inside the ignored region is not penalised there
    out = torch.zeros(1, 14, 40, 40)
    out[0, 0] = -6.0
    out[0, 0, 27, 30] = 6.0
    targets = {k: torch.from_numpy(v[None]) for k, v in t.items()}
    with_ignore, _ = td.compute_loss(out, targets)
    targets["ignore"] = torch.zeros_like(targets["ignore"])
    without, _ = td.compute_loss(out, targets)
    assert float(with_ignore) < float(without) - 1.0


def test_mark_unlabelled_finds_plates_nobody_labelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    from matthan.recognizers.plates import train_detector as td

    model = resolve(MODEL_NAME, FIX_COMMAND).path
    frame, (x1, y1, x2, y2) = _frame_with_plate()
    labelled = np.array([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]], np.float32)
    samples = [
        td.Sample("a", frame, np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.int64)),
        td.Sample("b", frame, labelled, np.array([0])),
    ]
    assert td.mark_unlabelled(samples, model) == 1
    (region,) = samples[0].corners
    assert samples[0].layouts.tolist() == [td.IGNORE]
    assert region[:, 0].min() < x1 < x2 < region[:, 0].max()  # grown around the plate
    assert len(samples[1].corners) == 1  # the labelled plate is not a region to ignore

    # the training command: one of two images lost its label
    data = _tiny_scene_dataset(tmp_path / "scenes", 2, layout=0)
    (data / "train" / "labels" / "t_1.txt").unlink()
    args = ["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch", "2"]
    assert td.main([*args, "--steps", "2", "--size", "160", "--ignore-from", str(model)]) == 0
    assert "1 unlabelled regions to ignore" in capsys.readouterr().out


def test_hard_images_are_drawn_more_often(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A labelled plate the model does not find makes its image hard; an epoch draws it 1 + R times."""
    pytest.importorskip("torch")
    import random

    from matthan.recognizers.plates import train_detector as td

    model = resolve(MODEL_NAME, FIX_COMMAND).path
    frame, (x1, y1, x2, y2) = _frame_with_plate()
    found = np.array([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]], np.float32)
    nowhere = np.array([[[10, 10], [70, 10], [70, 30], [10, 30]]], np.float32)  # blank wall, no plate
    samples = [
        td.Sample("found", frame, found, np.array([0])),
        td.Sample("missed", frame, np.concatenate([found, nowhere]), np.array([0, 0])),
        td.Sample("ignored", frame, nowhere, np.array([td.IGNORE])),
        td.Sample("empty", frame, np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.int64)),
    ]
    assert td.hard_plates(samples, model) == [0, 1, 0, 0]

    batches = td._EpochBatches(4, 2, random.Random(0), extra=[1, 1])
    drawn = [i for b in batches for i in b]
    assert len(batches) == 3 and sorted(drawn) == [0, 1, 1, 1, 2, 3]

    # the training command: one of two images is labelled where there is no plate
    data = _tiny_scene_dataset(tmp_path / "scenes", 2, layout=0)
    (data / "train" / "labels" / "t_1.txt").write_text("0 0.05 0.05 0.15 0.05 0.15 0.1 0.05 0.1\n")
    args = ["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch", "2"]
    assert td.main([*args, "--steps", "2", "--size", "160", "--hard-from", str(model)]) == 0
    assert "1 hard plates in 1 images" in capsys.readouterr().out


def test_balanced_sources_are_drawn_equally_often_whatever_their_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    import random

    from matthan.recognizers.plates import train_detector as td

    names = ["park_1.jpg", "park_2.jpg", "park_3.jpg", "park_4.jpg", "park_5.jpg", "park_6.jpg"]
    names += ["street_1.jpg", "street_2.jpg", "synth_7_00001"]
    weights = td.source_weights(names)
    assert sum(weights[:6]) == pytest.approx(1 / 3) and sum(weights[6:8]) == pytest.approx(1 / 3)
    assert weights[8] == pytest.approx(1 / 3)
    batches = td._EpochBatches(len(names), 3, random.Random(0), weights=weights)
    drawn = [i for _ in range(300) for b in batches for i in b]
    share_park = sum(i < 6 for i in drawn) / len(drawn)
    assert len(batches) == 3 and 0.28 < share_park < 0.39  # a third, not two thirds
    plain = [i for b in td._EpochBatches(len(names), 3, random.Random(0)) for i in b]
    assert sorted(plain) == list(range(len(names)))  # without weights: every image once per epoch

    data = _tiny_scene_dataset(tmp_path / "scenes", 2, layout=0)
    args = ["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch", "2"]
    assert td.main([*args, "--steps", "2", "--size", "160", "--balance-sources"]) == 0
    assert "each source drawn equally often" in capsys.readouterr().out


def test_box_crop_grows_the_upright_box_and_stays_in_the_frame() -> None:
    frame = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
    corners = np.array([[50, 40], [110, 42], [112, 60], [52, 58]], np.float32)
    assert box_crop(frame, corners, [0, 0, 0, 0]).shape == (20, 62, 3)
    assert box_crop(frame, corners, [0.5, 0.5, 0.5, 0.5]).shape == (40, 124, 3)
    assert box_crop(frame, corners, [2.0, 3.0, 2.0, 3.0]).shape == (100, 200, 3)
