"""`matthan demo`: the whole system on one machine with embedded defaults.

Starts the embedded broker, renders the synthetic street clip (once, cached) and serves it over a
real RTSP server, runs an agent on it, and prints every event consumed back from Kafka. Ctrl-C
stops everything in order.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from matthan.edge.agent import Agent
from matthan.edge.config import parse_config
from matthan.edge.console import ConsoleView
from matthan.integration.broker import EmbeddedBroker
from matthan.integration.events import topics
from matthan.integration.kafka import KafkaSettings, ensure_topics
from matthan.integration.rtsp_server import RtspServer

log = logging.getLogger(__name__)

DEMO_CLIP_SECONDS = 30.0


def demo_clip(data_dir: Path, seed: int = 7) -> Path:
    """The synthetic street clip, rendered on first use and reused afterwards."""
    from matthan.recognizers.synth.street import make_street_clip

    clip = data_dir / f"street-seed{seed}.mp4"
    if not clip.is_file():
        log.info("rendering the synthetic street clip (once) to %s", clip)
        clip.parent.mkdir(parents=True, exist_ok=True)
        tmp = clip.with_name("rendering-" + clip.name)
        make_street_clip(tmp, seconds=DEMO_CLIP_SECONDS, seed=seed)
        tmp.with_suffix(".truth.json").replace(clip.with_suffix(".truth.json"))
        tmp.replace(clip)
    return clip


def default_recognizers() -> list[Any]:
    """Every recogniser this install has; one whose model is missing says so when it loads."""
    from matthan.edge.config import BACKENDS, backend_classes

    available = []
    for name in BACKENDS:
        try:
            backend_classes(name)
        except ValueError as exc:
            log.warning("demo runs without %s: %s", name, exc)
            continue
        available.append(name)
    return available


def run_demo(
    source: str | None,
    data_dir: Path,
    bootstrap: str | None,
    seconds: float | None,
    out: Any = sys.stdout,
    recognizers: list[Any] | None = None,
) -> int:
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    broker: EmbeddedBroker | None = None
    server: RtspServer | None = None
    agent: Agent | None = None
    console: ConsoleView | None = None
    try:
        if bootstrap:
            settings = KafkaSettings(bootstrap_servers=bootstrap)
        else:
            broker = EmbeddedBroker(log_path=data_dir / "broker.log").start()
            settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        prefix = "matthan."
        ensure_topics(settings, topics(prefix))

        if source is None or not source.startswith(("rtsp://", "rtsps://")):
            clip = Path(source) if source else demo_clip(data_dir / "clips")
            server = RtspServer({"/street": clip}, log_path=data_dir / "rtsp.log").start()
            url = server.url("/street")
        else:
            url = source
        config = parse_config(
            {
                "agent_id": "demo-agent",
                "data_dir": str(data_dir / "agent"),
                "kafka": {"bootstrap_servers": settings.bootstrap_servers},
                "topic_prefix": prefix,
                "heartbeat_s": 10,
                "defaults": {
                    "recognizers": recognizers if recognizers is not None else default_recognizers()
                },
                "cameras": [{"id": "demo-street", "url": url}],
            },
            "demo",
        )
        print(
            f"matthan demo: broker {settings.bootstrap_servers}, camera {url}; Ctrl-C stops",
            file=out,
            flush=True,
        )
        console = ConsoleView(settings, prefix, out)
        viewer = threading.Thread(target=console.run, name="console", daemon=True)
        viewer.start()
        agent = Agent(config).start()
        deadline = None if seconds is None else time.monotonic() + seconds
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            stop.wait(0.2)
        print("matthan demo: stopping", file=out, flush=True)
        return 0
    finally:
        if agent is not None:
            agent.stop(flush_timeout_s=5)
        if console is not None:
            time.sleep(1.0)  # let the view print what the agent flushed last
            console.stop()
        if server is not None:
            server.stop()
        if broker is not None:
            broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
