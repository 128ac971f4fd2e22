"""`streamer simulate`: write a synthetic portfolio as JSONL (events + ground truth), or
produce its events to Kafka (`--kafka`, paced with `--rate`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import msgspec

from . import SCENARIOS, Simulation, generate
from .clock import parse_start

_BUFFER = 1 << 20

def _whole(minimum: int, bound: str):
    """An argparse type: a whole number >= minimum (`bound` says so in the error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}")
        return value
    return parse


_positive = _whole(1, "at least 1")
_seed = _whole(0, "0 or more")


def _date(text: str) -> str:
    try:
        parse_start(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", choices=SCENARIOS, default="baseline",
                        help="which world and collection policy (default: baseline)")
    parser.add_argument("--borrowers", type=_positive, default=1000,
                        help="portfolio size (default: 1000)")
    parser.add_argument("--days", type=_positive, default=365,
                        help="span in days (default: 365)")
    parser.add_argument("--seed", type=_seed, default=42, help="random seed (default: 42)")
    parser.add_argument("--start", type=_date, default="2026-01-01",
                        help="first day, YYYY-MM-DD (default: 2026-01-01)")
    parser.add_argument("--out", type=Path, default=Path("events.jsonl"),
                        help="events, one JSON object a line, in time order")
    parser.add_argument("--truth", type=Path, default=Path("truth.jsonl"),
                        help="ground truth, one line per borrower")
    parser.add_argument("--latent", type=Path, default=None, metavar="PATH",
                        help="also write the simulator's latent state (savings, income, job, "
                             "causes' cash drain, pressure, ...), one row per opened borrower "
                             "a week, as a compressed numpy .npz; the events and truth do not "
                             "change (see streamer/simulate/latent.py)")
    parser.add_argument("--kafka", action="store_true",
                        help="produce the events to the input topics on "
                             "STREAMER_BOOTSTRAP_SERVERS (with STREAMER_TOPIC_PREFIX and the "
                             "TLS/SASL settings) instead of writing files")
    parser.add_argument("--rate", type=float, default=None, metavar="EVENTS_PER_S",
                        help="with --kafka: events per second of wall clock (default: as "
                             "fast as the broker takes them)")


def write_jsonl(sim: Simulation, out_path: str | Path, truth_path: str | Path) -> int:
    """Write the events (in time order) then the ground truth; returns the event count."""
    encode = msgspec.json.Encoder().encode
    count = 0
    # Line by line into a large buffer: joining a day into one big bytes object first
    # costs more memory and, oddly, much more system time.
    with open(out_path, "wb", buffering=_BUFFER) as f:
        for items in sim.days_of_events():
            f.writelines(encode(ev) + b"\n" for _, _, ev in items)
            count += len(items)
    with open(truth_path, "wb", buffering=_BUFFER) as f:
        f.writelines(encode(row) + b"\n" for row in sim.ground_truth())
    return count


def _check_latent(args: argparse.Namespace, others: tuple[Path, ...]) -> None:
    latent = getattr(args, "latent", None)
    if latent is None:
        return
    if not Path(latent.parent).is_dir():
        raise ValueError(f"--latent: directory {str(latent.parent)!r} does not exist; "
                         "create it first")
    if latent.is_dir():
        raise ValueError(f"--latent: {str(latent)!r} is a directory; give a file path")
    if any(latent.resolve() == Path(p).resolve() for p in others):
        raise ValueError("--latent: must be a different file from --out and --truth")


def _with_latent(sim: Simulation, args: argparse.Namespace, write) -> tuple[int, str]:
    """Run `write(sim)` (-> event count), recording the latent state when --latent asks;
    returns (events, a note for the summary line)."""
    if getattr(args, "latent", None) is None:
        return write(sim), ""
    from .latent import LatentWriter

    writer = LatentWriter(args.latent, sim)
    sim.record_latent(writer.add)
    try:
        events = write(sim)
    except BaseException:
        writer.discard()
        raise
    rows = writer.close()
    return events, f", {rows:,} latent rows -> {args.latent}"


def run(args: argparse.Namespace) -> int:
    """Generate and write; one summary line on stdout. Bad values raise ValueError."""
    if args.kafka:
        return produce_to_kafka(args)
    for path in (args.out, args.truth):
        if path.parent and not Path(path.parent).is_dir():
            raise ValueError(f"--{'out' if path is args.out else 'truth'}: directory "
                             f"{str(path.parent)!r} does not exist; create it first")
    if Path(args.out).resolve() == Path(args.truth).resolve():
        raise ValueError("--truth: must be a different file from --out")
    _check_latent(args, (args.out, args.truth))
    started = time.perf_counter()
    sim = generate(args.scenario, args.borrowers, args.days, args.seed, args.start)
    events, note = _with_latent(sim, args, lambda s: write_jsonl(s, args.out, args.truth))
    seconds = time.perf_counter() - started
    s = sim.summary()
    print(
        f"simulate {s['scenario']}: {events:,} events, {s['borrowers']:,} borrowers, "
        f"{s['defaulters']:,} defaulters ({100 * s['default_rate']:.2f}%), "
        f"{seconds:.1f} s ({events / max(seconds, 1e-9):,.0f} events/s)"
        f" -> {args.out}, {args.truth}{note}",
        file=sys.stdout,
    )
    return 0


def produce_to_kafka(args: argparse.Namespace) -> int:
    """`--kafka`: the events go to the input topics (see streamer.simulate.kafka)."""
    import asyncio

    from streamer.runtime.topics import client_options
    from streamer.settings import Settings

    from .kafka import produce

    if args.rate is not None and args.rate <= 0:
        raise ValueError("--rate must be > 0")
    _check_latent(args, ())
    settings = Settings.from_env()
    sim = generate(args.scenario, args.borrowers, args.days, args.seed, args.start)
    started = time.perf_counter()
    events, note = _with_latent(sim, args, lambda s: asyncio.run(produce(
        s.events(), client_options(settings), settings.topic_prefix, rate=args.rate)))
    seconds = time.perf_counter() - started
    print(f"simulate {args.scenario}: {events:,} events produced to "
          f"{settings.bootstrap_servers} in {seconds:.1f} s{note}", file=sys.stdout)
    return 0
