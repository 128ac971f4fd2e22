"""The `streamer` command: one sub-command per job, each a thin shell over a module.

Every sub-command lives in the module that holds its logic and exposes two functions,
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them up.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "replay": ("streamer.replay", "run the engine over a JSONL file of contract-v1 events"),
    "simulate": ("streamer.simulate.command", "generate a synthetic portfolio (JSONL or Kafka)"),
    "evaluate": ("streamer.evaluation.command", "early-warning quality figures from replay's outputs"),
    "report": ("streamer.report.command", "monthly portfolio report (HTML + JSON) from replay's files"),
    "topics": ("streamer.runtime.topics", "create the topics of topics/topics.yaml on a Kafka cluster"),
    "worker": ("streamer.runtime.worker", "run a Faust worker: the production entry point"),
    "trainer": ("streamer.runtime.trainer", "learn from risk.training apart from the workers"),
    "demo": ("streamer.runtime.demo", "one-command demo: embedded broker, simulator, worker, alerts"),
}


class UsageError(Exception):
    """A bad argument or setting: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage dump
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported (the others may need extras)."""
    parser = _Parser(prog="streamer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        args = build_parser(command).parse_args(argv)
        return int(args._module.run(args) or 0)
    except (UsageError, ValueError) as exc:  # SettingsError is a ValueError
        prefix = "" if isinstance(exc, UsageError) else f"streamer {command}: "
        print(f"{prefix}{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
