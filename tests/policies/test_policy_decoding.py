"""The T_eval policy: the incumbent stays unless another temperature wins after correction."""

from __future__ import annotations

import numpy as np
import pytest
from policy_builders import binary_pair, from_arrays, simulate_pair

from policies.counts import ProblemCounts
from policies.decoding import TemperatureResult, TEvalConfig, choose_gate_decoding, choose_t_eval
from policies.simulate import frozen_heap


@pytest.fixture(autouse=True)
def _no_full_gc_per_holm():
    """statsmodels' Holm runs gc.collect() on every call; with pytest's heap that takes
    seconds. Freezing the heap for each test changes nothing else."""
    with frozen_heap():
        yield


def test_incumbent_kept_when_others_are_only_noisily_better():
    inc, slightly = binary_pair(27, 3, 5, 65)  # +2 points, p ~ 0.36
    _, worse = binary_pair(25, 5, 0, 70)
    results = [
        TemperatureResult(t=0.0, counts=inc),
        TemperatureResult(t=0.6, counts=slightly),
        TemperatureResult(t=1.0, counts=worse),
    ]
    d = choose_t_eval(results, TEvalConfig(incumbent_t=0.0))
    assert d.t_eval == 0.0 and not d.changed
    assert d.best_t == 0.6
    assert "not significantly better" in d.reason
    assert [s.t for s in d.per_temperature] == [0.0, 0.6, 1.0]


def test_significantly_better_temperature_is_chosen():
    inc, much = binary_pair(28, 2, 32, 38)
    results = [TemperatureResult(t=0.2, counts=inc), TemperatureResult(t=0.7, counts=much)]
    d = choose_t_eval(results, TEvalConfig(incumbent_t=0.2))
    assert d.changed and d.t_eval == 0.7
    assert d.chosen_pass1 == pytest.approx(0.60) and d.incumbent_pass1 == pytest.approx(0.30)
    assert d.reason.startswith("CHANGE")


def test_ties_between_significant_winners_go_to_the_lower_temperature():
    inc, much = binary_pair(28, 2, 32, 38)
    results = [
        TemperatureResult(t=1.0, counts=much),
        TemperatureResult(t=0.0, counts=inc),
        TemperatureResult(t=0.5, counts=much),
    ]
    d = choose_t_eval(results, TEvalConfig(incumbent_t=0.0))
    assert d.t_eval == 0.5 and d.best_t == 0.5


def test_incumbent_ties_keep_incumbent_even_if_higher_temperature():
    inc, same = binary_pair(30, 0, 0, 70)
    results = [TemperatureResult(t=0.0, counts=same), TemperatureResult(t=0.8, counts=inc)]
    d = choose_t_eval(results, TEvalConfig(incumbent_t=0.8))
    assert d.t_eval == 0.8 and not d.changed
    assert d.best_t == 0.0  # the raw argmax tie-breaks low, but it is not significantly better


def test_holm_correction_blocks_best_of_many_noise():
    # 9 wins vs 1 loss: one-sided p = 11/1024, significant alone, not after Holm over 5.
    inc, better = binary_pair(30, 1, 9, 60)
    _, same = binary_pair(30, 0, 0, 70)
    results = [TemperatureResult(t=0.0, counts=inc), TemperatureResult(t=0.4, counts=better)] + [
        TemperatureResult(t=t, counts=same) for t in (0.6, 0.8, 1.0, 1.2)
    ]
    assert choose_t_eval(results, TEvalConfig(incumbent_t=0.0, correction="none")).t_eval == 0.4
    for correction in ("holm", "bonferroni"):
        d = choose_t_eval(results, TEvalConfig(incumbent_t=0.0, correction=correction))
        assert d.t_eval == 0.0
        s = next(s for s in d.per_temperature if s.t == 0.4)
        assert s.comparison.p_value == pytest.approx(11 / 1024, rel=1e-12)
        assert s.p_adjusted == pytest.approx(5 * 11 / 1024, rel=1e-12)  # smallest p: Holm = Bonferroni
        assert correction in d.reason


def test_holm_is_more_powerful_than_bonferroni():
    inc = [1] * 31 + [0] * 69

    def flip(losses, wins):  # the incumbent with `losses` passes lost and `wins` failures won
        out = list(inc)
        for i in range(losses):
            out[i] = 0
        for i in range(wins):
            out[31 + i] = 1
        return from_arrays(out, 1)

    results = [
        TemperatureResult(t=0.0, counts=from_arrays(inc, 1)),
        TemperatureResult(t=0.5, counts=flip(2, 11)),  # p = P(Bin(13, 1/2) >= 11) = 0.01123
        TemperatureResult(t=1.0, counts=flip(3, 11)),  # p = P(Bin(14, 1/2) >= 11) = 0.02869
    ]
    holm = {s.t: s for s in choose_t_eval(results, TEvalConfig(incumbent_t=0.0)).per_temperature}
    bonf = {
        s.t: s for s in choose_t_eval(results, TEvalConfig(incumbent_t=0.0, correction="bonferroni")).per_temperature
    }
    assert holm[0.5].comparison.p_value == pytest.approx(92 / 2**13, rel=1e-12)
    assert holm[1.0].comparison.p_value == pytest.approx(470 / 2**14, rel=1e-12)
    # Holm: 2 x 0.01123 and then 1 x 0.02869; Bonferroni: 2 x both.
    assert holm[0.5].p_adjusted == pytest.approx(2 * 92 / 2**13) and holm[0.5].significant
    assert holm[1.0].p_adjusted == pytest.approx(470 / 2**14) and holm[1.0].significant
    assert bonf[1.0].p_adjusted == pytest.approx(2 * 470 / 2**14) and not bonf[1.0].significant


