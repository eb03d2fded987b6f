"""Sub-commands of the edge package: `agent`, `demo`, `watch`, `models`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from matthan.edge.errors import CommandError

log = logging.getLogger(__name__)


def register(commands: Any, eval_commands: Any) -> None:
    agent = commands.add_parser("agent", help="run an edge agent from a YAML config")
    agent.add_argument("--config", type=Path, required=True, help="agent YAML file (see agent.example.yaml)")
    agent.add_argument("--check", action="store_true", help="only validate the config and exit")
    agent.set_defaults(func=cmd_agent)

    demo = commands.add_parser("demo", help="broker + RTSP camera + agent + live event view, all embedded")
    demo.add_argument("--source", help="an RTSP URL or a video file (default: the synthetic street clip)")
    demo.add_argument(
        "--bootstrap", help="use this Kafka cluster (HOST:PORT,...) instead of the embedded broker"
    )
    demo.add_argument(
        "--data-dir", type=Path, default=Path("var/demo"), help="where logs, clips and spool go"
    )
    demo.add_argument("--seconds", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    demo.set_defaults(func=cmd_demo)

    watch = commands.add_parser("watch", help="print events from a Kafka cluster, one line each")
    watch.add_argument("--bootstrap", required=True, help="HOST:PORT[,HOST:PORT...]")
    watch.add_argument("--topic-prefix", default="matthan.")
    watch.set_defaults(func=cmd_watch)

    models = commands.add_parser("models", help="install and list models")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION")
    install = models_sub.add_parser("install", help="place a third-party model into the model store")
    install.add_argument("name", help="model name, e.g. yunet or dlib-resnet")
    install.add_argument("--from", dest="source", type=Path, help="folder holding the original files")
    install.set_defaults(func=cmd_models_install)
    listing = models_sub.add_parser("list", help="list installed models and check their hashes")
    listing.set_defaults(func=cmd_models_list)
    models.set_defaults(func=lambda _a: models.print_help() or 2)


def _quiet_kafka(debug: bool) -> None:
    if not debug:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


def cmd_agent(args: argparse.Namespace) -> int:
    from matthan.edge.agent import Agent
    from matthan.edge.config import ConfigError, load_config
    from matthan.integration.broker import BrokerError

    _quiet_kafka(args.debug)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if args.check:
        print(f"{args.config}: OK ({len(config.cameras)} camera(s))")
        return 0
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        agent = Agent(config).start()
    except BrokerError as exc:
        raise CommandError(str(exc)) from None
    try:
        while not stop.wait(0.5):
            pass
    finally:
        agent.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from matthan.edge.demo import run_demo
    from matthan.integration.broker import BrokerError
    from matthan.integration.rtsp_server import RtspServerError

    _quiet_kafka(args.debug)
    try:
        return run_demo(args.source, args.data_dir, args.bootstrap, args.seconds)
    except (BrokerError, RtspServerError) as exc:
        raise CommandError(str(exc)) from None


def cmd_watch(args: argparse.Namespace) -> int:
    from matthan.edge.console import ConsoleView
    from matthan.integration.kafka import KafkaSettings

    _quiet_kafka(args.debug)
    view = ConsoleView(KafkaSettings(bootstrap_servers=args.bootstrap), args.topic_prefix, sys.stdout)
    signal.signal(signal.SIGTERM, lambda *_: view.stop())
    try:
        view.run()
    except KeyboardInterrupt:
        view.stop()
    return 0


def _installers() -> dict[str, Any]:
    try:
        from matthan.recognizers.faces.install import INSTALLERS
    except ImportError:
        return {}
    return dict(INSTALLERS)


def cmd_models_install(args: argparse.Namespace) -> int:
    from matthan.models import ModelMissingError

    installers = _installers()
    if args.name not in installers:
        known = ", ".join(sorted(installers)) or "none"
        raise CommandError(f"no installer for model {args.name!r}; known: {known}")
    try:
        entry = installers[args.name](args.source)
    except (ModelMissingError, FileNotFoundError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"installed {entry.name} {entry.version} at {entry.path} (sha256 {entry.sha256[:12]}…)")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    import json

    from matthan.models import PROJECT_MODELS, ModelMissingError, resolve, store_dir

    bad = 0
    for root in (PROJECT_MODELS, store_dir()):
        manifest = root / "manifest.json"
        if not manifest.is_file():
            continue
        for name in sorted(json.loads(manifest.read_text()).get("models", {})):
            try:
                entry = resolve(name, "matthan models install " + name)
                print(f"{name:<20} {entry.version:<12} ok   {entry.path}")
            except ModelMissingError as exc:
                bad += 1
                print(f"{name:<20} {'':<12} BAD  {exc}")
    return 1 if bad else 0
