"""A stand-in for a vendor's system on the `--sut-command` path: a separate process that reads the
runner's environment (camera list, Kafka bootstrap, topic prefix), runs our agent with the bar
recogniser of `tests/fixtures/bar_recognizer.py`, and stops cleanly on SIGTERM.

    python -m tests.conformance.command_sut
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from types import FrameType

from matthan.edge import config as config_module
from matthan.edge.agent import Agent
from matthan.edge.config import parse_config


def main() -> int:
    config_module.BACKENDS["bars"] = "tests.fixtures.bar_recognizer:BarsConfig:BarDetector"
    cameras_file = Path(os.environ["MATTHAN_CONFORMANCE_CAMERAS"])
    config = parse_config(
        {
            "agent_id": "vendor",
            "data_dir": str(cameras_file.parent / "vendor-agent"),
            "kafka": {"bootstrap_servers": os.environ["MATTHAN_CONFORMANCE_BOOTSTRAP"]},
            "topic_prefix": os.environ["MATTHAN_CONFORMANCE_TOPIC_PREFIX"],
            "http": {"enabled": False},
            "defaults": {"recognizers": ["bars"], "reconnect_max_s": 1.0},
            "cameras": json.loads(cameras_file.read_text()),
        },
        "command SUT",
    )
    stop = threading.Event()

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    agent = Agent(config).start()
    stop.wait()
    agent.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
