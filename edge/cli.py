"""The `matthan` command line: one entry point, sub-commands registered by feature modules."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from matthan.edge.errors import CommandError

#: Modules that add sub-commands. Each defines `register(commands, eval_commands)`, where both are
#: argparse sub-parser collections (`matthan X ...` and `matthan eval X ...`), and sets
#: `func=callable(args) -> int` on each parser it adds. A user-facing error is raised as
#: `CommandError` (printed as one line, exit 2) so that no traceback reaches an installer.
COMMAND_MODULES: tuple[str, ...] = (
    "matthan.edge.commands",
    "matthan.benchmarks.cli",
    "matthan.recognizers.plates.cli",
    "matthan.recognizers.plates.detect_cli",
    "matthan.recognizers.faces.cli",
    "matthan.benchmarks.conformance.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matthan",
        description="matthan: edge agents that read plates and faces from RTSP cameras into Kafka.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    eval_parser = commands.add_parser("eval", help="measure accuracy and latency on labelled data")
    eval_commands = eval_parser.add_subparsers(dest="eval_command", metavar="WHAT")
    eval_parser.set_defaults(func=lambda _args: _usage(eval_parser))
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("matthan."):
                raise  # a missing third-party package is an install error, not an option
            continue  # a part of matthan this install does not have
        module.register(commands, eval_commands)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func: Any = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        if args.debug:
            raise
        print(f"matthan: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
