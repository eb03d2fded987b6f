"""The dlib -> ONNX conversion: the ONNX network gives dlib's own embeddings on real faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from matthan.models import resolve
from matthan.recognizers.faces.align import align
from matthan.recognizers.faces.convert_dlib import DlibFormatError, read_dlib_net
from matthan.recognizers.faces.embed import DlibEmbedder
from matthan.recognizers.faces.yunet import YuNetDetector

#: largest euclidean distance allowed between dlib's and our embedding of the same chip. dlib's
#: same-person threshold is 0.6 and ours 0.48; we measured at most ~1.2e-6 (float rounding).
TOLERANCE = 1e-4


def test_reads_the_published_architecture(dlib_dat: Path) -> None:
    net = read_dlib_net(dlib_dat)
    kinds = [layer.kind for layer in net.layers]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("add_prev") == 14
    assert kinds[-1] == "fc" and net.chip_size == (150, 150)
    assert net.loss_threshold == pytest.approx(0.6)
    assert np.allclose(net.mean_rgb, (122.782, 117.001, 104.298), atol=1e-3)


def test_rejects_a_file_that_is_not_the_network(dlib_dat: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(dlib_dat.read_bytes()[:200_000])
    with pytest.raises(DlibFormatError, match="end of file"):
        read_dlib_net(truncated)
    other = tmp_path / "other.dat"
    other.write_bytes(b"\x01\x01\x01\x05hello")
    with pytest.raises(DlibFormatError, match="loss_metric_2"):
        read_dlib_net(other)


def _real_chips(deepface: Path, orl: Path, detector: Path) -> np.ndarray:
    det = YuNetDetector(detector)
    chips = []
    paths = sorted((deepface / "images").glob("img*.jpg"))[:8] + sorted(orl.glob("s1*/1.pgm"))[:8]
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        found = det.detect(image)
        chips += [align(image, lm) for lm in found.landmarks[:2]]
    assert len(chips) >= 12
    return np.stack(chips)


def test_onnx_embeddings_match_dlib_on_real_faces(
    models: Path, deepface: Path, orl: Path, dlib_dat: Path
) -> None:
    dlib = pytest.importorskip("dlib", reason="needs the PyPI package dlib-bin (converter extra)")
    chips = _real_chips(deepface, orl, resolve("yunet", "-").path)
    reference = dlib.face_recognition_model_v1(str(dlib_dat))
    theirs = np.array(
        [np.asarray(reference.compute_face_descriptor(np.ascontiguousarray(c[:, :, ::-1]))) for c in chips]
    )
    ours = DlibEmbedder(resolve("dlib-resnet", "-").path).embed(chips)
    gap = np.linalg.norm(ours - theirs, axis=1)
    assert gap.max() < TOLERANCE, f"largest gap {gap.max():.2e}"
    # and the embeddings are real ones: different faces are far apart
    assert np.linalg.norm(theirs[0] - theirs[-1]) > 0.3
