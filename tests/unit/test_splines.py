"""Feature curves: knots at quantiles, a partition of one, flat outside the knots."""

from __future__ import annotations

import random

import pytest

from streamer.core.splines import Hats, curve


def test_knots_sit_at_quantiles_and_a_mostly_zero_feature_gets_fewer():
    rng = random.Random(5)
    rows = [{"u": rng.random(), "gambling": 0.0 if i % 10 else rng.random(), "flag": i % 2}
            for i in range(1000)]
    h = Hats.at_quantiles(rows, n_knots=5)
    assert len(h.knots["u"]) == 5 and h.knots["u"][0] < 0.01 and h.knots["u"][-1] > 0.99
    assert abs(h.knots["u"][2] - 0.5) < 0.05
    assert h.knots["gambling"][0] == 0.0 and len(h.knots["gambling"]) == 2  # 0, then its max
    assert "flag" not in h.knots  # two values: left as it is


def test_the_basis_is_a_partition_of_one_and_interpolates():
    h = Hats({"u": (0.0, 0.2, 1.0)})
    for v in (-5.0, 0.0, 0.1, 0.2, 0.6, 1.0, 7.0):
        cols = h.transform_one({"u": v})
        assert sorted(cols) == ["u@0", "u@1", "u@2"]
        assert abs(sum(cols.values()) - 1.0) < 1e-12 and min(cols.values()) >= 0.0
        # a curve is the basis weighted by its values at the knots
        values = (1.0, -2.0, 4.0)
        direct = sum(values[i] * cols[f"u@{i}"] for i in range(3))
        assert abs(curve(h.knots["u"], values, v) - direct) < 1e-12


@pytest.mark.parametrize("knots", [(1.0,), (0.0, 0.0, 1.0), (1.0, 0.5)])
def test_knots_that_are_not_increasing_are_refused(knots):
    with pytest.raises(ValueError, match="increasing"):
        Hats({"u": knots})


def test_the_basis_columns_come_in_knot_order_and_an_old_pickle_transforms_alike():
    """The regression sums the columns in the dict's order, so the order is part of the
    result; a Hats pickled before the column names were cached transforms the same."""
    import pickle

    h = Hats({"u": (0.0, 0.25, 1.0), "v": (1.0, 2.0)})
    old = pickle.loads(pickle.dumps(h))
    old.__dict__.pop("_cols", None)
    x = {"flag": 1.0, "u": 0.625, "v": 9.0}
    assert list(h.transform_one(x)) == ["flag", "u@0", "u@1", "u@2", "v@0", "v@1"]
    assert h.transform_one(x) == old.transform_one(x) == {
        "flag": 1.0, "u@0": 0.0, "u@1": 0.5, "u@2": 0.5, "v@0": 0.0, "v@1": 1.0}
