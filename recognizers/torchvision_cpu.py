"""torchvision's PyPI wheel with the CPU build of torch (training and baselines only).

The torchvision wheel on PyPI (0.28.0, the one that pairs with the project's torch 2.13.0) is built
against CUDA torch: with the CPU torch that the `train` extra pins its compiled ops do not load, and
`import torchvision` fails registering fake kernels for ops that were never defined. Its Python parts
(models, transforms) work. `use_cpu_torchvision` declares the two ops the import needs and gives
`nms`, the one op EasyOCR's and ultralytics' code paths here call, a CPU kernel: the plate
detector's own NMS (numpy).

Nothing at run time imports this module: the runtime has no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from matthan.recognizers.plates.detector import nms as numpy_nms

_LIBRARY: list[Any] = []  # the torch.library.Library that holds the definitions (kept alive)


def nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """torchvision's `nms` contract (indices of the kept boxes x1, y1, x2, y2, highest score first)
    met by the plate detector's own NMS in numpy."""
    torch = importlib.import_module("torch")
    keep = numpy_nms(
        boxes.detach().cpu().float().numpy(), scores.detach().cpu().float().numpy(), iou_threshold
    )
    return torch.from_numpy(keep.astype("int64"))


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