def test_multi_sample_sweep():
    rng = np.random.default_rng(9)
    p = rng.uniform(0, 1, 120)
    results = [
        TemperatureResult(t=t, counts=from_arrays(rng.binomial(8, np.clip(p + shift, 0, 1)), 8))
        for t, shift in ((0.0, 0.0), (0.5, 0.15), (1.0, 0.0))
    ]
    d = choose_t_eval(results, TEvalConfig(incumbent_t=0.0))
    assert d.t_eval == 0.5
    assert d.per_temperature[1].comparison.test == "signflip"


def test_null_sweep_rarely_moves_off_the_incumbent():
    rng = np.random.default_rng(10)
    moved = 0
    sims = 100
    cfg = TEvalConfig(incumbent_t=0.0, n_bootstrap=100)
    for _ in range(sims):
        p = rng.uniform(0, 1, 100)
        results = [TemperatureResult(t=t, counts=from_arrays(rng.binomial(1, p), 1)) for t in (0.0, 0.3, 0.6, 0.9, 1.2)]
        moved += choose_t_eval(results, cfg).changed
    assert moved / sims <= 0.08


def test_sweep_validation_errors():
    a, b = simulate_pair(np.random.default_rng(0), 30, 1)
    cfg = TEvalConfig(incumbent_t=0.0)
    with pytest.raises(ValueError, match="not in the sweep"):
        choose_t_eval([TemperatureResult(t=0.5, counts=a)], TEvalConfig(incumbent_t=0.0))
    with pytest.raises(ValueError, match="repeat"):
        choose_t_eval([TemperatureResult(t=0.0, counts=a), TemperatureResult(t=0.0, counts=b)], cfg)
    with pytest.raises(ValueError, match="empty"):
        choose_t_eval([], TEvalConfig(incumbent_t=0.0))
    shifted = [ProblemCounts(problem_id="z" + pc.problem_id, n=1, c=pc.c) for pc in b]
    with pytest.raises(ValueError, match=r"temperature 1.0: problem ids differ"):
        choose_t_eval([TemperatureResult(t=0.0, counts=a), TemperatureResult(t=1.0, counts=shifted)], cfg)


def _sweep(prefix, temps=(0.0, 0.6, 1.0), m=40, winner=None):
    rng = np.random.default_rng(21)
    p = rng.uniform(0, 1, m)
    out = []
    for t in temps:
        shift = 0.3 if t == winner else 0.0
        out.append(
            TemperatureResult(t=t, counts=from_arrays(rng.binomial(1, np.clip(p + shift, 0, 1)), 1, prefix=prefix))
        )
    return out


def test_gate_decoding_is_tuned_on_the_calibration_split():
    cal = _sweep("cal", winner=0.6)
    gate_ids = [f"gate{i:04d}" for i in range(100)]
    d = choose_gate_decoding(cal, [0.0, 0.6, 1.0], TEvalConfig(incumbent_t=0.0), gate_problem_ids=gate_ids)
    assert d.tuned and d.t_eval == 0.6 and d.n_calibration_problems == 40
    assert d.decision is not None and d.decision.changed
    assert "calibration problems disjoint from the 100 gate problems" in d.reason
    d = choose_gate_decoding(_sweep("cal"), [1.0, 0.0, 0.6], TEvalConfig(incumbent_t=0.0), gate_problem_ids=gate_ids)
    assert d.t_eval == 0.0 and not d.decision.changed


def test_gate_decoding_refuses_the_gate_set_and_partial_sweeps():
    cal = _sweep("p")
    with pytest.raises(ValueError, match="overlap"):
        choose_gate_decoding(cal, [0.0, 0.6, 1.0], TEvalConfig(incumbent_t=0.0), gate_problem_ids=["p0003", "x"])
    with pytest.raises(ValueError, match="exactly the configured"):
        choose_gate_decoding(cal[:2], [0.0, 0.6, 1.0], TEvalConfig(incumbent_t=0.0), gate_problem_ids=[])
    with pytest.raises(ValueError, match="exactly the configured"):
        choose_gate_decoding(cal, [0.0, 0.6], TEvalConfig(incumbent_t=0.0), gate_problem_ids=[])
    with pytest.raises(ValueError, match="not among the configured"):
        choose_gate_decoding(cal, [0.0, 0.6, 1.0], TEvalConfig(incumbent_t=0.2), gate_problem_ids=[])
    with pytest.raises(ValueError, match="repeat"):
        choose_gate_decoding(cal, [0.0, 0.0], TEvalConfig(incumbent_t=0.0), gate_problem_ids=[])


def test_gate_decoding_with_one_temperature_needs_no_calibration():
    d = choose_gate_decoding([], [0.6], TEvalConfig(incumbent_t=0.6), gate_problem_ids=["a"])
    assert d.t_eval == 0.6 and not d.tuned and d.decision is None and "nothing to tune" in d.reason
