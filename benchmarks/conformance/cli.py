"""`matthan conformance make-dev-suite OUT` and `matthan conformance run --suite DIR ...`."""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import uuid
from pathlib import Path
from typing import Any

from matthan.edge.errors import CommandError


def register(commands: Any, eval_commands: Any) -> None:
    conf = commands.add_parser("conformance", help="the standards conformance benchmark (RTSP in, Kafka out)")
    sub = conf.add_subparsers(dest="conformance_command", metavar="WHAT")
    conf.set_defaults(func=lambda _a: conf.print_help() or 2)

    make = sub.add_parser("make-dev-suite", help="generate the development suite from synthetic clips")
    make.add_argument("out", type=Path, help="an empty or new folder")
    make.add_argument("--seconds", type=float, default=16.0, help="length of each clip")
    make.add_argument(
        "--plates",
        choices=("auto", "yes", "no"),
        default="auto",
        help="state plate requirements (auto: only when the plate models are installed)",
    )
    make.set_defaults(func=cmd_make)

    run = sub.add_parser("run", help="serve a suite over RTSP, consume the SUT's events from Kafka, score")
    run.add_argument("--suite", type=Path, required=True, help="suite folder (suite.yaml, see FORMAT.md)")
    run.add_argument(
        "--bootstrap", help="HOST:PORT of the Kafka cluster (default: start the embedded broker)"
    )
    run.add_argument("--topic-prefix", help="topics <prefix>plates|faces|status (default: a fresh one)")
    run.add_argument("--sut", choices=("reference",), help="start our own agent as the system under test")
    run.add_argument(
        "--sut-command", help="start the vendor's system with this shell command (see FORMAT.md)"
    )
    run.add_argument("--rtsp-port-base", type=int, help="serve clip i on port BASE+i (default: free ports)")
    run.add_argument(
        "--out", type=Path, help="write report.json, report.html, events.jsonl, cameras.json here"
    )
    run.add_argument(
        "--analysis-fps", type=float, default=10.0, help="reference SUT: frames analysed per second"
    )
    run.add_argument("--face-embedder", type=Path, help="reference SUT: a vendor's face embedding ONNX file")
    run.add_argument("--face-threshold", type=float, help="reference SUT: match distance for --face-embedder")
    run.add_argument("--plate-detector", type=Path, help="reference SUT: a vendor's plate detector ONNX file")
    run.add_argument("--plate-reader", type=Path, help="reference SUT: a vendor's plate reader ONNX file")
    run.set_defaults(func=cmd_run)


def _quiet(debug: bool) -> None:
    if not debug:
        for name in ("kafka", "matthan.edge", "matthan.integration", "matthan.recognizers"):
            logging.getLogger(name).setLevel(logging.WARNING if name != "kafka" else logging.CRITICAL)


def cmd_make(args: argparse.Namespace) -> int:
    from matthan.benchmarks.conformance.devsuite import make_dev_suite

    plates = {"auto": None, "yes": True, "no": False}[args.plates]
    try:
        path = make_dev_suite(args.out, seconds=args.seconds, plates=plates)
    except FileExistsError as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps({"suite": str(path)}))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from matthan.benchmarks.conformance.report import summary, write_report
    from matthan.benchmarks.conformance.runner import CommandSut, NoSut, SystemUnderTest, run_suite
    from matthan.benchmarks.conformance.suite import SuiteError, check_media, load_suite

    _quiet(args.debug)
    try:
        suite = load_suite(args.suite)
        check_media(suite)
    except SuiteError as exc:
        raise CommandError(str(exc)) from None
    if args.sut and args.sut_command:
        raise CommandError("give either --sut reference or --sut-command, not both")
    swaps = {
        "--face-embedder": args.face_embedder,
        "--plate-detector": args.plate_detector,
        "--plate-reader": args.plate_reader,
    }
    for option, path in swaps.items():
        if path is not None and args.sut != "reference":
            raise CommandError(f"{option} swaps a model of the reference pipeline: add --sut reference")
        if path is not None and not path.is_file():
            raise CommandError(f"{option}: {path} does not exist")
    if args.face_threshold is not None and args.face_embedder is None:
        raise CommandError("--face-threshold goes with --face-embedder")
    sut: SystemUnderTest
    if args.sut == "reference":
        from matthan.benchmarks.conformance.reference import ReferenceSut

        sut = ReferenceSut(
            suite,
            analysis_fps=args.analysis_fps,
            face_embedder=args.face_embedder,
            face_threshold=args.face_threshold,
            plate_detector=args.plate_detector,
            plate_reader=args.plate_reader,
        )
    elif args.sut_command:
        sut = CommandSut(args.sut_command)
    else:
        sut = NoSut()
    prefix = args.topic_prefix or f"conformance.{uuid.uuid4().hex[:8]}."
    with tempfile.TemporaryDirectory(prefix="matthan-conformance-") as tmp:
        work = args.out or Path(tmp)
        try:
            result = run_suite(
                suite,
                sut,
                work,
                bootstrap=args.bootstrap,
                topic_prefix=prefix,
                rtsp_port_base=args.rtsp_port_base,
            )
        except (RuntimeError, KafkaError) as exc:  # broker, RTSP server, or a stream that never started
            raise CommandError(f"conformance run stopped: {exc}") from None
        if args.out:
            write_report(result, args.out)
    print(json.dumps(summary(result)))
    return 0 if result.score.passed else 1
