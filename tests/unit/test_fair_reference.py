"""benchmarks/fair_reference.py: which examples an online trainer had at the split."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "fair_reference.py"
_spec = importlib.util.spec_from_file_location("fair_reference", _PATH)
fr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fr)

DAY = 86_400.0


def test_a_positive_released_after_the_split_is_not_known_at_it() -> None:
    # in release order: two snapshots released at their horizon, then one of day 5 whose
    # spell defaulted late (released after day 130's horizon had passed), then day 140's
    seconds = np.array([0.0, 130.0, 5.0, 140.0]) * DAY
    split = 200.0 * DAY
    known = fr.released_by(seconds, 90 * DAY, split)
    assert known.tolist() == [True, False, False, False]
    # the evaluator's rule (ts + horizon <= split) would have counted the day-5 snapshot
    assert (seconds + 90 * DAY <= split).tolist() == [True, False, True, False]


def test_columns_are_aligned_by_name_and_a_missing_one_is_nan() -> None:
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    out = fr._aligned(x, ["b", "a"], ["a", "c", "b"])
    assert out[0, 0] == 2.0 and np.isnan(out[0, 1]) and out[0, 2] == 1.0
