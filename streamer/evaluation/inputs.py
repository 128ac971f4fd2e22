"""Reading the evaluator's inputs into compact numpy arrays.

Time is kept as seconds since 1970-01-01 UTC (float) and as the UTC calendar day
(`day = floor(seconds / 86400)`, an int); dates from the ground truth use the same day
numbers. The files can be large (tens of millions of score lines, GBs of events): the
JSONL files are decoded a block of lines at a time by msgspec into typed records holding
only the fields the evaluator needs, timestamps are decoded with numpy a block at a time,
and the events file is only opened at its two ends.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from itertools import repeat
from operator import attrgetter
from pathlib import Path

import msgspec
import numpy as np

SECONDS_PER_DAY = 86400
NEVER = 1 << 40  # the day of an event that never happens (no default): later than any day
_EPOCH = date(1970, 1, 1)
_BLOCK_BYTES = 1 << 22

KINDS = ("raised", "escalated", "de_escalated", "resolved")
TIERS = ("none", "watch", "high", "critical")
_BID, _TS, _SCORE = attrgetter("borrower_id"), attrgetter("ts"), attrgetter("score")
_EARLY = attrgetter("early_score")
_KIND_CODE = {name: i for i, name in enumerate(KINDS)}
_TIER_CODE = {name: i for i, name in enumerate(TIERS)}


# -- time --------------------------------------------------------------------------------------


def day_of(value: str | date) -> int:
    """A `YYYY-MM-DD` date (or `date`) as days since 1970-01-01."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return (value - _EPOCH).days


def day_str(day: int) -> str:
    """Days since 1970-01-01 back to `YYYY-MM-DD`."""
    return date.fromordinal(_EPOCH.toordinal() + int(day)).isoformat()


def ts_seconds(ts: str) -> float:
    """An RFC 3339 timestamp as seconds since the epoch (UTC; no zone means UTC)."""
    text = ts[:-1] + "+00:00" if ts[-1:] in ("Z", "z") else ts
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def parse_times(texts: list[str], path: Path | str = "") -> np.ndarray:
    """RFC 3339 strings -> epoch seconds (float64).

    The contract's form (`2026-03-01T08:00:00Z`, 20 characters) is decoded with numpy
    over the whole list; any other form goes through `ts_seconds` one by one.
    """
    n = len(texts)
    out = np.empty(n, dtype=np.float64)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    fast = np.flatnonzero(lengths == 20)
    slow = np.ones(n, dtype=bool)
    if fast.size:
        raw = "".join(texts if fast.size == n else [texts[i] for i in fast]).encode("utf-8")
        if len(raw) == 20 * fast.size:  # else some were not ASCII: all go the slow way
            ok, seconds = _decode_fixed(np.frombuffer(raw, dtype=np.uint8).reshape(-1, 20))
            out[fast[ok]] = seconds[ok]
            slow[fast[ok]] = False
    for i in np.flatnonzero(slow):
        try:
            out[i] = ts_seconds(texts[i])
        except ValueError as exc:
            raise ValueError(
                f"{path}: cannot read the timestamp {texts[i]!r} ({exc}); "
                "'ts' must be RFC 3339, e.g. 2026-03-01T08:00:00Z"
            ) from None
    return out


