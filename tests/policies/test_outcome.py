"""policies.outcome: the round's outcome after the gate, from plain values."""

from __future__ import annotations

import pytest

from policies.outcome import (
    Outcome,
    TrafficVerdict,
    champion_changed,
    override_spends_budget,
    round_outcome,
    zero_effect,
)

WORSE = TrafficVerdict(worse=True, reason="code compiles 90% -> 40%")
FINE = TrafficVerdict(worse=False, reason="no worse")


def test_a_zero_effect_candidate_is_rejected_without_a_test():
    o = zero_effect("LoRA B matrices are all zero")
    assert o.decision == "reject" and o.reason.startswith("REJECT without a test") and "all zero" in o.reason


@pytest.mark.parametrize(
    "gate_promote, traffic, override, decision, vetoed",
    [
        (True, None, False, "promote", False),
        (False, None, False, "reject", False),
        (True, FINE, False, "promote", False),
        (True, WORSE, False, "reject", True),  # the traffic check vetoes
        (False, WORSE, False, "reject", False),  # nothing to veto
        (False, None, True, "promote", False),  # the operator's override
        (False, WORSE, True, "promote", False),  # the override stands over the traffic check
    ],
)
def test_round_outcome(gate_promote, traffic, override, decision, vetoed):
    o = round_outcome(gate_promote, "the gate's reason", traffic, operator_override=override)
    assert (o.decision, o.traffic_vetoed) == (decision, vetoed)
    assert "the gate's reason" in o.reason
    if vetoed:
        assert o.reason.startswith("KEEP champion: the traffic check vetoes") and WORSE.reason in o.reason
    if override:
        assert "operator override" in o.reason
        assert ("overridden by the operator" in o.reason) == (traffic is WORSE)


def test_only_a_real_test_spends_budget():
    assert override_spends_budget(False) and not override_spends_budget(True)


@pytest.mark.parametrize(
    "decision, parent, current, expected",
    [
        ("promote", "r1", "r1", None),  # nothing changed
        ("promote", "r1", "r2", "reject"),  # a rollback or another promotion meanwhile
        ("promote", None, "r2", "reject"),
        ("promote", "r1", None, "reject"),  # rolled back to the base meanwhile
        ("promote", "r1", "cand", None),  # a resumed promotion: the candidate already serves
        ("reject", "r1", "r2", None),  # a rejection stays a rejection
    ],
)
def test_a_promotion_against_a_champion_that_no_longer_serves_is_void(decision, parent, current, expected):
    o = champion_changed(decision, "why", parent=parent, current=current, candidate="cand")
    assert (o.decision if isinstance(o, Outcome) else None) == expected
    if o is not None:
        assert f"({parent or 'base'} -> {current or 'base'})" in o.reason and o.reason.endswith("why")
