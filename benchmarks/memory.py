"""Resident bytes per borrower of a worker's state, and changelog bytes per borrower.

Real states first: a simulated book (baseline, one year) is replayed through the engine,
and each borrower's table value is built as the worker builds it (`states.encode_value`:
per-topic offsets + `BorrowerState.dumps()`). Those values are then cloned under distinct
borrower ids up to N, and each way a worker can hold them is measured in a fresh
process (resident set before and after, so nothing else of the worker is counted):

* ``memory``: the values as bytes in a dict (Faust's ``memory://`` store),
* ``rocksdb``: the values in RocksDB through rocksdict, one database per partition, with
  the options the worker gives Faust's RocksDB store (``streamer.runtime.app.ROCKSDB_OPTIONS``),
  plus the bytes on disk,
* ``decoded``: decoded ``BorrowerState`` objects, the worker's in-memory cache of the
  borrowers in play (at most ``STREAMER_CACHE_BORROWERS`` of them).

    python benchmarks/memory.py                       # N = 100,000 and 1,000,000
    python benchmarks/memory.py --sizes 100000 --book 500

Writes benchmarks/results/memory.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(OUT.parents[1]))

from streamer.settings import Settings  # noqa: E402


def rss() -> int:
    """Resident bytes of this process (Linux /proc)."""
    gc.collect()
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def book_values(borrowers: int, seed: int = 7) -> list[bytes]:
    """Table values of every borrower of a replayed simulated year (the worker's layout)."""
    import msgspec

    from streamer.core.engine import Engine
    from streamer.runtime.states import encode_value
    from streamer.simulate import generate

    engine = Engine()
    for _topic, _key, event in generate("baseline", borrowers, 365, seed, "2025-01-01").events():
        engine.process_raw(msgspec.json.encode(event))
    offsets = {0: 123_456_789, 1: 23_456_789, 2: 3_456_789, 3: 456_789}  # realistic widths
    return [encode_value((offsets, s.dumps())) for s in engine.states.values()]


def measure(mode: str, n: int, values_path: Path, partitions: int) -> dict:
    """One measurement, in this (fresh) process."""
    values = [bytes.fromhex(v) for v in json.loads(values_path.read_text())["hex"]]
    keys = [f"b{i:09d}".encode() for i in range(n)]
    # import what a mode needs before the baseline: only the state itself is counted
    from faust.stores.rocksdb import RocksDBOptions

    from streamer.core.state import BorrowerState
    from streamer.runtime.app import ROCKSDB_OPTIONS
    from streamer.runtime.states import decode_value

    base = rss()
    result: dict = {"mode": mode, "borrowers": n}
    if mode == "memory":
        # bytes(bytearray(v)): a distinct object per borrower, as values read off Kafka are
        store = {k: bytes(bytearray(values[i % len(values)])) for i, k in enumerate(keys)}
        result["resident_bytes"] = rss() - base
        assert len(store) == n
    elif mode == "decoded":
        states = {k: BorrowerState.loads(decode_value(values[i % len(values)])[1])
                  for i, k in enumerate(keys)}
        result["resident_bytes"] = rss() - base
        assert len(states) == n
    elif mode == "rocksdb":
        with tempfile.TemporaryDirectory() as d:
            options = RocksDBOptions(**ROCKSDB_OPTIONS, use_rocksdict=True)
            dbs = [options.open(Path(d) / f"p{p}") for p in range(partitions)]
            for i, k in enumerate(keys):
                dbs[i % partitions][k] = values[i % len(values)]
            for db in dbs:
                db.flush()
            sample = random.Random(1).sample(keys, min(n, 20_000))  # reads fill the caches
            for k in sample:
                assert dbs[int(k[1:]) % partitions][k] is not None
            result["resident_bytes"] = rss() - base
            result["disk_bytes"] = sum(f.stat().st_size for f in Path(d).rglob("*")
                                       if f.is_file())
            for db in dbs:
                db.close()
    else:
        raise ValueError(mode)
    result["per_borrower"] = round(result["resident_bytes"] / n)
    if "disk_bytes" in result:
        result["disk_per_borrower"] = round(result["disk_bytes"] / n)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--book", type=int, default=1000, help="borrowers replayed for real")
    parser.add_argument("--decoded-max", type=int, default=100_000,
                        help="largest N measured as decoded objects")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--cache", type=int, default=Settings().cache_borrowers,
                        help="decoded states cached (default: STREAMER_CACHE_BORROWERS default)")
    parser.add_argument("--measure", nargs=3, metavar=("MODE", "N", "VALUES"),
                        help=argparse.SUPPRESS)  # internal: one measurement, in a child
    parser.add_argument("--out", type=Path, default=OUT / "memory.json")
    args = parser.parse_args()
    if args.measure:
        mode, n, path = args.measure
        print(json.dumps(measure(mode, int(n), Path(path), args.partitions)))
        return 0

    started = time.time()
    values = book_values(args.book)
    sizes = [len(v) for v in values]
    key_bytes = len(b"b000000000")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "values.json"
        path.write_text(json.dumps({"hex": [v.hex() for v in values]}))
        rows = []
        for n in args.sizes:
            for mode in ("memory", "rocksdb", "decoded"):
                if mode == "decoded" and n > args.decoded_max:
                    continue
                out = subprocess.run([sys.executable, __file__, "--partitions",
                                      str(args.partitions), "--measure", mode, str(n),
                                      str(path)], capture_output=True, text=True, check=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"{mode:>8} N={n:>9,}: {row['per_borrower']:>6,} B resident per borrower"
                      + (f", {row['disk_per_borrower']:,} B on disk" if "disk_per_borrower" in row
                         else ""), flush=True)
    result = {
        "benchmark": "memory",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "book": {"borrowers": args.book, "scenario": "baseline", "days": 365},
        "changelog_value_bytes": {"median": statistics.median(sizes),
                                  "p95": sorted(sizes)[int(0.95 * len(sizes))],
                                  "mean": round(statistics.fmean(sizes))},
        "changelog_bytes_per_borrower": round(statistics.fmean(sizes)) + key_bytes,
        "results": rows,
        "worker": worker_rows(rows, args.cache),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print()
    print(markdown(result))
    print(f"-> {args.out}")
    return 0


def worker_rows(rows: list[dict], cache: int) -> list[dict]:
    """A RocksDB worker's state memory: the store, plus its cache of decoded states (full
    once the worker has seen `cache` borrowers), composed from the measurements above."""
    decoded = [r for r in rows if r["mode"] == "decoded"]
    if not decoded:
        return []
    per_decoded = decoded[-1]["per_borrower"]
    out = []
    for r in rows:
        if r["mode"] == "rocksdb":
            total = r["resident_bytes"] + per_decoded * min(cache, r["borrowers"])
            out.append({"borrowers": r["borrowers"], "cache": cache,
                        "resident_bytes": total, "per_borrower": round(total / r["borrowers"])})
    return out


def markdown(result: dict) -> str:
    lines = ["| state held as | borrowers | resident bytes per borrower | on disk per borrower |",
             "|---|---|---|---|"]
    names = {"memory": "bytes in memory (`memory://`)", "rocksdb": "RocksDB (`rocksdb://`)",
             "decoded": "decoded objects (the worker's cache)"}
    for r in result["results"]:
        disk = f"{r['disk_per_borrower']:,}" if "disk_per_borrower" in r else "-"
        lines.append(f"| {names[r['mode']]} | {r['borrowers']:,} | {r['per_borrower']:,} | {disk} |")
    for w in result["worker"]:
        lines.append(f"| a worker: RocksDB + {w['cache']:,} decoded in cache | {w['borrowers']:,} "
                     f"| {w['per_borrower']:,} | |")
    cl = result["changelog_value_bytes"]
    lines.append(f"\nChangelog message per borrower (key + value): "
                 f"{result['changelog_bytes_per_borrower']:,} B on average "
                 f"(value median {cl['median']:,} B, p95 {cl['p95']:,} B).")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
