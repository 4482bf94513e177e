"""The collapse guard (policies.health) on constructed drifts: each threshold trips on its
own drift in the collapse direction, and a healthy, noisy sequence never trips."""

from __future__ import annotations

import random

import pytest

from policies.health import HealthGuardConfig, HealthSignals, check_candidate, check_lineage, lineage_baseline

CFG = HealthGuardConfig()


def healthy(**over) -> HealthSignals:
    base = dict(
        outputs=200,
        length_unit="tokens",
        length_mean=180.0,
        length_std=70.0,
        truncated_frac=0.05,
        empty_frac=0.0,
        distinct={1: 0.08, 2: 0.30, 3: 0.55, 4: 0.70},
        repetition_rate=0.04,
        code_outputs=200,
        parse_frac=0.85,
        mean_logprob=-0.9,
        logprob_outputs=200,
    )
    base.update(over)
    return HealthSignals(**base)


# (signal, a drift just past the default threshold, one just inside it)
DRIFTS = [
    ("length_mean", {"length_mean": 180.0 * 0.64}, {"length_mean": 180.0 * 0.66}),
    ("length_std", {"length_std": 70.0 * 0.39}, {"length_std": 70.0 * 0.41}),
    ("truncated_frac", {"truncated_frac": 0.26}, {"truncated_frac": 0.24}),
    (
        "distinct_2",
        {"distinct": {1: 0.08, 2: 0.30 * 0.69, 3: 0.55, 4: 0.70}},
        {"distinct": {1: 0.08, 2: 0.30 * 0.71, 3: 0.55, 4: 0.70}},
    ),
    ("repetition_rate", {"repetition_rate": 0.20}, {"repetition_rate": 0.18}),
    ("parse_frac", {"parse_frac": 0.64}, {"parse_frac": 0.66}),
    ("mean_logprob", {"mean_logprob": -0.39}, {"mean_logprob": -0.41}),
]


@pytest.mark.parametrize("signal,past,inside", DRIFTS, ids=[d[0] for d in DRIFTS])
def test_each_threshold_trips_on_its_drift_and_only_past_it(signal, past, inside):
    v = check_candidate(healthy(), healthy(**past), CFG)
    assert not v.ok and v.checked
    assert [t.signal for t in v.trips] == [signal]
    assert v.trips[0].message in v.reason and v.reason.startswith("candidate outputs")
    assert check_candidate(healthy(), healthy(**inside), CFG).ok


@pytest.mark.parametrize("signal,past,inside", DRIFTS, ids=[d[0] for d in DRIFTS])
def test_a_switched_off_threshold_stays_quiet(signal, past, inside):
    field = {
        "length_mean": "max_length_drop",
        "length_std": "max_spread_drop",
        "truncated_frac": "max_truncated_rise",
        "distinct_2": "max_distinct_drop",
        "repetition_rate": "max_repetition_rise",
        "parse_frac": "max_parse_drop",
        "mean_logprob": "max_logprob_rise",
    }[signal]
    assert check_candidate(healthy(), healthy(**past), CFG.model_copy(update={field: None})).ok


def test_changes_away_from_collapse_are_not_refused():
    better = healthy(
        length_mean=400.0,
        length_std=200.0,
        truncated_frac=0.0,
        distinct={1: 0.2, 2: 0.6, 3: 0.8, 4: 0.9},
        repetition_rate=0.0,
        parse_frac=1.0,
        mean_logprob=-2.0,
    )
    assert check_candidate(healthy(), better, CFG).ok


def test_all_drifts_at_once_name_every_signal():
    collapsed = healthy(**{k: v for _, past, _ in DRIFTS for k, v in past.items()})
    v = check_candidate(healthy(), collapsed, CFG)
    assert {t.signal for t in v.trips} == {d[0] for d in DRIFTS}


def test_lengths_in_different_units_are_not_compared():
    chars = healthy(length_unit="chars", length_mean=10.0, length_std=1.0)
    assert check_candidate(healthy(), chars, CFG).ok


def test_missing_parse_or_logprob_is_not_a_drift():
    assert check_candidate(healthy(), healthy(parse_frac=None, mean_logprob=None), CFG).ok


def test_too_few_outputs_or_disabled_checks_nothing():
    collapsed = healthy(length_mean=10.0, outputs=5)
    v = check_candidate(healthy(), collapsed, CFG)
    assert v.ok and not v.checked and "min_outputs" in v.reason
    v = check_candidate(healthy(), healthy(length_mean=10.0), CFG.model_copy(update={"enabled": False}))
    assert v.ok and not v.checked


def _noisy(rnd: random.Random) -> HealthSignals:
    """A healthy round: every signal within sampling noise of the same model."""
    return healthy(
        length_mean=180.0 * rnd.uniform(0.9, 1.1),
        length_std=70.0 * rnd.uniform(0.85, 1.15),
        truncated_frac=rnd.uniform(0.02, 0.09),
        distinct={1: 0.08, 2: 0.30 * rnd.uniform(0.92, 1.08), 3: 0.55, 4: 0.70},
        repetition_rate=rnd.uniform(0.02, 0.07),
        parse_frac=rnd.uniform(0.78, 0.92),
        mean_logprob=rnd.uniform(-1.0, -0.8),
    )


def test_a_healthy_noisy_sequence_never_trips():
    rnd = random.Random(17)
    history: list[HealthSignals] = []
    for _ in range(40):
        cur = _noisy(rnd)
        assert check_lineage(history, cur, CFG).ok
        assert check_candidate(_noisy(rnd), _noisy(rnd), CFG).ok
        history.append(cur)


def test_gradual_collapse_trips_the_lineage_guard_though_no_single_step_does():
    # 6% shorter per round: each step is well inside the 35% threshold, the sum is not.
    seq = [healthy(length_mean=180.0 * 0.94**i) for i in range(12)]
    assert all(check_candidate(a, b, CFG).ok for a, b in zip(seq, seq[1:]))
    verdicts = [check_lineage(seq[:i], seq[i], CFG) for i in range(1, len(seq))]
    first_trip = next(i for i, v in enumerate(verdicts, start=1) if not v.ok)
    # baseline = median of rounds 0..2 = 180 * 0.94; a drop past 35% needs 0.94**i < 0.65 * 0.94
    assert first_trip == next(i for i in range(1, 12) if 0.94**i < (1 - CFG.max_length_drop) * 0.94)
    assert verdicts[first_trip - 1].trips[0].signal == "length_mean"
    assert "samples vs the first 3 round(s)" in verdicts[first_trip - 1].reason


def test_no_history_is_nothing_to_compare():
    v = check_lineage([], healthy(length_mean=1.0), CFG)
    assert v.ok and not v.checked


def test_baseline_is_the_median_of_the_first_rounds():
    hist = [healthy(length_mean=m) for m in (100.0, 300.0, 200.0, 5.0)]
    base = lineage_baseline(hist, CFG)
    assert base is not None and base.length_mean == 200.0  # round 4 (5.0) is not in the baseline
