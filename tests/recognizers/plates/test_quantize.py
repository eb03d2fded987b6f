"""Int8 quantisation of the plate reader: same contract, nearly the same output, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from matthan.recognizers.plates import grammar
from matthan.recognizers.plates.reader import FRAMES, INPUT_H, INPUT_W, PlateReader, preprocess
from matthan.recognizers.synth.plates import render_plate

pytest.importorskip("onnx", reason="quantisation needs the train extra (onnx)")
quantize = pytest.importorskip("matthan.recognizers.plates.quantize")


def _plates(folder: Path, n: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        plate = grammar.random_plate(rng, rows=1 + i % 2, category="civil")
        image = render_plate(plate.text, plate.rows, "white", rng, height_px=64).image
        path = folder / f"plate{i}.png"
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def float_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A float reader of the shipped architecture, with its initial weights (no training needed)."""
    torch = pytest.importorskip("torch")
    from matthan.recognizers.plates import train_reader

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("float") / "model.onnx"
    train_reader.export_onnx(train_reader.build_model().eval(), path)
    return path


def _probs(path: Path, images: list[Path]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = np.stack([preprocess(cv2.imread(str(p))) for p in images])
    return np.asarray(session.run(None, {"image": batch})[0])


def test_int8_model_keeps_the_contract_and_the_output(float_model: Path, tmp_path: Path) -> None:
    calibration = _plates(tmp_path / "calib", 16, seed=0)
    others = _plates(tmp_path / "other", 8, seed=1)
    int8 = tmp_path / "int8" / "model.onnx"
    info = quantize.quantise_reader(float_model, int8, calibration)
    assert info["calibration_crops"] == 16
    assert not quantize.is_quantised(float_model)
    assert quantize.is_quantised(int8)
    assert int8.stat().st_size < float_model.stat().st_size / 2  # int8 weights: about a quarter

    session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("image", "tensor(float)", [1, INPUT_H, INPUT_W])
    assert (out.name, out.type, out.shape[1:]) == ("probs", "tensor(float)", [2, FRAMES, 37])
    before, after = _probs(float_model, others), _probs(int8, others)
    np.testing.assert_allclose(after.sum(axis=-1), 1.0, atol=1e-4)
    # crops it was not calibrated on: the same distributions within int8 rounding
    assert np.abs(after - before).max() < 0.05
    assert PlateReader(int8).read(cv2.imread(str(others[0]))).format in ("vn", "unknown")


def test_quantising_twice_or_without_crops_is_a_clear_error(float_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no calibration crops"):
        quantize.calibration_images([])
    int8 = tmp_path / "int8.onnx"
    quantize.quantise_reader(float_model, int8, _plates(tmp_path / "calib", 4, seed=0))
    with pytest.raises(ValueError, match="already quantised"):
        quantize.quantise_reader(int8, tmp_path / "again.onnx", [])
    with pytest.raises(FileNotFoundError, match="cannot be read"):
        quantize.quantise_reader(float_model, tmp_path / "x.onnx", [tmp_path / "missing.png"])


def test_calibration_draw_is_seeded_and_takes_all_when_few(tmp_path: Path) -> None:
    paths = [tmp_path / f"{i:03d}.png" for i in range(50)]
    first = quantize.calibration_images(paths, n=10, seed=3)
    assert first == quantize.calibration_images(list(reversed(paths)), n=10, seed=3)
    assert len(set(first)) == 10
    assert first != quantize.calibration_images(paths, n=10, seed=4)
    assert quantize.calibration_images(paths[:5], n=10) == paths[:5]


def test_probabilities_stay_float_so_small_ones_are_not_zero(float_model: Path, tmp_path: Path) -> None:
    """The softmax is left out of quantisation: 8-bit probabilities would make most of them 0."""
    assert quantize.after_last_conv(float_model)  # the transpose and softmax behind the head
    int8 = tmp_path / "int8.onnx"
    quantize.quantise_reader(float_model, int8, _plates(tmp_path / "calib", 8, seed=0))
    probs = _probs(int8, _plates(tmp_path / "other", 4, seed=1))
    assert (probs > 0).all()
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-4)


def test_first_convolution_over_the_grey_channel_stays_float(float_model: Path, tmp_path: Path) -> None:
    """int8 gains nothing on a 3x3 kernel over one channel, and onnxruntime's int8 convolution spent
    more on it than on any other layer: it is left in float32, and so is its input."""
    import onnx

    first = quantize.single_channel_convs(float_model)
    assert len(first) == 1
    int8 = tmp_path / "int8.onnx"
    quantize.quantise_reader(float_model, int8, _plates(tmp_path / "calib", 8, seed=0))
    graph = onnx.load(str(int8)).graph
    conv = next(node for node in graph.node if node.name == first[0])
    assert conv.op_type == "Conv" and conv.input[0] == "image"  # no quantise/dequantise on the crop
    assert sum(node.op_type == "QuantizeLinear" for node in graph.node) >= 5  # the rest is int8
    others = _plates(tmp_path / "other", 4, seed=1)
    assert np.abs(_probs(int8, others) - _probs(float_model, others)).max() < 0.05


def test_sessions_keep_the_first_pool_out_of_uint8(float_model: Path, tmp_path: Path) -> None:
    """With onnxruntime's QDQ propagation the pool after the float convolution would run in uint8,
    NCHW layout, which has no fast kernel: `make_session` turns the propagation off. Checked on the
    graph onnxruntime optimises, not by timing."""
    import onnx

    from matthan.recognizers.onnx import DISABLED_OPTIMIZERS, make_session

    int8 = tmp_path / "int8.onnx"
    quantize.quantise_reader(float_model, int8, _plates(tmp_path / "calib", 8, seed=0))

    def optimised_pool_inputs(disabled: list[str]) -> set[str]:
        out = tmp_path / f"opt-{len(disabled)}.onnx"
        opts = ort.SessionOptions()
        opts.optimized_model_filepath = str(out)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        ort.InferenceSession(
            str(int8), opts, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
        )
        graph = onnx.load(str(out)).graph
        producers = {o: node.op_type for node in graph.node for o in node.output}
        pools = [node for node in graph.node if node.op_type == "MaxPool"]
        return {producers.get(pools[0].input[0], "input")}

    assert optimised_pool_inputs([]) == {"QuantizeLinear"}  # what make_session prevents
    assert optimised_pool_inputs(list(DISABLED_OPTIMIZERS)) != {"QuantizeLinear"}
    make_session(int8).run(None, {"image": np.zeros((1, 1, INPUT_H, INPUT_W), np.float32)})
