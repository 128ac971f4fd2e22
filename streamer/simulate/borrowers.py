"""The population: each borrower's latent attributes, drawn once from the seed.

Attributes are numpy arrays indexed by borrower (struct of arrays), so a day of the whole
portfolio is a handful of vector operations. Scenarios never change the population.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEGMENTS = ("salaried", "self_employed", "small_business", "student", "other")
SEGMENT_SHARE = (0.55, 0.14, 0.11, 0.08, 0.12)
SALARIED, SELF_EMPLOYED, SMALL_BUSINESS, STUDENT, OTHER = range(5)

INDUSTRIES = (
    "manufacturing", "retail", "construction", "hospitality", "it_services", "agriculture",
    "logistics", "public_sector",
)
INDUSTRY_SHARE = (0.20, 0.16, 0.10, 0.10, 0.09, 0.07, 0.10, 0.18)
REGIONS = tuple(f"R{i:02d}" for i in range(1, 13))
_REGION_WEIGHT = np.array([14, 12, 11, 10, 9, 8, 8, 7, 6, 6, 5, 4], dtype=float)

# Per segment: median monthly income (CNY), its spread across borrowers, and how much one
# income payment varies (salaries barely; business income a lot).
MEDIAN_INCOME = np.array([7500.0, 9000.0, 14000.0, 2200.0, 5000.0])
INCOME_SPREAD = np.array([0.45, 0.60, 0.60, 0.30, 0.50])
INCOME_VOLATILITY = np.array([0.03, 0.35, 0.40, 0.15, 0.30])

BAD_HABIT_SHARE = 0.07
OVER_BORROWER_SHARE = 0.07


@dataclass
class Population:
    n: int
    segment: np.ndarray  # int8 code into SEGMENTS
    industry: np.ndarray
    region: np.ndarray
    income: np.ndarray  # normal monthly income, CNY
    volatility: np.ndarray
    bad_habits: np.ndarray  # bool: gambling, cash withdrawals, careless payment
    gambling: np.ndarray  # share of monthly income gambled (0 for most)
    over_borrower: np.ndarray  # bool: spends beyond income, borrows often
    consumption_ratio: np.ndarray  # spending / income in normal times
    appetite: np.ndarray  # draws per year on the credit line in normal times
    discipline: np.ndarray  # probability of paying a due installment when able
    credit_score: np.ndarray  # int, -1 when the bureau has no score
    prior_delinquencies: np.ndarray
    credit_limit: np.ndarray
    cash: np.ndarray  # savings at the start
    buffer: np.ndarray  # savings the borrower keeps; above it, money gets spent
    other_debt: np.ndarray  # debt with other lenders (cards, other platforms)
    other_cap: np.ndarray  # how much other lenders will lend
    rent: np.ndarray  # monthly rent, 0 for owners / living with family
    payday: np.ndarray  # day of month of salary / family transfer
    rent_day: np.ndarray
    bill_day: np.ndarray  # utilities
    other_loan_day: np.ndarray
    grocery_weekday: np.ndarray
    income_weekday: np.ndarray  # business and gig income arrive weekly, not every week
    grocery_week: np.ndarray  # 0/1: groceries are bought every other week
    industry_lag: np.ndarray  # days before an industry's cycle reaches this income
    region_lag: np.ndarray
    open_day: np.ndarray  # day the account is opened
    review_day: np.ndarray  # day (mod 91) of the lender's quarterly limit review


def _choice(rng: np.random.Generator, n: int, weights: np.ndarray | tuple) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right").astype(np.int8)


def make_population(n: int, days: int, rng: np.random.Generator) -> Population:
    """Draw `n` borrowers; accounts open mostly in the first month, some all year."""
    seg = _choice(rng, n, SEGMENT_SHARE)
    ind = _choice(rng, n, INDUSTRY_SHARE)
    reg = _choice(rng, n, _REGION_WEIGHT)
    income = MEDIAN_INCOME[seg] * np.exp(INCOME_SPREAD[seg] * rng.standard_normal(n))
    income = np.round(np.clip(income, 800.0, 300_000.0), 0)

    bad = rng.random(n) < BAD_HABIT_SHARE
    over = (rng.random(n) < OVER_BORROWER_SHARE) & (seg != 3)
    gambling = np.where(bad & (rng.random(n) < 0.6), rng.uniform(0.12, 0.45, n), 0.0)
    ratio = np.clip(rng.normal(0.80, 0.07, n), 0.6, 0.97)
    ratio = np.where(over, rng.uniform(1.05, 1.3, n), ratio)
    appetite = np.exp(rng.normal(np.log(0.9), 0.5, n))
    appetite = np.where(over, rng.uniform(4.0, 8.0, n), appetite)
    discipline = np.where(bad, rng.uniform(0.80, 0.93, n), rng.uniform(0.975, 0.998, n))

    prior = rng.poisson(0.12 + 1.3 * bad + 0.5 * over)
    z = rng.standard_normal(n)
    score = 690 + 55 * z - 110 * bad - 60 * over - 20 * np.minimum(prior, 5)
    score = score + 25 * np.log(income / MEDIAN_INCOME[seg])
    score = np.clip(np.round(score), 350, 950).astype(np.int32)
    thin_file = rng.random(n) < np.where(seg == 3, 0.4, 0.07)
    score = np.where(thin_file, -1, score)

    # Limit: a multiple of monthly income that grows with the score.
    quality = np.clip((np.where(score < 0, 600, score) - 350) / 400.0, 0.4, 1.5)
    limit = income * np.exp(rng.normal(np.log(1.8), 0.35, n)) * quality
    limit = np.clip(np.round(limit / 100.0) * 100.0, 2000.0, 300_000.0)

    buffer_months = np.exp(rng.normal(np.log(0.5), 0.9, n))
    buffer_months = np.where(over | bad, buffer_months * 0.3, buffer_months)
    has_other = rng.random(n) < 0.3
    other_debt = np.where(has_other, rng.uniform(0.2, 0.9, n), 0.0)
    other_debt = np.where(over, rng.uniform(2.0, 3.5, n), other_debt) * income
    other_cap = np.where(over, 3.8, 1.2) * income

    renter = rng.random(n) < np.where(seg == 3, 0.2, 0.45)
    rent = np.where(renter, np.round(0.22 * income * rng.uniform(0.8, 1.2, n), -1), 0.0)

    early = rng.random(n) < 0.85
    open_day = np.where(
        early, rng.integers(0, max(1, min(30, days)), n),
        rng.integers(0, max(1, int(days * 0.7)), n),
    ).astype(np.int32)

    return Population(
        n=n, segment=seg, industry=ind, region=reg, income=income,
        volatility=INCOME_VOLATILITY[seg], bad_habits=bad, gambling=gambling,
        over_borrower=over, consumption_ratio=ratio, appetite=appetite, discipline=discipline,
        credit_score=score, prior_delinquencies=prior.astype(np.int32), credit_limit=limit,
        cash=np.round(buffer_months * income, 2), buffer=buffer_months * income,
        other_debt=other_debt, other_cap=other_cap,
        rent=rent,
        payday=rng.integers(1, 29, n).astype(np.int8),
        rent_day=rng.integers(1, 29, n).astype(np.int8),
        bill_day=rng.integers(1, 29, n).astype(np.int8),
        other_loan_day=rng.integers(1, 29, n).astype(np.int8),
        grocery_weekday=rng.integers(0, 7, n).astype(np.int8),
        income_weekday=rng.integers(0, 7, n).astype(np.int8),
        grocery_week=rng.integers(0, 2, n).astype(np.int8),
        industry_lag=rng.integers(30, 121, n).astype(np.int32),
        region_lag=rng.integers(0, 61, n).astype(np.int32),
        open_day=open_day,
        review_day=rng.integers(0, 91, n).astype(np.int32),
    )
