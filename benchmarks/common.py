"""What every benchmark shares: the machine it ran on and its section of `RESULTS.md`."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_DIR = HERE / "results"


def cpu_model() -> str:
    """The processor's model name (lscpu), e.g. 'AMD EPYC'."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def speed_reference_ms(repeats: int = 3) -> float:
    """Milliseconds a fixed single-thread workload takes now (median of `repeats`): Python loops and
    small numpy products, like a reader's pre- and post-processing. Latencies measured on different
    days compare only with this beside them: a shared machine's speed changes from day to day."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i
        b = a
        for _ in range(2_000):
            b = np.tanh(b @ a)
        times.append((time.perf_counter() - t0) * 1000)
    return float(sorted(times)[len(times) // 2])


def write_section(section: str, text: str, results_md: Path = RESULTS_MD) -> None:
    """Replace (or append) the section headed `section` (e.g. '## Faces') in RESULTS.md, re-reading
    the file just before writing, so benchmarks that ran one after another keep each other's."""
    current = results_md.read_text() if results_md.is_file() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = text.rstrip() + "\n\n"
    if pattern.search(current):
        new = pattern.sub(lambda _m: block, current)
    else:
        new = current.rstrip() + "\n\n" + block
    results_md.write_text(new.rstrip() + "\n")


def write_json(name: str, result: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return path
