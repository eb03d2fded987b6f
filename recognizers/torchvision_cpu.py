"""torchvision's PyPI wheel with the CPU build of torch (training and baselines only).

The torchvision wheel on PyPI (0.28.0, the one that pairs with the project's torch 2.13.0) is built
against CUDA torch: with the CPU torch that the `train` extra pins its compiled ops do not load, and
`import torchvision` fails registering fake kernels for ops that were never defined. Its Python parts
(models, transforms) work. `use_cpu_torchvision` declares the two ops the import needs and gives
`nms`, the one op EasyOCR's and ultralytics' code paths here call, a CPU implementation in torch.

Nothing at run time imports this module: the runtime has no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LIBRARY: list[Any] = []  # the torch.library.Library that holds the definitions (kept alive)


def nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy non-maximum suppression with torchvision's contract: indices of the kept boxes
    (x1, y1, x2, y2), highest score first."""
    torch = importlib.import_module("torch")
    order = scores.argsort(descending=True)
    areas = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    keep = []
    while order.numel():
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = (torch.minimum(boxes[i, 2], boxes[rest, 2]) - torch.maximum(boxes[i, 0], boxes[rest, 0])).clamp(
            min=0
        )
        h = (torch.minimum(boxes[i, 3], boxes[rest, 3]) - torch.maximum(boxes[i, 1], boxes[rest, 1])).clamp(
            min=0
        )
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter).clamp(min=1e-9) <= iou_threshold]
    if not keep:
        return torch.zeros(0, dtype=torch.long)
    return torch.stack(keep)


def use_cpu_torchvision() -> None:
    """Make `import torchvision` work with the CPU torch, with a working `torchvision.ops.nms`. Does
    nothing when torchvision's own ops loaded (a torchvision built for this torch)."""
    torch = importlib.import_module("torch")
    if _LIBRARY or torch.ops.torchvision.__dict__.get("nms"):
        return
    try:
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl("nms", nms, "CPU")
    except RuntimeError:
        return  # torchvision's own ops are defined: nothing to stand in for
    _LIBRARY.append(lib)
    extension: Any = importlib.import_module("torchvision.extension")
    if not extension._has_ops():
        # torchvision checks this flag before calling its ops; `nms` now has a CPU kernel
        extension._has_ops = lambda: True
