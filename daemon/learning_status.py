"""Learning in ``ssdd status``: prompts captured / kept / used per round, the last round's mix,
and each round's traffic check beside its pass@1.

Keys added to the status object (nothing existing is renamed):

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
from typing import Any

from daemon.prompt_store import PromptStore
from daemon.state import Store


def add_learning_status(st: dict[str, Any], cfg: Any, store: Store) -> dict[str, Any]:
    """Adds the learning keys to a ``collect_status`` object, in place; returns it."""
    try:
        pstore = PromptStore(store)
        rounds = st.get("rounds") or []
        names = [r["id"] for r in rounds]
        if st.get("running_round"):
            names.append(st["running_round"]["id"])
        learned = pstore.round_learning(names)
        starts = {r.name: r.started_at for r in store.rounds()}
        order = sorted(starts, key=lambda n: starts[n])
        previous = {n: (starts[order[i - 1]] if i else None) for i, n in enumerate(order)}
        per_round = []
        for r in rounds:
            rl = learned.get(r["id"])
            r["mix"] = json.loads(rl.mix_json) if rl and rl.mix_json else None
            r["traffic_check"] = json.loads(rl.traffic_json) if rl and rl.traffic_json else None
            window = pstore.window_counts(previous.get(r["id"]), r["started_at"])
            per_round.append({"round": r["id"], **window, "used": pstore.used_in_round(r["id"])})
        if st.get("running_round"):
            rl = learned.get(st["running_round"]["id"])
            st["running_round"]["mix"] = json.loads(rl.mix_json) if rl and rl.mix_json else None
            st["running_round"]["traffic_check"] = json.loads(rl.traffic_json) if rl and rl.traffic_json else None
        last_mix = next(({"round": r["id"], **r["mix"]} for r in rounds if r.get("mix")), None)
        st["learning"] = {
            "capture": bool(cfg.learning.capture),
            "prompts": pstore.counts(),
            "last_mix": last_mix,
            "rounds": per_round,
        }
    except Exception as exc:  # status must show something even on an odd database
        st["learning"] = {"error": f"{type(exc).__name__}: {exc}"}
    return st


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
