"""onnxruntime sessions with explicit, small-machine thread settings."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

#: onnxruntime graph optimisers that `make_session` turns off (see there)
DISABLED_OPTIMIZERS = ("QDQPropagationTransformer",)


def make_session(path: Path | str, threads: int = 1) -> ort.InferenceSession:
    """An inference session on the CPU with `threads` intra-op threads and no spinning.

    onnxruntime's defaults spin one busy thread per core, which starves the decoder and the other
    cameras on a 2-core edge machine.

    onnxruntime's QDQ propagation is off: it moves an int8 model's quantisation up through a max-pool
    that follows a float32 layer, which turns the pool into a uint8 one in NCHW layout that has no fast
    kernel (the plate reader keeps its first convolution, over one input channel, in float32: with
    propagation its first pool took 0.6 ms, without it the whole network takes 0.56 ms instead of
    0.95 ms for the all-int8 model; measured 2026-12-06). Float32 models are not affected.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(
        str(path),
        sess_options=opts,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_OPTIMIZERS),
    )
