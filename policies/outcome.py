"""A round's outcome: promote or keep the champion, and why, from what the round found.

Every judgement of a round after the tests ran is here, in order:

1. ``zero_effect``: the candidate changes nothing (its adapter is zero, vLLM serves the base
   again): rejected without a test and without spending error budget.
2. ``round_outcome``: the gate's verdict; the operator's ``--skip-gate`` override promotes
   whatever the gate says (spending nothing, ``override_spends_budget``); then the label-free
   traffic check vetoes a promotion it found significantly worse, except under the override
   (noted in the reason).
3. ``champion_changed``: a promotion compared against a champion that no longer serves
   (a rollback or a submission meanwhile) decides nothing: rejected.

Pure functions over plain values; the daemon records what they return.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from policies.health import HealthVerdict

Decision = Literal["promote", "reject"]


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)
    decision: Decision
    reason: str
    traffic_vetoed: bool = False  # the traffic check turned a promotion into a rejection


class TrafficVerdict(BaseModel):
    """What the traffic check found: ``worse`` (significantly, on either measure) and why."""

    model_config = ConfigDict(frozen=True)
    worse: bool
    reason: str


def zero_effect(detail: str) -> Outcome:
    """The candidate serves as the base model: nothing to test, nothing to spend."""
    return Outcome(decision="reject", reason=f"REJECT without a test: the candidate changes nothing. {detail}")


def override_spends_budget(operator_override: bool) -> bool:
    """An operator's override is not a test: the gate's ledger stays as it was."""
    return not operator_override


def gate_outcome(gate_promote: bool, gate_reason: str, *, operator_override: bool) -> Outcome:
    if operator_override:
        # Promoted whatever the test says; the scheduled re-evaluation against its parent
        # still guards the endpoint.
        return Outcome(
            decision="promote",
            reason=f"PROMOTE by operator override (ssdd submit --skip-gate); the gate said: {gate_reason}",
        )
    return Outcome(decision="promote" if gate_promote else "reject", reason=gate_reason)


def traffic_outcome(outcome: Outcome, traffic: TrafficVerdict | None, *, operator_override: bool) -> Outcome:
    """A significantly worse candidate on captured prompts is not promoted (the operator's
    override stands, with the check noted in its reason)."""
    if traffic is None or not traffic.worse or outcome.decision != "promote":
        return outcome
    if operator_override:
        return outcome.model_copy(
            update={"reason": f"{outcome.reason} Traffic check: {traffic.reason} (overridden by the operator)."}
        )
    return Outcome(
        decision="reject",
        reason=(
            f"KEEP champion: the traffic check vetoes the promotion: {traffic.reason}. The gate said: {outcome.reason}"
        ),
        traffic_vetoed=True,
    )


def round_outcome(
    gate_promote: bool, gate_reason: str, traffic: TrafficVerdict | None, *, operator_override: bool
) -> Outcome:
    """The decide stage's outcome: the gate (or the operator's override), then the traffic check."""
    first = gate_outcome(gate_promote, gate_reason, operator_override=operator_override)
    return traffic_outcome(first, traffic, operator_override=operator_override)


def champion_changed(
    decision: str | None, reason: str | None, *, parent: str | None, current: str | None, candidate: str
) -> Outcome | None:
    """A promotion decided against ``parent`` while ``current`` serves now: rejected (None: it stands).
    A candidate that already is the champion (a resumed promotion) stands."""
    if decision != "promote" or current == parent or current == candidate:
        return None
    return Outcome(
        decision="reject",
        reason=f"champion changed during the round ({parent or 'base'} -> {current or 'base'}); not promoted. {reason}",
    )


def health_outcome(outcome: Outcome, health: HealthVerdict | None, *, operator_override: bool) -> Outcome:
    """A candidate whose outputs drifted past the collapse guard's thresholds against the
    champion's, on the same gate problems in the same round, is not promoted (the operator's
    override stands, with the drift noted). Applied after the gate and the traffic check."""
    if health is None or health.ok or outcome.decision != "promote":
        return outcome
    if operator_override:
        return outcome.model_copy(
            update={"reason": f"{outcome.reason} Health guard: {health.reason} (overridden by the operator)."}
        )
    return Outcome(
        decision="reject",
        reason=f"KEEP champion: the health guard vetoes the promotion: {health.reason}. Before: {outcome.reason}",
    )
