"""`matthan bench ...`: benchmarks installers can run on their own machines."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any


def register(commands: Any, eval_commands: Any) -> None:
    bench = commands.add_parser("bench", help="benchmarks: pipeline latency, broker outage")
    sub = bench.add_subparsers(dest="bench_command", metavar="WHAT")
    bench.set_defaults(func=lambda _a: bench.print_help() or 2)

    pipeline = sub.add_parser("pipeline", help="capture→ack latency, analysed fps, events per vehicle")
    pipeline.add_argument("--source", help="RTSP URL or video file (default: the synthetic street clip)")
    pipeline.add_argument("--seconds", type=float, default=30.0)
    pipeline.add_argument("--bootstrap", help="a Kafka cluster instead of the embedded broker")
    pipeline.add_argument("--fps", type=float, default=10.0, help="analysis frames per second")
    pipeline.set_defaults(func=cmd_pipeline)

    outage = sub.add_parser("outage", help="freeze the broker mid-run: nothing may be lost")
    outage.add_argument("--source", help="RTSP URL or video file (default: the synthetic street clip)")
    outage.add_argument("--seconds", type=float, default=40.0)
    outage.add_argument("--outage", type=float, default=15.0, help="seconds the broker is unreachable")
    outage.set_defaults(func=cmd_outage)


def _quiet(debug: bool) -> None:
    if not debug:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from matthan.benchmarks.pipeline import bench_pipeline

    _quiet(args.debug)
    print(json.dumps(bench_pipeline(args.source, args.seconds, args.bootstrap, args.fps)))
    return 0


def cmd_outage(args: argparse.Namespace) -> int:
    from matthan.benchmarks.pipeline import bench_outage

    _quiet(args.debug)
    result = bench_outage(args.source, args.seconds, args.outage)
    print(json.dumps(result))
    return 0 if result["lost"] == 0 else 1
