"""onnxruntime sessions with explicit, small-machine thread settings."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def make_session(path: Path | str, threads: int = 1) -> ort.InferenceSession:
    """An inference session on the CPU with `threads` intra-op threads and no spinning.

    onnxruntime's defaults spin one busy thread per core, which starves the decoder and the other
    cameras on a 2-core edge machine.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
