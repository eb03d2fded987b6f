"""Face embeddings: dlib's ResNet (converted to ONNX by `convert_dlib.py`) on onnxruntime.

Two chips of the same person are within euclidean distance ~0.6 of each other (dlib's own
threshold); we calibrate our own threshold in `match.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from matthan.recognizers.faces.align import CHIP_SIZE
from matthan.recognizers.onnx import make_session

EMBEDDING_SIZE = 128


class DlibEmbedder:
    """Turns aligned 150×150 BGR chips into 128-d embeddings (not normalised; compare by L2)."""

    def __init__(self, model: Path, *, threads: int = 1, batch: int = 8) -> None:
        self.session = make_session(model, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.batch = batch

    def embed(self, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(N, 150, 150, 3) BGR uint8 chips -> (N, 128) float32."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"expected (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) chips, got {chips.shape}")
        out = np.zeros((len(chips), EMBEDDING_SIZE), np.float32)
        for start in range(0, len(chips), self.batch):
            part = chips[start : start + self.batch, :, :, ::-1]  # the network takes RGB
            blob = np.ascontiguousarray(part.transpose(0, 3, 1, 2), dtype=np.float32)
            out[start : start + len(part)] = self.session.run(None, {self.input_name: blob})[0]
        return out
