"""The ultralytics baseline trains offline: nothing it runs may reach the network."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from matthan.recognizers.onnx import make_session
from matthan.recognizers.plates.detector import nms as numpy_nms
from tests.conftest import shared_path

#: runs train_yolo.main with every TCP/UDP connection and name lookup refused and recorded (as the
#: `no_network` fixture does in-process; ultralytics runs in its own process so that its import-time
#: settings and global changes stay out of the test session), then prints what was attempted
REFUSING_RUNNER = """
import json, socket, sys
attempts = []
real_connect = socket.socket.connect
def connect(sock, address):
    if sock.family == socket.AF_UNIX:
        return real_connect(sock, address)
    attempts.append(f"connect {address!r}")
    raise OSError("network disabled for this test")
def lookup(host, *args, **kwargs):
    attempts.append(f"name lookup {host!r}")
    raise OSError("network disabled for this test")
socket.socket.connect = connect
socket.getaddrinfo = lookup
socket.gethostbyname = lookup
from matthan.recognizers.plates.train_yolo import main
rc = main(sys.argv[1:])
print("NETWORK_ATTEMPTS " + json.dumps(attempts))
sys.exit(rc)
"""


def test_yolo_trains_and_exports_with_no_network(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    data = shared_path("datasets/vn-plate-scenes")
    out = tmp_path / "run"
    args = ["--data", str(data), "--out", str(out), "--epochs", "1", "--imgsz", "64", "--batch", "4"]
    proc = subprocess.run(
        [sys.executable, "-c", REFUSING_RUNNER, *args, "--max-images", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    attempts = [line for line in proc.stdout.splitlines() if line.startswith("NETWORK_ATTEMPTS ")]
    assert attempts == ["NETWORK_ATTEMPTS []"], proc.stdout[-2000:]
    summary = json.loads([line for line in proc.stdout.splitlines() if line.startswith('{"model"')][-1])
    assert summary["network_ms_p50"] > 0
    # measured on the linked valid images as `matthan eval scenes` measures (a 1-epoch model finds little)
    assert summary["valid"]["n_images"] == 4 and summary["valid"]["n_plates"] >= 4
    assert 0.0 <= summary["valid"]["recall"] <= 1.0
    # the export is a YOLO detection head over the two layouts: (1, 4 + 2, anchors)
    session = make_session(out / "model.onnx")
    (output,) = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 64, 64), np.float32)})
    assert output.shape[:2] == (1, 6)
    settings = json.loads((out / "ultralytics" / "Ultralytics" / "settings.json").read_text())
    assert settings["sync"] is False and settings["wandb"] is False
    assert (out / "ultralytics" / "Ultralytics" / "Arial.ttf").stat().st_size > 100_000
    # the labels cache went into the run's folder, not into the shared data
    assert (out / "dataset" / "train" / "labels.cache").is_file()
    assert len(list((out / "dataset" / "train" / "images").iterdir())) == 4


def test_pretrained_weights_are_refused() -> None:
    from matthan.recognizers.plates.train_yolo import main

    with pytest.raises(SystemExit, match="model YAML"):
        main(["--model", "yolov8n.pt"])


def test_cpu_nms_matches_the_detectors_numpy_nms() -> None:
    torch = pytest.importorskip("torch")
    from matthan.recognizers.torchvision_cpu import nms

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (60, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (60, 2)).astype(np.float32)], 1)
    scores = rng.uniform(0, 1, 60).astype(np.float32)
    for iou in (0.3, 0.5, 0.7):
        got = nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
        assert got.tolist() == numpy_nms(boxes, scores, iou).tolist()
    assert nms(torch.zeros((0, 4)), torch.zeros(0), 0.5).numel() == 0


def _constant_yolo(path: Path, output: np.ndarray, imgsz: int) -> Path:
    """An ONNX model with a YOLO export's contract whose output is `output` whatever the image."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["output0"], value=numpy_helper.from_array(output, "value"))],
        "constant_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_yolo_outputs_are_decoded_to_frame_boxes_with_nms(tmp_path: Path) -> None:
    from matthan.recognizers.plates.train_yolo import YoloPlates

    # anchors (columns): cx, cy, w, h in network pixels, then the one-row and two-row scores
    anchors = [
        [20, 30, 10, 6, 0.1, 0.9],  # a plate
        [21, 30, 10, 6, 0.8, 0.2],  # the same plate again, less sure: suppressed
        [50, 50, 8, 4, 0.1, 0.1],  # under the score threshold
    ]
    output = np.asarray(anchors, np.float32).T[None]
    yolo = YoloPlates(_constant_yolo(tmp_path / "c.onnx", output, 64), imgsz=64)
    dets = yolo(np.zeros((128, 96, 3), np.uint8))  # longest side 128 -> 64: boxes scaled by 2
    assert dets.boxes.tolist() == [[30.0, 54.0, 50.0, 66.0]]
    assert dets.scores.tolist() == pytest.approx([0.9])
