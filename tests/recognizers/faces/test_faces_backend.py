"""The agent backend, quality gates, privacy blur, alignment and model installation."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from matthan.models import ModelMissingError, resolve
from matthan.recognizers.base import CLASS_FACE, CLASS_PLATE, Detections, Recognizer, RecognizerError
from matthan.recognizers.faces.align import CHIP_SIZE, TEMPLATE, align, similarity_transform
from matthan.recognizers.faces.backend import FacesConfig, FacesRecognizer
from matthan.recognizers.faces.install import INSTALLERS, install_yunet
from matthan.recognizers.faces.pipeline import FacePipeline
from matthan.recognizers.faces.privacy import blur_regions, redact_unmatched
from matthan.recognizers.faces.quality import QualityGates
from matthan.recognizers.faces.watchlist import UNKNOWN, WatchlistStore

PERSON_A = ["img1.jpg", "img2.jpg"]


def _image(deepface: Path, name: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
    image = cv2.imread(str(deepface / "images" / name))
    assert image is not None
    return np.asarray(image, np.uint8)


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expectation"),
    [
        ({}, nullcontext()),
        ({"type": "faces", "match_threshold": 0.4, "blur_unmatched": False}, nullcontext()),
        ({"match_treshold": 0.4}, pytest.raises(ValidationError, match="match_treshold")),
        ({"type": "plates"}, pytest.raises(ValidationError, match="type")),
        ({"threads": 0}, pytest.raises(ValidationError, match="threads")),
    ],
)
def test_config(raw: dict[str, Any], expectation: AbstractContextManager[object]) -> None:
    with expectation:
        config = FacesConfig.model_validate(raw)
        assert config.gates().min_face_px == config.min_face_px


def test_recognizer_implements_the_protocol() -> None:
    assert isinstance(FacesRecognizer(FacesConfig()), Recognizer)
    assert FacesRecognizer.type_name == "faces"


def test_missing_model_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATTHAN_MODEL_STORE", str(tmp_path / "empty"))
    with pytest.raises(ModelMissingError, match=r"run `matthan models install yunet`"):
        FacesRecognizer(FacesConfig(watchlist_db=tmp_path / "w.sqlite")).load()


# -- backend on real photos ------------------------------------------------------------------------


@pytest.fixture
def recognizer(models: Path, deepface: Path, tmp_path: Path) -> FacesRecognizer:
    """A loaded backend whose watchlist 'vip' holds person A (two photos)."""
    db = tmp_path / "faces.sqlite"
    pipeline = FacePipeline.from_store()
    with WatchlistStore(db, resolve("dlib-resnet", "-").sha256) as store:
        rows = []
        for name in PERSON_A:
            face = pipeline.analyse(_image(deepface, name))[0]
            assert face.embedding is not None
            rows.append((face.embedding, face.quality.score, name))
        store.enroll("vip", "A", rows)
    backend = FacesRecognizer(FacesConfig(watchlist_db=db))
    backend.load()
    return backend


def test_backend_adds_faces_and_keeps_earlier_objects(recognizer: FacesRecognizer, deepface: Path) -> None:
    frame = _image(deepface, "couple.jpg")
    plate = Detections(
        boxes=np.array([[1, 2, 30, 12]], np.float32),
        scores=np.array([0.9], np.float32),
        class_ids=np.array([CLASS_PLATE], np.int32),
        data={"text": ["51F-356.13"]},
    )
    out = recognizer(frame, plate)
    assert out.class_ids.tolist().count(CLASS_PLATE) == 1 and out.data["text"][0] == "51F-356.13"
    faces = out.select(out.class_ids == CLASS_FACE)
    assert len(faces) == 2
    assert set(faces.data) >= {"landmarks", "quality", "person", "watchlist", "distance"}
    assert sorted(faces.data["person"]) == ["A", UNKNOWN]
    i = faces.data["person"].index("A")
    assert faces.data["watchlist"][i] == "vip" and faces.data["distance"][i] < 0.48
    assert np.asarray(faces.data["landmarks"][i]).shape == (5, 2)
    json.dumps(faces.data)  # everything in `data` can go into an event


def test_backend_redacts_only_unmatched_faces(recognizer: FacesRecognizer, deepface: Path) -> None:
    frame = _image(deepface, "couple.jpg")
    out = recognizer(frame, Detections.empty())
    redacted = recognizer.redact(frame, out)
    for box, person in zip(out.boxes, out.data["person"], strict=True):
        x1, y1, x2, y2 = box.astype(int)
        changed = np.abs(redacted[y1:y2, x1:x2].astype(int) - frame[y1:y2, x1:x2].astype(int)).mean()
        assert (changed > 5) if person == UNKNOWN else (changed == 0)
    recognizer.config.blur_unmatched = False
    assert recognizer.redact(frame, out) is frame


def test_backend_on_an_empty_frame_and_bad_input(recognizer: FacesRecognizer, no_face_image: Path) -> None:
    frame = np.asarray(cv2.imread(str(no_face_image)), np.uint8)
    assert len(recognizer(frame, Detections.empty())) == 0
    with pytest.raises(RecognizerError, match="BGR uint8"):
        recognizer(frame[:, :, 0], Detections.empty())
    with pytest.raises(RecognizerError, match="load"):
        FacesRecognizer(FacesConfig())(frame, Detections.empty())


# -- quality gates ---------------------------------------------------------------------------------


def test_quality_gates_reject_small_blurred_and_turned_faces(models: Path, deepface: Path) -> None:
    pipeline = FacePipeline.from_store(QualityGates())
    image = _image(deepface, "img2.jpg")
    (good,) = pipeline.analyse(image)
    assert good.quality.passed and good.quality.score >= 0.5 and good.embedding is not None

    (blurred,) = pipeline.analyse(cv2.GaussianBlur(image, (0, 0), 15))
    assert blurred.quality.reason == "blur" and blurred.quality.score < 0.5 and blurred.embedding is None

    scale = 30 / float(good.box[2] - good.box[0])
    tiny = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((240, 320, 3), 128, np.uint8)
    canvas[: min(240, tiny.shape[0]), : min(320, tiny.shape[1])] = tiny[:240, :320]
    small = pipeline.analyse(canvas)
    assert small and all(f.quality.reason in ("size", "blur") and f.embedding is None for f in small)

    strict = FacePipeline.from_store(QualityGates(max_yaw=abs(good.quality.yaw) / 2 + 1e-3))
    (turned,) = strict.analyse(image)
    assert turned.quality.reason == "pose" and turned.embedding is None


# -- privacy ---------------------------------------------------------------------------------------


def test_blur_regions_changes_only_the_grown_boxes() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (100, 120, 3), dtype=np.uint8)
    out = blur_regions(frame, [[40, 40, 60, 60]], margin=0.25)
    assert np.array_equal(out[:35], frame[:35]) and np.array_equal(out[:, :35], frame[:, :35])
    inside = out[40:60, 40:60].astype(int)
    assert inside.std() < frame[40:60, 40:60].astype(int).std() / 3  # detail gone
    assert np.array_equal(blur_regions(frame, np.zeros((0, 4), np.float32)), frame)


def test_redact_unmatched_uses_the_person_field() -> None:
    frame = np.random.default_rng(1).integers(0, 255, (100, 200, 3), dtype=np.uint8)
    detections = Detections(
        boxes=np.array([[10, 10, 50, 50], [110, 10, 150, 50], [60, 60, 90, 90]], np.float32),
        scores=np.ones(3, np.float32),
        class_ids=np.array([CLASS_FACE, CLASS_FACE, CLASS_PLATE], np.int32),
        data={"person": ["A", UNKNOWN, None]},
    )
    out = redact_unmatched(frame, detections)
    assert np.array_equal(out[10:50, 10:50], frame[10:50, 10:50])  # matched: kept
    assert not np.array_equal(out[10:50, 110:150], frame[10:50, 110:150])  # unknown: blurred
    assert np.array_equal(out[60:90, 60:90], frame[60:90, 60:90])  # not a face


# -- alignment -------------------------------------------------------------------------------------


def test_similarity_transform_recovers_a_known_one() -> None:
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = TEMPLATE.astype(np.float64)
    dst = src @ rot.T + shift
    matrix = similarity_transform(src.astype(np.float32), dst.astype(np.float32))
    assert np.allclose(matrix[:, :2], rot, atol=1e-4) and np.allclose(matrix[:, 2], shift, atol=1e-3)


@pytest.mark.parametrize("zoom", [1.0, 4.0])
def test_align_puts_landmarks_on_the_template(zoom: float) -> None:
    """Dots drawn at the template (scaled up `zoom` times, which takes the shrink-first path)
    land back on the template in the chip."""
    size = int(CHIP_SIZE * zoom)
    image = np.zeros((size, size, 3), np.uint8)
    landmarks = TEMPLATE * zoom
    for x, y in landmarks:
        cv2.circle(image, (round(x), round(y)), max(2, round(2 * zoom)), (255, 255, 255), -1)
    chip = align(image, landmarks.astype(np.float32))
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
    for x, y in TEMPLATE:
        assert chip[round(y), round(x)].mean() > 100


# -- installation ----------------------------------------------------------------------------------


def test_installers_record_hash_and_licence(model_store: Path) -> None:
    manifest = json.loads((model_store / "manifest.json").read_text())["models"]
    assert set(INSTALLERS) == {"yunet", "dlib-resnet"}
    assert manifest["yunet"]["licence"] == "Apache-2.0"
    assert (model_store / "yunet" / manifest["yunet"]["version"] / "LICENSE").is_file()
    assert "public domain" in manifest["dlib-resnet"]["licence"]
    assert all(len(entry["sha256"]) == 64 and entry["source_sha256"] for entry in manifest.values())


def test_installer_errors_are_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATTHAN_MODEL_STORE", str(tmp_path / "store"))
    with pytest.raises(ModelMissingError, match="pass --from DIR") as missing:
        install_yunet(tmp_path)
    assert "\n" not in str(missing.value)
    (tmp_path / "yunet_s_dynamic.onnx").write_bytes(b"something else")
    with pytest.raises(ModelMissingError, match="expected daede24002cc"):
        install_yunet(tmp_path)
    with pytest.raises(ModelMissingError, match=r"dlib_face_recognition_resnet_model_v1\.dat not found"):
        INSTALLERS["dlib-resnet"](tmp_path)


def test_a_changed_model_file_is_caught(
    model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("MATTHAN_MODEL_STORE", str(store))
    entry = install_yunet(None)
    entry.path.write_bytes(entry.path.read_bytes()[:-10])
    with pytest.raises(ModelMissingError, match="install yunet` again"):
        resolve("yunet", "matthan models install yunet")
