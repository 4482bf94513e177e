"""A sequential test that will never decide (its round failed, its champion changed) still
counts on its ledger, at its level, as a test that did not reject: otherwise the next test
would run again at the same alpha_k and abandoned tests would add to the lifetime bound."""

from __future__ import annotations

from policies import spending
from policies.gate import GateConfig, GateLedger
from policies.rollback import ReevalConfig, ReevalLedger
from policies.sequential import make_plan
from policies.sequential_gate import abandon_gate_test, abandon_reevaluation_test

IDS = [f"p{i}" for i in range(40)]


def _plan(cfg, ledger, direction="greater"):
    level = spending.next_level(cfg.alpha, ledger.tests, ledger.carry, cfg)
    return make_plan(
        IDS, direction=direction, seed=3, level=level, n=1, settings=cfg, min_problems=8, test_index=ledger.tests + 1
    )


def test_an_abandoned_gate_test_spends_its_level_and_moves_the_ledger_on():
    cfg, ledger = GateConfig(), GateLedger()
    plan = _plan(cfg, ledger)
    after = abandon_gate_test(plan, ledger, cfg)
    assert after.tests == 1 and after.promotions == 0
    assert after.alpha_spent == plan.level  # spent, as a test that did not promote
    nxt = _plan(cfg, after)
    assert nxt.test_index == 2 and nxt.level != plan.level
    assert abandon_gate_test(plan, after, cfg) == after  # a plan the ledger already passed: no-op


def test_an_abandoned_rollback_test_spends_its_level():
    cfg, ledger = ReevalConfig(), ReevalLedger()
    plan = _plan(cfg, ledger, "less")
    after = abandon_reevaluation_test(plan, ledger, cfg)
    assert after.tests == 1 and after.rollbacks == 0 and after.alpha_spent == plan.level
    assert abandon_reevaluation_test(plan, after, cfg) == after
