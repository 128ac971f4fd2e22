"""`streamer report`: the periodic portfolio report from a replay's files.

    streamer report --events E --alerts A [--scores S] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
                    --out DIR

Writes DIR/report.html (one self-contained page, charts as inline SVG) and DIR/report.json
(the same figures) and prints the two paths. Bad input is a ValueError: `streamer.cli`
prints it as one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .figures import build_report
from .html import render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", required=True, metavar="E",
                        help="contract-v1 events JSONL (what replay read), streamed once")
    parser.add_argument("--alerts", required=True, metavar="A",
                        help="alerts JSONL from `streamer replay --alerts`")
    parser.add_argument("--scores", metavar="S", default=None,
                        help="scores JSONL from `streamer replay --scores`: adds model quality")
    parser.add_argument("--from", dest="start", metavar="DATE", default=None,
                        help="first day of the period, YYYY-MM-DD (default: the first event's)")
    parser.add_argument("--to", dest="end", metavar="DATE", default=None,
                        help="last day of the period, YYYY-MM-DD (default: the last event's)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="directory for report.html and report.json")


def _out_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    return out


def write_report(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """Write report.html and report.json into out_dir; return their paths."""
    out = _out_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out / "report.html", out / "report.json"
    html_path.write_text(render(report), encoding="utf-8")
    json_path.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return html_path, json_path


def run(args: argparse.Namespace) -> int:
    _out_dir(args.out)  # before the pass over the events, not after it
    report = build_report(args.events, args.alerts, args.scores, args.start, args.end)
    for path in write_report(report, args.out):
        print(path)
    return 0
