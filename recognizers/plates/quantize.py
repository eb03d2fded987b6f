"""Int8 quantisation of the plate reader's ONNX model (onnxruntime's static quantisation).

The reader is a plain stack of 3×3 convolutions, which onnxruntime runs about twice as fast in int8
on this CPU (AVX-512 VNNI) as in float32, for the same readings (measured on plate-reader 5,
2026-12-05: validation 0.981 either way, network 0.53 ms instead of 1.17 ms per crop). Weights are
quantised per output channel (int8, symmetric), activations per tensor (uint8) with ranges taken as
the minimum and maximum seen on calibration crops: real crops of the training split only, picked
by a seeded draw, so the same float model always gives the same int8 model. The graph keeps float32
input and output (QDQ format), so the reader's contract does not change. The first convolution
(over the one greyscale channel) stays in float32, where it is ten times faster (see
`single_channel_convs`; `recognizers.onnx.make_session` keeps onnxruntime from moving the pool after
it into uint8). What follows the last convolution (the transpose and the softmax) stays in float32
too, since 8-bit probabilities (steps of 1/255) would turn every small probability into zero, and
the decoder works on their logarithms.

Needs the `onnx` package (the `train` extra); the product only runs the result.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.plates.reader import preprocess

log = logging.getLogger(__name__)

#: crops drawn from the training split to calibrate the activation ranges
CALIBRATION_CROPS = 300
QUANTISED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger"})


def _graph(path: Path) -> Any:
    import onnx

    return onnx.load(str(path)).graph


def is_quantised(path: Path, graph: Any = None) -> bool:
    """True when the ONNX file at `path` (or its loaded `graph`) holds int8 (quantise/dequantise) nodes."""
    graph = graph if graph is not None else _graph(path)
    return any(node.op_type in QUANTISED_OPS for node in graph.node)


def after_last_conv(path: Path, graph: Any = None) -> list[str]:
    """Names of the nodes after the graph's last convolution (kept in float32)."""
    nodes = list((graph if graph is not None else _graph(path)).node)
    convs = [i for i, node in enumerate(nodes) if node.op_type == "Conv"]
    if not convs:
        raise ValueError(f"{path} has no convolution: not a plate reader")
    return [node.name for node in nodes[convs[-1] + 1 :] if node.op_type != "Constant"]


def single_channel_convs(path: Path, graph: Any = None) -> list[str]:
    """Names of the convolutions with one input channel (the first, on the greyscale crop), kept in
    float32: int8 has nothing to gain on a 3x3 kernel over one channel and onnxruntime's int8
    convolution spends more on it than on any other layer (measured 2026-12-06, plate-reader 6: 362 of
    956 microseconds per crop)."""
    graph = graph if graph is not None else _graph(path)
    weights = {init.name: list(init.dims) for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "Conv" and weights.get(node.input[1], [0, 0])[1:2] == [1]
    ]


def calibration_images(paths: Sequence[Path], n: int = CALIBRATION_CROPS, seed: int = 0) -> list[Path]:
    """A seeded draw of `n` of `paths` (all of them when there are fewer)."""
    if not paths:
        raise ValueError("no calibration crops: quantisation needs crops of the training split")
    ordered = sorted(paths)
    if len(ordered) <= n:
        return ordered
    picked = np.random.default_rng(seed).choice(len(ordered), n, replace=False)
    return [ordered[i] for i in sorted(picked)]


def _inputs(paths: Sequence[Path], input_name: str) -> Iterator[dict[str, npt.NDArray[np.float32]]]:
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"calibration crop {path} cannot be read")
        yield {input_name: preprocess(np.asarray(image, np.uint8))[None]}


def quantise_reader(src: Path, dst: Path, crops: Sequence[Path]) -> dict[str, Any]:
    """Write the int8 version of the float reader `src` to `dst` (may be `src` itself), calibrated on
    `crops` (image files of the training split). Returns what was done, for the model card."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    graph = _graph(src)
    if is_quantised(src, graph):
        raise ValueError(f"{src} is already quantised")
    input_name = graph.input[0].name

    class Crops(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = _inputs(crops, input_name)

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.onnx"
        quantize_static(
            str(src),
            str(out),
            Crops(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=single_channel_convs(src, graph) + after_last_conv(src, graph),
        )
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(out), dst)
    log.info("quantised %s -> %s (%d calibration crops)", src, dst, len(crops))
    return {
        "method": "onnxruntime static quantisation, QDQ: weights int8 per output channel, activations "
        "uint8 per tensor, ranges min/max over the calibration crops; the first convolution (one input "
        "channel) and the softmax after the last convolution in float32",
        "calibration_crops": len(crops),
    }
