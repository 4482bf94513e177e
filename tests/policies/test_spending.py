"""The lifetime alpha-spending schedule: levels, telescoping, fallback carry and fixed budget terms."""

from __future__ import annotations

import math

import pytest

from policies import spending
from policies.spending import SpendingSettings

S = SpendingSettings()


def test_gammas_telescope_to_the_unscheduled_fraction():
    total = 0.0
    for k in range(1, 2001):
        g = spending.gamma(k, S)
        assert g > 0
        total += g
        if k in (1, 10, 100, 2000):
            assert total == pytest.approx(1 - spending.unscheduled_fraction(k, S), rel=1e-12)
    assert spending.unscheduled_fraction(0, S) == 1.0


def test_default_schedule_values():
    # F(k) = (1 + k/10)^-0.5
    assert 0.05 * spending.gamma(1, S) == pytest.approx(0.05 * (1 - 1.1**-0.5), rel=1e-12)
    assert spending.unscheduled_fraction(10, S) == pytest.approx(2**-0.5)
    assert spending.unscheduled_fraction(100, S) == pytest.approx(11**-0.5)
    assert spending.unscheduled_fraction(1000, S) == pytest.approx(101**-0.5)
    # The level decays like k^-1.5 eventually and stays positive at any k.
    g6, g7 = spending.gamma(10**6, S), spending.gamma(10**7, S)
    assert g6 / g7 == pytest.approx(10**1.5, rel=1e-3)
    assert spending.gamma(10**12, S) > 0


def test_gamma_is_accurate_where_differences_would_cancel():
    k = 10**9
    exact = math.exp(-0.5 * math.log1p((k - 1) / 10)) - math.exp(-0.5 * math.log1p(k / 10))
    assert spending.gamma(k, S) == pytest.approx(exact, rel=1e-6)  # direct difference is only ~1e-7 accurate


def test_next_level_includes_carry_only_with_fallback():
    assert spending.next_level(0.05, 3, 0.01, S) == pytest.approx(0.05 * spending.gamma(4, S) + 0.01)
    off = SpendingSettings(fallback=False)
    assert spending.next_level(0.05, 3, 0.01, off) == pytest.approx(0.05 * spending.gamma(4, off))


def test_bad_arguments():
    with pytest.raises(ValueError, match="tests are numbered from 1, got k=0"):
        spending.gamma(0, S)
    with pytest.raises(ValueError, match="tests must be >= 0, got -1"):
        spending.unscheduled_fraction(-1, S)


def test_check_terms():
    t = spending.budget_terms(0.05, S)
    spending.check_terms(None, 0.05, S, "x")
    spending.check_terms(t, 0.05, S, "x")
    with pytest.raises(ValueError, match="x: the budget terms cannot change.*fallback: ledger True, config False"):
        spending.check_terms(t, 0.05, SpendingSettings(fallback=False), "x")
