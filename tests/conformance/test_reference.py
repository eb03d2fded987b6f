"""The model-level runner: a vendor's model file swapped into the reference pipeline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from matthan.benchmarks.conformance.reference import ReferenceSut
from matthan.benchmarks.conformance.suite import load_suite, sha256_file
from matthan.edge.cli import main
from tests.recognizers.faces.conftest import model_store, store_root, yunet_store

__all__ = ["model_store", "store_root", "yunet_store"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--face-embedder", "{model}"], "--face-embedder swaps a model of the reference pipeline"),
        (["--sut", "reference", "--plate-reader", "{missing}"], "--plate-reader: "),
        (["--sut", "reference", "--face-threshold", "0.5"], "--face-threshold goes with --face-embedder"),
    ],
)
def test_model_options_are_checked_before_anything_starts(
    bar_suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    model = tmp_path / "vendor.onnx"
    model.write_bytes(b"onnx")
    args = [a.format(model=model, missing=tmp_path / "nope.onnx") for a in extra]
    assert main(["conformance", "run", "--suite", str(bar_suite), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_vendor_face_embedder_replaces_dlib_resnet_for_the_run(
    bar_suite: Path, tmp_path: Path, model_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matthan.recognizers.faces.pipeline import resolve_embedder

    monkeypatch.setenv("MATTHAN_MODEL_STORE", str(model_store))
    vendor = tmp_path / "vendor-embedder.onnx"
    shutil.copyfile(resolve_embedder().path, vendor)
    sut = ReferenceSut(load_suite(bar_suite), face_embedder=vendor, face_threshold=0.5)
    sut._private_store(tmp_path / "work")
    try:
        entry = resolve_embedder()
        assert entry.path == tmp_path / "work" / "models" / "dlib-resnet" / "vendor" / "model.onnx"
        assert entry.sha256 == sha256_file(vendor)
        assert sut._recognizers(tmp_path / "db")[-1] == {
            "type": "faces",
            "watchlist_db": str(tmp_path / "db"),
            "match_threshold": 0.5,
        }
    finally:
        sut.stop()
    assert os.environ["MATTHAN_MODEL_STORE"] == str(model_store), "the user's store is back after the run"
    assert sut.describe()["models"]["dlib-resnet"]["sha256"] == sha256_file(vendor)
