"""The health panels of ``ssdd report``: one panel per signal across rounds, promotions marked.

Each panel shows the round's SSD samples (drawn from the champion the round started from) and
both arms' gate-set outputs when the round has them. A promoted round is shaded green, so a
drift that follows promotions stands out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from policies.health import HealthSignals
from ssd.health import RoundHealth


@dataclass(frozen=True)
class HealthPoint:
    """One round on the x axis."""

    health: RoundHealth
    promoted: bool


# (title, y label, value of one signal set; None leaves a gap)
Panel = tuple[str, str, Callable[[HealthSignals], float | None]]

PANELS: tuple[Panel, ...] = (
    ("mean output length", "length", lambda s: s.length_mean),
    ("output length spread (std)", "length", lambda s: s.length_std),
    ("share hitting the token limit", "share", lambda s: s.truncated_frac),
    ("distinct-2 (all outputs)", "unique / total", lambda s: s.distinct.get(2)),
    ("repetition inside an output (4-grams)", "share repeated", lambda s: s.repetition_rate),
    ("programs that parse", "share", lambda s: s.parse_frac),
    ("mean log-prob per sampled token", "nats", lambda s: s.mean_logprob),
)

SERIES = (
    ("samples", "SSD samples (champion)", "tab:purple", "-o"),
    ("champion_eval", "gate outputs, champion", "tab:blue", "--s"),
    ("candidate_eval", "gate outputs, candidate", "tab:orange", ":^"),
)


def plot_health(points: Sequence[HealthPoint], out: Path, title: str = "ssd-daemon round health") -> int:
    """Draw the panels for ``points`` (oldest round first) into the PNG ``out``; returns the
    number of rounds drawn. A panel whose signal no round has (log-probs not requested) says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2
    rows = (len(PANELS) + cols - 1) // cols
    width = max(10.0, 0.45 * len(points) + 6)
    fig, axes = plt.subplots(rows, cols, figsize=(width, 2.6 * rows), sharex=True, squeeze=False)
    xs = list(range(1, len(points) + 1))
    flat = [ax for row in axes for ax in row]
    for ax, (ptitle, ylabel, value) in zip(flat, PANELS):
        drawn = False
        for attr, label, color, style in SERIES:
            ys = []
            for p in points:
                sig = getattr(p.health, attr)
                v = value(sig) if sig is not None else None
                ys.append(float("nan") if v is None else v)
            if all(y != y for y in ys):  # all NaN: this series has no value in any round
                continue
            ax.plot(xs, ys, style, color=color, label=label, ms=4, lw=1.2)
            drawn = True
        for x, p in zip(xs, points):
            if p.promoted:
                ax.axvspan(x - 0.4, x + 0.4, color="tab:green", alpha=0.18, lw=0)
        if not drawn:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="0.5")
        units = {getattr(p.health, a).length_unit for p in points for a, *_ in SERIES if getattr(p.health, a)}
        ax.set_title(ptitle + (f" ({'/'.join(sorted(units))})" if ylabel == "length" and units else ""), fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in flat[len(PANELS) :]:
        ax.axis("off")
    handles, labels = flat[0].get_legend_handles_labels()
    if any(p.promoted for p in points):
        from matplotlib.patches import Patch

        handles.append(Patch(color="tab:green", alpha=0.3))
        labels.append("promoted round")
    if handles:
        spare = flat[len(PANELS)] if len(flat) > len(PANELS) else None
        (spare or fig).legend(handles, labels, loc="center", fontsize=9, frameon=False)
    for ax in axes[-1]:
        ax.set_xticks(xs, [p.health.round_name for p in points], rotation=45, fontsize=7)
    for ax in flat[len(PANELS) - cols : len(PANELS)]:
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xticks(xs, [p.health.round_name for p in points], rotation=45, fontsize=7)
    fig.suptitle(title + " (green: promoted)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return len(points)
