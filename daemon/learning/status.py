"""Learning in ``ssdd status``: prompts captured / kept / used per round, the last round's mix,
and each round's traffic check beside its pass@1.

Its part of the status object (``daemon.status.StatusReport``; nothing existing is renamed):

- ``learning``: ``{"capture": bool, "prompts": {"captured", "imported", "kept", "kept_train",
  "kept_check", "dropped": {reason: n}}, "last_mix": {...} | null, "rounds": [{"round",
  "captured", "kept", "used"}]}``; ``captured`` / ``kept`` per round count the prompts that
  arrived between the previous round's start and this round's start (what it could draw
  from), ``used`` the captured prompts it trained on;
- on every round (and the running one): ``"mix"`` and ``"traffic_check"`` (null when the
  round had none).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from daemon.config import DaemonConfig
from daemon.learning.store import PromptStore
from daemon.state import RoundRow, Store


class RoundPrompts(BaseModel):
    """Per round: prompts that arrived before it started (since the previous round) and kept,
    and the captured prompts it trained on."""

    model_config = ConfigDict(extra="forbid")
    round: str
    captured: int
    kept: int
    used: int


class LearningStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capture: bool
    prompts: dict[str, Any]  # captured, imported, kept, kept_train, kept_check, dropped {reason: n}
    last_mix: dict[str, Any] | None
    rounds: list[RoundPrompts]


class LearningError(BaseModel):
    """Status must show something even on an odd database."""

    model_config = ConfigDict(extra="forbid")
    error: str


class RoundLearning(BaseModel):
    """What learning adds to one round in the status: its mix and its traffic check."""

    mix: dict[str, Any] | None = None
    traffic_check: dict[str, Any] | None = None


def round_learning(store: Store, names: Sequence[str]) -> dict[str, RoundLearning]:
    """The mix and traffic check of each named round (rounds without either are left out)."""
    try:
        learned = PromptStore(store).round_learning(list(names))
    except Exception:  # the learning section reports the error
        return {}
    return {
        name: RoundLearning(
            mix=json.loads(rl.mix_json) if rl.mix_json else None,
            traffic_check=json.loads(rl.traffic_json) if rl.traffic_json else None,
        )
        for name, rl in learned.items()
    }


def learning_status(
    cfg: DaemonConfig, store: Store, rounds: Sequence[RoundRow], per_round: dict[str, RoundLearning]
) -> LearningStatus | LearningError:
    """The ``learning`` section of ``ssdd status --json`` for the listed rounds (newest first)."""
    try:
        pstore = PromptStore(store)
        starts = {r.name: r.started_at for r in store.rounds()}
        order = sorted(starts, key=lambda n: starts[n])
        previous = {n: (starts[order[i - 1]] if i else None) for i, n in enumerate(order)}
        counts = [
            RoundPrompts(
                round=r.name,
                **pstore.window_counts(previous.get(r.name), r.started_at),
                used=pstore.used_in_round(r.name),
            )
            for r in rounds
        ]
        mixes = ((r.name, per_round[r.name].mix) for r in rounds if r.name in per_round)
        last_mix = next(({"round": name, **mix} for name, mix in mixes if mix), None)
        return LearningStatus(
            capture=bool(cfg.learning.capture), prompts=pstore.counts(), last_mix=last_mix, rounds=counts
        )
    except Exception as exc:  # status must show something even on an odd database
        return LearningError(error=f"{type(exc).__name__}: {exc}")


def learning_rows(st: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) rows for the people's status table."""
    lr = st.get("learning") or {}
    if "error" in lr:
        return [("learning", f"[red]{lr['error']}[/]")]
    p = lr.get("prompts") or {}
    rows = [
        (
            "prompt capture",
            ("[yellow]ON[/]" if lr.get("capture") else "off")
            + f": {p.get('captured', 0)} captured, {p.get('imported', 0)} imported, {p.get('kept', 0)} kept "
            f"({p.get('kept_train', 0)} to train, {p.get('kept_check', 0)} for the traffic check)"
            + (
                "; dropped " + ", ".join(f"{n} {r}" for r, n in sorted(p["dropped"].items(), key=lambda kv: -kv[1]))
                if p.get("dropped")
                else ""
            ),
        )
    ]
    mix = lr.get("last_mix")
    if mix:
        rows.append(
            ("last mix", f"{mix['round']}: {mix.get('pool', 0)} pool + {mix.get('captured', 0)} captured prompts")
        )
    tc = next((r["traffic_check"] for r in st.get("rounds", []) if r.get("traffic_check")), None)
    if tc:
        if tc.get("run"):
            pct = lambda x: "-" if x is None else f"{x:.0%}"  # noqa: E731
            text = (
                f"code compiles {pct(tc['champion_code_ok'])} -> {pct(tc['candidate_code_ok'])}, degenerate "
                f"{pct(tc['champion_degenerate'])} -> {pct(tc['candidate_degenerate'])} on {tc['prompts']} prompts"
                + (" [red]worse: not promoted[/]" if tc.get("vetoed") else " [red]worse[/]" if tc.get("worse") else "")
            )
        else:
            text = tc.get("reason", "not run")
        rows.append(("traffic check", text))
    return rows
