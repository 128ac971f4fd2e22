"""The upper bound: the simulator's latent side file (`streamer simulate --latent`) and the
batch model that also sees it (`streamer evaluate --latent`)."""

from __future__ import annotations

import collections
import datetime as dt
from functools import cache

import msgspec
import numpy as np
import pytest

from streamer.cli import main
from streamer.evaluation.inputs import NEVER, Examples, Latent, Scores, day_of, read_latent
from streamer.evaluation.offline import early_at_budget, latent_at
from streamer.simulate import generate
from streamer.simulate.command import run, write_jsonl
from streamer.simulate.latent import LATENT_NAMES

from .test_simulate import _args  # the command's arguments for files under tmp_path

DAY = 86400.0
START = dt.date(2026, 1, 1)


# -- the side file ------------------------------------------------------------------------------


def test_latent_side_file_leaves_the_events_and_truth_byte_identical(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    common = ("--scenario", "industry_downturn", "--borrowers", "300", "--days", "60",
              "--seed", "11")
    assert run(_args(a, *common)) == 0
    assert run(_args(b, *common, "--latent", str(b / "latent.npz"))) == 0
    assert "latent rows" in capsys.readouterr().out.splitlines()[-1]
    for name in ("e.jsonl", "t.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    with np.load(b / "latent.npz", allow_pickle=False) as z:
        assert tuple(z["names"]) == LATENT_NAMES
        assert z["borrower_id"].tolist() == [f"b{i:07d}" for i in range(1, 301)]
        days = sorted(set(z["day"].tolist()))
        assert days == [day_of(START) + d for d in range(0, 60, 7)]
        assert z["employed"].dtype == np.float32
    assert [p.name for p in b.iterdir() if p.name.startswith(".latent-")] == []  # no temp file


def test_a_bad_latent_path_is_a_one_line_error(tmp_path, capsys):
    common = ["simulate", "--borrowers", "5", "--days", "3", "--out", str(tmp_path / "e.jsonl"),
              "--truth", str(tmp_path / "t.jsonl")]
    assert main([*common, "--latent", str(tmp_path / "missing" / "l.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--latent" in err[0] and "does not exist" in err[0]
    assert main([*common, "--latent", str(tmp_path / "e.jsonl")]) == 2
    assert "different file" in capsys.readouterr().err
    assert not (tmp_path / "e.jsonl").exists()


@cache
def _run_with_latent(borrowers: int, days: int, seed: int):
    """Events (borrower -> list of (day, event)) and the latent rows, as the sink got them."""
    sim = generate("industry_downturn", borrowers, days, seed)
    rows = []
    sim.record_latent(lambda d, b, x: rows.append((d, b.copy(), x.copy())))
    by_borrower = collections.defaultdict(list)
    for _, key, ev in sim.events():
        if "borrower_id" in ev:
            by_borrower[key].append(((dt.date.fromisoformat(ev["ts"][:10]) - START).days, ev))
    return sim, by_borrower, rows


def test_latent_rows_are_the_opened_borrowers_state_at_the_end_of_the_day():
    sim, events, rows = _run_with_latent(400, 120, 5)
    assert [d for d, _, _ in rows] == list(range(0, 120, 7))
    opened = {key: day for key, evs in events.items() for day, ev in evs
              if ev["type"] == "account_opened"}
    col = {name: j for j, name in enumerate(LATENT_NAMES)}
    for d, b, x in rows:
        assert {sim.ids[i] for i in b.tolist()} == {k for k, day in opened.items() if day <= d}
        assert np.isfinite(x).all() and (x[:, col["savings_months"]] >= 0).all()
    # the traits drawn once are the population's
    d, b, x = rows[-1]
    assert (x[:, col["bad_habits"]] == sim.pop.bad_habits[b]).all()
    assert np.allclose(x[:, col["discipline"]], sim.pop.discipline[b])


def test_a_borrower_who_loses_their_job_shows_employed_0_and_no_salary_until_it_ends():
    sim, events, rows = _run_with_latent(2000, 150, 8)
    col = {name: j for j, name in enumerate(LATENT_NAMES)}
    state = {}  # (borrower index, day) -> (employed, jobless_days_left)
    for d, b, x in rows:
        for i, e, left in zip(b.tolist(), x[:, col["employed"]].tolist(),
                              x[:, col["jobless_days_left"]].tolist(), strict=True):
            state[i, d] = (e, left)
    salaried = {k for k, evs in events.items() for _, ev in evs
                if ev["type"] == "account_opened" and ev["segment"] == "salaried"}
    checked = 0
    for (i, d), (e, left) in state.items():
        key = sim.ids[i]
        before = state.get((i, d - 7))
        if key not in salaried or e != 0.0 or before is None or before[0] != 1.0:
            continue
        # lost the job during the week that ended on day d: jobless through day d + left - 1
        assert 14 <= left + 7 and left <= 500
        salaries = [day for day, ev in events[key]
                    if ev["type"] == "transaction" and ev["category"] == "salary"]
        assert not [s for s in salaries if d <= s < d + left], (key, d, left, salaries)
        # a week later, still jobless with 7 days fewer left (or back at work)
        after = state.get((i, d + 7))
        if after is not None and left > 7:
            assert after == (0.0, left - 7)
        checked += 1
    assert checked >= 5


# -- the as-of join and the upper bound ---------------------------------------------------------


def test_each_snapshot_gets_the_latest_latent_row_on_or_before_its_day():
    latent = Latent(borrower=np.array([0, 0, 0, 2]), day=np.array([10, 17, 24, 5]),
                    values=np.array([[1.0, 10], [2, 20], [3, 30], [9, 90]], dtype=np.float32),
                    names=["a", "b"])
    borrower = np.array([0, 0, 0, 0, 0, 1, 2])
    seconds = np.array([9, 10, 16, 17, 30], dtype=float) * DAY + 3600.0
    seconds = np.r_[seconds, 20 * DAY, 100 * DAY + 86399]
    got = latent_at(latent, borrower, seconds)
    assert np.isnan(got[0]).all()  # before the borrower's first row
    assert got[1:5, 0].tolist() == [1.0, 1.0, 2.0, 3.0]  # same day counts; later days the last
    assert np.isnan(got[5]).all()  # a borrower without rows
    assert got[6].tolist() == [9.0, 90.0]


def test_read_latent_maps_the_files_borrowers_to_the_truths(tmp_path):
    path = tmp_path / "l.npz"
    with open(path, "wb") as f:
        np.savez_compressed(f, borrower_id=np.array(["b1", "b2", "b3"]),
                            names=np.array(["x"]), borrower=np.array([2, 0, 1, 0], np.int32),
                            day=np.array([7, 7, 0, 0], np.int32),
                            x=np.array([0.3, 0.1, 0.2, 0.0], np.float32))
    lat = read_latent(path, {"b3": 0, "b1": 1})  # b2 is not in the truth
    assert lat.borrower.tolist() == [0, 1, 1] and lat.day.tolist() == [7, 0, 7]
    assert lat.values[:, 0].tolist() == pytest.approx([0.3, 0.0, 0.1])
    assert lat.unknown_borrower_rows == 1
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="latent"):
        read_latent(bad, {})


def _book_with_latent_signal(seed: int = 3):
    """Good and bad borrowers; the 60 days before a first miss show only in a latent column."""
    rng = np.random.default_rng(seed)
    n_good, n_bad = 300, 60
    n = n_good + n_bad
    first_missed = np.full(n, NEVER, dtype=np.int64)
    default = np.full(n, NEVER, dtype=np.int64)
    first_missed[n_good:] = 40 + 4 * np.arange(n_bad)
    default[n_good:] = first_missed[n_good:] + 100
    rows = [(i, d) for i in range(n) for d in range(0, 281, 7) if d < default[i]]
    b = np.array([r[0] for r in rows])
    d = np.array([r[1] for r in rows])
    ahead = first_missed[b] - d
    early = np.where(d >= first_missed[b], -1, (ahead > 0) & (ahead <= 90)).astype(np.int8)
    seconds = d * DAY + 3600.0
    ex = Examples(seconds=seconds, label=np.zeros(b.size, dtype=np.int8),
                  score=np.full(b.size, np.nan),
                  features=rng.uniform(size=(b.size, 2)).astype(np.float32),
                  names=["noise1", "noise2"], borrower_id=[f"b{i}" for i in b], early_label=early)
    # latent rows on the snapshot days (as-of join exact) carry the signal
    warned = (ahead > 0) & (ahead <= 60)
    signal = np.where(warned, rng.uniform(0.6, 1.0, b.size), rng.uniform(0.0, 0.5, b.size))
    latent = Latent(borrower=b.astype(np.int64), day=d.astype(np.int64),
                    values=np.c_[signal, rng.uniform(size=b.size)].astype(np.float32),
                    names=["savings_signal", "latent_noise"])
    online = Scores(borrower=b, seconds=seconds, score=np.zeros(b.size),
                    early=rng.uniform(size=b.size))
    return ex, {f"b{i}": i for i in range(n)}, default, first_missed, online, latent


def test_the_upper_bound_learns_a_signal_only_the_latent_state_carries():
    ex, index, default, first_missed, online, latent = _book_with_latent_signal()
    r = early_at_budget(ex, index, default, first_missed, online, latent=latent)
    assert r["status"] == "ok" and r["latent"]["test_with_row"] == 1.0
    at = {name: {x["budget"]: x["before_first_missed"] for x in fig["budgets"]}
          for name, fig in r["at_budget"].items()}
    assert set(at) == {"reference", "upper_bound", "latent_only", "online_early"}
    assert at["upper_bound"][0.05] > 0.8 and at["latent_only"][0.05] > 0.8
    assert at["reference"][0.10] < 0.5
    # without the side file, only the reference and the online score, as before
    plain = early_at_budget(ex, index, default, first_missed, online)
    assert set(plain["at_budget"]) == {"reference", "online_early"}
    assert plain["at_budget"]["reference"] == r["at_budget"]["reference"]


def test_evaluate_latent_needs_examples(tmp_path):
    from streamer.evaluation.command import evaluate

    files = {}
    for name in ("events", "truth", "alerts", "scores"):
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("")
    with pytest.raises(ValueError, match="--latent needs --examples"):
        evaluate(*files.values(), latent_path=tmp_path / "l.npz")


def test_write_jsonl_is_unchanged_by_a_sink_that_reads_the_state(tmp_path):
    plain, watched = (generate("regional_shock", 200, 40, 2) for _ in range(2))
    watched.record_latent(lambda d, b, x: None, every=1)
    write_jsonl(plain, tmp_path / "a.jsonl", tmp_path / "a.t.jsonl")
    write_jsonl(watched, tmp_path / "b.jsonl", tmp_path / "b.t.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert msgspec.json.decode((tmp_path / "a.t.jsonl").read_bytes().splitlines()[0])
    assert (tmp_path / "a.t.jsonl").read_bytes() == (tmp_path / "b.t.jsonl").read_bytes()