def _decode_fixed(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `YYYY-MM-DDTHH:MM:SSZ` bytes -> (well-formed?, epoch seconds)."""
    ok = (a[:, 4] == 45) & (a[:, 7] == 45) & (a[:, 10] == 84)  # - - T
    ok &= (a[:, 13] == 58) & (a[:, 16] == 58) & (a[:, 19] == 90)  # : : Z
    dg = a[:, [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]].astype(np.int64) - 48
    ok &= ((dg >= 0) & (dg <= 9)).all(axis=1)
    y = dg[:, 0] * 1000 + dg[:, 1] * 100 + dg[:, 2] * 10 + dg[:, 3]
    mo = dg[:, 4] * 10 + dg[:, 5]
    d = dg[:, 6] * 10 + dg[:, 7]
    h = dg[:, 8] * 10 + dg[:, 9]
    mi = dg[:, 10] * 10 + dg[:, 11]
    s = dg[:, 12] * 10 + dg[:, 13]
    ok &= (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= 31) & (h <= 23) & (mi <= 59) & (s <= 59)
    # days from the civil date (proleptic Gregorian), after H. Hinnant's days_from_civil
    y = y - (mo <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (mo + np.where(mo > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return ok, (days * SECONDS_PER_DAY + h * 3600 + mi * 60 + s).astype(np.float64)


# -- files -------------------------------------------------------------------------------------

_HINTS = {
    "events": "--events takes the contract-v1 events JSONL that replay read",
    "truth": "--truth takes the ground-truth JSONL written by `streamer simulate`",
    "alerts": "--alerts takes the alerts JSONL written by `streamer replay`",
    "scores": "--scores takes the per-event scores JSONL written by `streamer replay`",
    "examples": "--examples takes the labeled examples JSONL written by `streamer replay`",
    "latent": "--latent takes the .npz written by `streamer simulate --latent` for the same run",
}


def check_file(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what} file not found: {p} (check the path; {_HINTS[what]})")
    return p


def batches(path: Path, decoder: msgspec.json.Decoder) -> Iterator[list]:
    """The file's records, a block of about 4 MB of lines at a time (blank lines skipped)."""
    with path.open("rb") as f:
        lineno = 1
        while True:
            buf = f.read(_BLOCK_BYTES)
            if not buf:
                return
            if not buf.endswith(b"\n"):
                buf += f.readline()
            try:
                batch = decoder.decode_lines(buf)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise _locate(path, decoder, buf, lineno, exc) from None
            yield batch
            lineno += buf.count(b"\n")


def _locate(path: Path, decoder, buf: bytes, lineno: int, exc: Exception) -> ValueError:
    for i, line in enumerate(buf.split(b"\n")):
        if line.strip():
            try:
                decoder.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as line_exc:
                return ValueError(f"{path}:{lineno + i}: {line_exc}; is it the right file?")
    return ValueError(f"{path}: {exc}")


# -- events: only the time span ---------------------------------------------------------------


class _Stamped(msgspec.Struct):
    ts: str


@dataclass(frozen=True)
class Span:
    first_seconds: float
    last_seconds: float

    @property
    def start_day(self) -> int:
        return math.floor(self.first_seconds / SECONDS_PER_DAY)

    @property
    def end_day(self) -> int:
        return math.floor(self.last_seconds / SECONDS_PER_DAY)


def read_span(path: str | os.PathLike) -> Span:
    """First and last event time: the first line, and the last line found by seeking back."""
    p = check_file(path, "events")
    with p.open("rb") as f:
        first = b""
        for line in f:
            if line.strip():
                first = line
                break
        if not first:
            raise ValueError(f"{p}: no events in the file; pass the events JSONL replay read")
        f.seek(0, os.SEEK_END)
        pos = f.tell()
        buf = b""
        last = b""
        while pos > 0:
            step = min(1 << 16, pos)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf
            lines = buf.rstrip().split(b"\n")
            if len(lines) > 1 or pos == 0:
                last = lines[-1]
                break
    try:
        dec = msgspec.json.Decoder(_Stamped)
        a = ts_seconds(dec.decode(first).ts)
        b = ts_seconds(dec.decode(last).ts)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise ValueError(f"{p}: the first or last line has no readable 'ts' ({exc})") from None
    return Span(min(a, b), max(a, b))


# -- ground truth ------------------------------------------------------------------------------


class _TruthLine(msgspec.Struct):
    borrower_id: str
    default_date: str | None = None
    first_missed_payment_date: str | None = None
    cause: str | None = None


@dataclass
class Truth:
    ids: list[str]
    index: dict[str, int]
    default_day: np.ndarray  # int64, NEVER when the borrower never defaults
    first_missed_day: np.ndarray  # int64, NEVER when there is no missed payment
    cause: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def read_truth(path: str | os.PathLike) -> Truth:
    p = check_file(path, "truth")
    ids: list[str] = []
    index: dict[str, int] = {}
    default: list[int] = []
    missed: list[int] = []
    causes: list[str | None] = []
    dates: dict[str | None, int] = {None: NEVER}
    for batch in batches(p, msgspec.json.Decoder(_TruthLine)):
        for rec in batch:
            try:
                for text in (rec.default_date, rec.first_missed_payment_date):
                    if text not in dates:
                        dates[text] = day_of(text)
            except ValueError:
                raise ValueError(f"{p}: borrower {rec.borrower_id!r} has a date that is not "
                                 "YYYY-MM-DD or null") from None
            if rec.borrower_id in index:
                raise ValueError(f"{p}: borrower {rec.borrower_id!r} appears twice; "
                                 "the ground truth has one line per borrower")
            index[rec.borrower_id] = len(ids)
            ids.append(rec.borrower_id)
            default.append(dates[rec.default_date])
            missed.append(dates[rec.first_missed_payment_date])
            causes.append(rec.cause)
    if not ids:
        raise ValueError(f"{p}: no borrowers in the ground-truth file")
    return Truth(ids=ids, index=index, default_day=np.array(default, dtype=np.int64),
                 first_missed_day=np.array(missed, dtype=np.int64), cause=causes)


# -- scores ------------------------------------------------------------------------------------


class _ScoreLine(msgspec.Struct):
    borrower_id: str
    ts: str
    score: float | None = None
    early_score: float | None = None


@dataclass
class Scores:
    borrower: np.ndarray  # int64 index into Truth
    seconds: np.ndarray  # float64 event time
    score: np.ndarray  # float64
    early: np.ndarray  # float64 early-warning score, NaN where the line had none
    lines: int = 0
    unknown_borrower: int = 0
    null_score: int = 0


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def read_scores(path: str | os.PathLike, index: dict[str, int]) -> Scores:
    p = check_file(path, "scores")
    get = index.get
    bor, sec, val, early = [], [], [], []
    lines = unknown = null = 0
    for batch in batches(p, msgspec.json.Decoder(_ScoreLine)):
        b = np.array(list(map(get, map(_BID, batch), repeat(-1))), dtype=np.int64)
        v = np.array(list(map(_SCORE, batch)), dtype=np.float64)  # None -> NaN
        e = np.array(list(map(_EARLY, batch)), dtype=np.float64)
        t = parse_times(list(map(_TS, batch)), p)
        known = b >= 0
        keep = known & ~np.isnan(v)
        lines += len(batch)
        unknown += int((~known).sum())
        null += int((known & ~keep).sum())
        bor.append(b[keep])
        sec.append(t[keep])
        val.append(v[keep])
        early.append(e[keep])
    return Scores(
        borrower=_concat(bor, np.int64), seconds=_concat(sec, np.float64),
        score=_concat(val, np.float64), early=_concat(early, np.float64), lines=lines, unknown_borrower=unknown, null_score=null,
    )


# -- alerts ------------------------------------------------------------------------------------


class _AlertLine(msgspec.Struct):
    borrower_id: str
    ts: str
    kind: str
    tier: str
    decided_by: str | None = None


@dataclass
class Alerts:
    borrower: np.ndarray  # int64 index into Truth
    seconds: np.ndarray  # float64 event time of the trigger (`ts`, not `emitted_at`)
    kind: np.ndarray  # int8 index into KINDS
    tier: np.ndarray  # int8 index into TIERS
    # the early-warning score set the tier (`decided_by`); None: the file does not say
    early: np.ndarray | None = None
    lines: int = 0
    unknown_borrower: int = 0
    unknown_kind_or_tier: int = 0


def read_alerts(path: str | os.PathLike, index: dict[str, int]) -> Alerts:
    p = check_file(path, "alerts")
    get = index.get
    bor, sec, kinds, tiers, early = [], [], [], [], []
    lines = unknown = odd = 0
    said = False  # some line says what decided it
    for batch in batches(p, msgspec.json.Decoder(_AlertLine)):
        b = np.array(list(map(get, map(_BID, batch), repeat(-1))), dtype=np.int64)
        k = np.array([_KIND_CODE.get(r.kind, -1) for r in batch], dtype=np.int8)
        t = np.array([_TIER_CODE.get(r.tier, -1) for r in batch], dtype=np.int8)
        s = parse_times(list(map(_TS, batch)), p)
        known = b >= 0
        keep = known & (k >= 0) & (t >= 0)
        lines += len(batch)
        unknown += int((~known).sum())
        odd += int((known & ~keep).sum())
        bor.append(b[keep])
        sec.append(s[keep])
        kinds.append(k[keep])
        tiers.append(t[keep])
        said = said or any(r.decided_by is not None for r in batch)
        early.append(np.array([r.decided_by == "early_score" for r in batch], dtype=bool)[keep])
    return Alerts(
        borrower=_concat(bor, np.int64), seconds=_concat(sec, np.float64),
        kind=_concat(kinds, np.int8), tier=_concat(tiers, np.int8),
        early=_concat(early, np.bool_) if said else None,
        lines=lines, unknown_borrower=unknown, unknown_kind_or_tier=odd,
    )


# -- labeled examples (offline reference) ------------------------------------------------------


class _ExampleLine(msgspec.Struct):
    ts: str
    label: int
    features: dict[str, float | None]
    score: float | None = None
    borrower_id: str | None = None
    early_label: int | None = None


@dataclass
class Examples:
    seconds: np.ndarray  # float64
    label: np.ndarray  # int8
    score: np.ndarray  # float64, NaN when the engine recorded no score
    features: np.ndarray  # float32 (n, len(names)), NaN when a feature is missing
    names: list[str]
    borrower_id: list[str | None] = field(default_factory=list)
    early_label: np.ndarray | None = None  # int8: 1, 0, or -1 (taken while overdue / absent)


def read_examples(path: str | os.PathLike) -> Examples:
    p = check_file(path, "examples")
    names: list[str] = []
    col: dict[str, int] = {}
    blocks: list[np.ndarray] = []
    sec, lab, val, early = [], [], [], []
    ids: list[str | None] = []
    for batch in batches(p, msgspec.json.Decoder(_ExampleLine)):
        labels = np.array([r.label for r in batch], dtype=np.int64)
        if ((labels != 0) & (labels != 1)).any():
            raise ValueError(f"{p}: a label is not 0 or 1 (found {sorted(set(labels.tolist()))})")
        lab.append(labels.astype(np.int8))
        val.append(np.array([r.score for r in batch], dtype=np.float64))
        early.append(np.array([-1 if r.early_label is None else r.early_label for r in batch],
                              dtype=np.int8))
        ids.extend(r.borrower_id for r in batch)
        sec.append(parse_times([r.ts for r in batch], p))
        blocks.append(_feature_block([r.features for r in batch], names, col))
    labels = _concat(lab, np.int8)
    x = np.full((labels.size, len(names)), np.nan, dtype=np.float32)
    at = 0
    for block in blocks:  # blocks read before a new feature appeared are narrower
        x[at : at + len(block), : block.shape[1]] = block
        at += len(block)
    return Examples(seconds=_concat(sec, np.float64), label=labels,
                    score=_concat(val, np.float64), features=x, names=names,
                    borrower_id=ids, early_label=_concat(early, np.int8))


def _feature_block(feats: list[dict], names: list[str], col: dict[str, int]) -> np.ndarray:
    """Feature dicts as a float32 block in the column order `names` (extended as met)."""
    layout = tuple(names)
    same = all(tuple(f) == layout for f in feats)
    if not same:
        for f in feats:
            for name in f:
                if name not in col:
                    col[name] = len(names)
                    names.append(name)
        layout = tuple(names)
        same = all(tuple(f) == layout for f in feats)
    if same:  # the usual case: the same features in the same order on every line
        return np.array([list(f.values()) for f in feats], dtype=np.float64).astype(np.float32)
    out = np.full((len(feats), len(names)), np.nan, dtype=np.float32)
    for i, f in enumerate(feats):
        for name, v in f.items():
            if v is not None:
                out[i, col[name]] = v
    return out


# -- the simulator's latent state (upper bound) ------------------------------------------------


@dataclass
class Latent:
    """Rows of `streamer simulate --latent`, sorted by (borrower, day)."""

    borrower: np.ndarray  # int64 index into Truth
    day: np.ndarray  # int64, days since 1970-01-01; the state at the end of that day
    values: np.ndarray  # float32 (rows, len(names))
    names: list[str]
    unknown_borrower_rows: int = 0


def read_latent(path: str | os.PathLike, index: dict[str, int]) -> Latent:
    """The latent side file, its borrowers mapped to the truth's (rows of others dropped)."""
    p = check_file(path, "latent")
    try:
        with np.load(p, allow_pickle=False) as z:
            names = [str(x) for x in z["names"]]
            ids = z["borrower_id"]
            local = z["borrower"].astype(np.int64)
            day = z["day"].astype(np.int64)
            values = np.column_stack([z[name].astype(np.float32) for name in names]) if names \
                else np.empty((local.size, 0), dtype=np.float32)
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ValueError(f"{p}: not a latent-state file of `streamer simulate --latent` "
                         f"({type(exc).__name__}: {exc}); {_HINTS['latent']}") from None
    if values.shape[0] != local.size or day.size != local.size or (
            local.size and (local.min() < 0 or local.max() >= ids.size)):
        raise ValueError(f"{p}: the latent columns disagree in length or borrower index; "
                         f"{_HINTS['latent']}")
    to_truth = np.array([index.get(str(b), -1) for b in ids.tolist()], dtype=np.int64)
    borrower = to_truth[local]
    known = borrower >= 0
    borrower, day, values = borrower[known], day[known], values[known]
    order = np.lexsort((day, borrower))
    return Latent(borrower=borrower[order], day=day[order], values=values[order], names=names,
                  unknown_borrower_rows=int((~known).sum()))


def as_of(key_borrower: np.ndarray, key_time: np.ndarray, borrower: np.ndarray,
          time: np.ndarray) -> np.ndarray:
    """For each (borrower, time), the index of the key row of the same borrower with the
    latest time at or before it, or -1. Keys sorted by (borrower, time); times are
    non-negative and below 2**33 (seconds or days since 1970).

    >>> as_of(np.array([0, 0, 2]), np.array([10, 20, 5]), np.array([0, 0, 0, 1, 2]),
    ...       np.array([15, 20, 5, 25, 6])).tolist()
    [0, 1, -1, -1, 2]
    """
    if key_borrower.size == 0:
        return np.full(borrower.size, -1, dtype=np.int64)
    key = (key_borrower.astype(np.int64) << 33) + key_time.astype(np.int64)
    want = (borrower.astype(np.int64) << 33) + time.astype(np.int64)
    at = np.searchsorted(key, want, side="right") - 1
    ok = (at >= 0) & (key_borrower[np.maximum(at, 0)] == borrower)
    return np.where(ok, at, -1)
