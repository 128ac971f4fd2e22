"""The simulator's latent state, as a side file (`streamer simulate --latent PATH`).

The events show what a lender sees; the latent state is why borrowers default: savings,
the income they earn now against the income they are used to, a job or a business in
trouble, the cash each cause drained, collection pressure, other lenders' debt, and the
traits drawn once (bad habits, over-borrowing, discipline). A model that sees them is an
upper bound for any model of the events (`streamer evaluate --latent`).

Every `every`-th day (days 0, 7, 14, ... by default), at the end of the day, one row per
opened borrower: `snapshot()` reads the state and draws no random numbers, so the events
and the ground truth of a seed are the same with or without the side file. Rows go to a
temporary file next to PATH as they come (memory does not grow with the days) and become
a compressed numpy `.npz` at the end:

- `borrower` (int32): the borrower's index into `borrower_id` (the truth's ids, in order);
- `day` (int32): the day of the row, days since 1970-01-01 (UTC), state at its end;
- one float32 array per name in `names` (`LATENT_NAMES`), each bounded (clipped).

>>> import numpy as np
>>> from streamer.simulate import generate
>>> sim = generate("baseline", borrowers=30, days=8, seed=1)
>>> rows = []
>>> sim.record_latent(lambda d, b, x: rows.append((d, b.size, x.shape)))
>>> _ = sum(1 for _ in sim.events())
>>> [(d, k == len(LATENT_NAMES)) for d, _, (_, k) in rows]
[(0, True), (7, True)]
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .borrowers import OTHER, SALARIED
from .mechanisms import CAUSES

if TYPE_CHECKING:
    from .portfolio import Simulation

EVERY = 7
COMPRESSLEVEL = 1  # zlib; numpy's level 6 took 2.8x the time for a file 3% smaller
_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()

# name -> (low, high): each column is clipped to its bounds
_BOUNDS: dict[str, tuple[float, float]] = {
    "savings_months": (0.0, 24.0),  # cash / monthly spending the borrower is used to
    "income_used_to": (0.0, 3.0),  # income_slow / normal income
    "earning_power": (0.0, 2.0),  # what the borrower's work earns today / normal income
    "macro_income_factor": (0.0, 2.0),  # industry x regional factor of income today
    "employed": (0.0, 1.0),
    "jobless_days_left": (0.0, 500.0),
    "business_shock_depth": (0.0, 1.0),  # share of income an income cut takes today
    "business_shock_days_left": (0.0, 400.0),
    "legal_freeze": (0.0, 1.0),
    **{f"drain_{c}": (0.0, 100.0) for c in CAUSES},  # decayed cash drained, months of income
    "pressure": (0.0, 200.0),
    "engagement": (0.0, 1.0),
    "in_grace": (0.0, 1.0),
    "other_debt_to_cap": (0.0, 5.0),
    "other_debt_months": (0.0, 50.0),
    "other_room_months": (0.0, 50.0),
    "over_borrower": (0.0, 1.0),
    "bad_habits": (0.0, 1.0),
    "gambling_share": (0.0, 1.0),
    "discipline": (0.0, 1.0),
    "consumption_ratio": (0.0, 2.0),
}
LATENT_NAMES: tuple[str, ...] = tuple(_BOUNDS)
_LOW = np.array([lo for lo, _ in _BOUNDS.values()])
_HIGH = np.array([hi for _, hi in _BOUNDS.values()])


def snapshot(sim: Simulation, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(borrower indices, float32 rows in LATENT_NAMES order): the opened borrowers' state
    at the end of day `d`. Reads the state only (no random draws, nothing changed)."""
    pop, st = sim.pop, sim.st
    i = np.flatnonzero(pop.open_day <= d)
    seg, base = pop.segment[i], pop.income[i]
    f_ind, f_reg = sim.macro.income_factor(
        d, seg, pop.industry[i], pop.region[i], pop.industry_lag[i], pop.region_lag[i])
    shocked = st.biz_until[i] >= d
    ramp = np.clip((d - st.biz_start[i]) / 30.0, 0.0, 1.0)
    depth = np.where(shocked, st.biz_depth[i] * ramp, 0.0)
    frozen = st.legal_hit_until[i] >= d
    employed = st.employed[i]
    has_job = (seg == SALARIED) | (seg == OTHER)
    working = np.where(has_job & ~employed, 0.0, 1.0)
    living = pop.consumption_ratio[i] * np.maximum(st.income_slow[i], 0.4 * base)
    cols = [
        st.cash[i] / living,
        st.income_slow[i] / base,
        f_ind * f_reg * (1.0 - depth) * np.where(frozen, 0.75, 1.0) * working,
        f_ind * f_reg,
        employed,
        np.where(employed, 0, st.jobless_until[i] - d),
        depth,
        np.where(shocked, st.biz_until[i] - d, 0),
        frozen,
        *(st.cause_cash[c, i] / base for c in range(len(CAUSES))),
        st.pressure[i],
        st.engagement()[i],
        st.grace_until[i] >= d,
        st.other_debt[i] / st.other_cap[i],
        st.other_debt[i] / base,
        st.room(i) / base,
        pop.over_borrower[i],
        pop.bad_habits[i],
        pop.gambling[i],
        pop.discipline[i],
        pop.consumption_ratio[i],
    ]
    x = np.clip(np.column_stack(cols).astype(np.float64), _LOW, _HIGH).astype(np.float32)
    return i.astype(np.int32), x


