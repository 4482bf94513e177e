"""``ssdd report``: one PNG with pass@1 per round (both arms, with CIs), the champion's line,
and promotions and rollbacks marked."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.state import Store


def _ci(cfg, round_name: str, which: str) -> tuple[float, float] | None:
    try:
        rep = json.loads((cfg.rounds_dir / round_name / f"{which}_eval.json").read_text())
        lo, hi = rep["temperatures"][0]["pass_at_1_ci"]
        return float(lo), float(hi)
    except (OSError, ValueError, KeyError, IndexError):
        return None


def write_report(cfg, store: Store, out: Path) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r for r in reversed(store.rounds()) if r.candidate_pass_at_1 is not None]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rounds) + 3), 4.5))
    xs = list(range(1, len(rounds) + 1))
    for which, attr, color, dx in (
        ("champion", "champion_pass_at_1", "tab:blue", -0.1),
        ("candidate", "candidate_pass_at_1", "tab:orange", 0.1),
    ):
        ys = [getattr(r, attr) for r in rounds]
        cis = [_ci(cfg, r.name, which) for r in rounds]
        lo = [y - c[0] if c else 0 for y, c in zip(ys, cis)]
        hi = [c[1] - y if c else 0 for y, c in zip(ys, cis)]
        ax.errorbar([x + dx for x in xs], ys, yerr=[lo, hi], fmt="o", color=color, capsize=3, label=f"{which} (95% CI)")
    champ_line = [
        float((r.candidate_pass_at_1 if r.decision == "promote" else r.champion_pass_at_1) or 0.0) for r in rounds
    ]
    ax.step(xs, champ_line, where="post", color="tab:green", label="champion after the round")
    for x, r in zip(xs, rounds):
        if r.decision == "promote":
            ax.axvline(x, color="tab:green", alpha=0.25, lw=6)
    rollbacks = {e.round_name for e in store.events(1000, ["rollback"])}
    for x, r in zip(xs, rounds):
        if r.name in rollbacks:
            ax.axvline(x, color="tab:red", alpha=0.4, ls="--")
    ax.set_xticks(xs, [r.name for r in rounds], rotation=45)
    ax.set_ylabel("gate-set pass@1")
    ax.set_title("ssd-daemon rounds (green: promotion, red dashed: rollback)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return len(rounds)
