"""`matthan bench ...`: benchmarks installers can run on their own machines."""

from __future__ import annotations

import argparse
import json
import logging
import time
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
    pipeline.add_argument(
        "--record", metavar="LABEL", help="keep the result in benchmarks/RESULTS.md under LABEL"
    )
    pipeline.set_defaults(func=cmd_pipeline)

    outage = sub.add_parser("outage", help="freeze the broker mid-run: nothing may be lost")
    outage.add_argument("--source", help="RTSP URL or video file (default: the synthetic street clip)")
    outage.add_argument("--seconds", type=float, default=40.0)
    outage.add_argument("--outage", type=float, default=15.0, help="seconds the broker is unreachable")
    outage.add_argument(
        "--record", metavar="LABEL", help="keep the result in benchmarks/RESULTS.md under LABEL"
    )
    outage.set_defaults(func=cmd_outage)


def _quiet(debug: bool) -> None:
    if not debug:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from matthan.benchmarks.pipeline import bench_pipeline

    _quiet(args.debug)
    result = bench_pipeline(args.source, args.seconds, args.bootstrap, args.fps)
    if args.record:
        record("pipeline", args.record, result)
    print(json.dumps(result))
    return 0


def cmd_outage(args: argparse.Namespace) -> int:
    from matthan.benchmarks.pipeline import bench_outage

    _quiet(args.debug)
    result = bench_outage(args.source, args.seconds, args.outage)
    if args.record:
        record("outage", args.record, result)
    print(json.dumps(result))
    return 0 if result["lost"] == 0 else 1


PIPELINE_NOTE = (
    "`matthan bench pipeline --seconds N --record LABEL [--source CLIP]`: embedded broker, RTSP "
    "server, one agent with every installed recogniser, 10 analysed frames per second; capture→ack is"
    " from the frame's capture (wall clock) to the broker's acknowledgement, over the events "
    "acknowledged while the run lasts (acked_at_shutdown counts those the final flush sends). "
    "Targets: p95 ≤ 100 ms at 10 fps on one 720p camera, ≤ 1.05 plate events per true vehicle. A "
    "sighting reported only when its track ends carries the capture time of its last reading, "
    "`lost_after_s` (0.8 s) earlier: before plates that were never read confidently were dropped "
    "(`min_confidence`), those were the false reads and made p95 about 360 ms. For the clip of real "
    "photos (`python -m matthan.benchmarks.real_clip`, plate texts unknown) duplicates_per_vehicle is"
    " plate events per distinct text read, texts one character apart counted as one. "
    "speed_reference_ms: how long a fixed single-thread workload took just after the run "
    "(`benchmarks.common.speed_reference_ms`; the shared machine's speed changes from day to day), "
    "recorded since 2026-12-05."
)
OUTAGE_NOTE = (
    "`matthan bench outage --seconds N --outage S --record LABEL`: the embedded broker is frozen "
    "(SIGSTOP) for S seconds mid-run, then resumed. Target: lost = 0, no sighting twice after "
    "de-duplication by event id."
)


def record(kind: str, label: str, result: dict[str, Any]) -> None:
    """Keep `result` in benchmarks/results/<kind>.json under `label` and rewrite its RESULTS.md section."""
    from matthan.benchmarks.common import RESULTS_DIR, speed_reference_ms, write_json

    path = RESULTS_DIR / f"{kind}.json"
    runs: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    speed = round(speed_reference_ms(), 1)
    runs[label] = {**result, "speed_reference_ms": speed, "recorded": time.strftime("%Y-%m-%d")}
    write_json(kind, runs)
    render(kind, runs)


def render(kind: str, runs: dict[str, Any]) -> None:
    """The RESULTS.md section of one benchmark kind, from every recorded run."""
    from matthan.benchmarks.common import write_section

    columns = sorted({k for run in runs.values() for k in run} - {"benchmark", "recorded", "machine"})
    lines = [
        f"## Edge agent: {kind}",
        "",
        PIPELINE_NOTE if kind == "pipeline" else OUTAGE_NOTE,
        "",
        "| run | machine | " + " | ".join(columns) + " |",
        "| --- | --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for name, run in sorted(runs.items()):
        cells = [str(run.get(c, "")) for c in columns]
        lines.append(f"| {name} ({run['recorded']}) | {run.get('machine', '')} | " + " | ".join(cells) + " |")
    write_section(f"## Edge agent: {kind}", "\n".join(lines))