class LatentWriter:
    """Collects `snapshot()` rows of one run and writes them to `path` as a `.npz`.

    Use as `sim.record_latent(writer.add)`, then `writer.close()` after the events (or
    `writer.discard()` on failure). Each column waits in its own temporary file (in a
    directory beside `path`) and is streamed into its `.npy` member at the end: memory
    does not depend on the number of rows."""

    def __init__(self, path: str | os.PathLike, sim: Simulation) -> None:
        self.path = Path(path)
        self.ids = np.array(sim.ids)
        self.day0 = sim.start.toordinal() - _EPOCH_ORDINAL
        self.dtypes = {"borrower": np.dtype("<i4"), "day": np.dtype("<i4"),
                       **{name: np.dtype("<f4") for name in LATENT_NAMES}}
        self.dir = Path(tempfile.mkdtemp(prefix=".latent-", dir=self.path.parent))
        self.files = {name: open(self.dir / name, "wb", buffering=1 << 16)  # noqa: SIM115
                      for name in self.dtypes}
        self.rows = 0

    def add(self, d: int, borrower: np.ndarray, x: np.ndarray) -> None:
        f = self.files
        borrower.astype("<i4").tofile(f["borrower"])
        np.full(borrower.size, self.day0 + d, dtype="<i4").tofile(f["day"])
        for j, name in enumerate(LATENT_NAMES):
            np.ascontiguousarray(x[:, j], dtype="<f4").tofile(f[name])
        self.rows += borrower.size

    def close(self) -> int:
        """Write the `.npz` (to `path` exactly, no suffix added); returns the row count."""
        for f in self.files.values():
            f.close()
        try:
            with zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_DEFLATED,
                                 compresslevel=COMPRESSLEVEL) as z:
                for name, arr in (("borrower_id", self.ids), ("names", np.array(LATENT_NAMES))):
                    with z.open(f"{name}.npy", "w", force_zip64=True) as out:
                        np.lib.format.write_array(out, arr, allow_pickle=False)
                for name, dtype in self.dtypes.items():
                    with z.open(f"{name}.npy", "w", force_zip64=True) as out, \
                            open(self.dir / name, "rb") as src:
                        np.lib.format.write_array_header_1_0(out, {
                            "descr": np.lib.format.dtype_to_descr(dtype),
                            "fortran_order": False, "shape": (self.rows,)})
                        shutil.copyfileobj(src, out, 1 << 20)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
        return self.rows

    def discard(self) -> None:
        for f in self.files.values():
            f.close()
        shutil.rmtree(self.dir, ignore_errors=True)
