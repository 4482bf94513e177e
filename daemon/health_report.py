"""The health panels of ``ssdd report``: one panel per signal across rounds, promotions marked.

Each panel shows the round's SSD samples (drawn from the champion the round started from) and
both arms' gate-set outputs when the round has them. A promoted round is shaded green, so a
drift that follows promotions stands out; a round whose lineage check drifted gets a red
dashed line. ``ssdd report --out x.png`` writes them as ``x.health.png`` beside the pass@1
figure (a second figure: seven panels squeezed under it would make neither readable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from policies.health import HealthSignals
from ssd.health import HEALTH_FILE, RoundHealth, load_round_health
from ssd.problems import InputError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class HealthPoint:
    """One round on the x axis."""

    health: RoundHealth
    promoted: bool


@dataclass(frozen=True)
class HealthPlot:
    """What ``plot_health`` drew: the file, the rounds on the x axis, one panel per signal
    (``empty``: the panels no round has a value for), the promoted rounds shaded."""

    path: Path
    rounds: int
    panels: int
    empty: tuple[str, ...]
    promoted: int


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


def health_report_path(out: Path) -> Path:
    """``x.png`` -> ``x.health.png``: the health figure next to the report."""
    return out.with_name(f"{out.stem}.health{out.suffix or '.png'}")


def health_points(rounds_dir: Path, rounds: Sequence[Any]) -> list[HealthPoint]:
    """The rounds (state rows, oldest first) that have a readable health record; promoted:
    the round finished with the decision to promote. An unreadable record is skipped, logged."""
    points = []
    for r in rounds:
        path = rounds_dir / r.name / HEALTH_FILE
        if not path.is_file():
            continue
        try:
            health = load_round_health(path)
        except InputError as exc:
            log.warning("report.health_unreadable", round_id=r.name, error=str(exc))
            continue
        points.append(HealthPoint(health=health, promoted=r.decision == "promote" and r.status == "done"))
    return points


def write_health_report(cfg, store, out: Path, title: str = "ssd-daemon round health") -> HealthPlot | None:
    """The panels over every round in the state DB with a health record, into ``out``; None
    (nothing written) when no round has one yet."""
    points = health_points(cfg.rounds_dir, list(reversed(store.rounds())))
    return plot_health(points, out, title) if points else None


def _series(points: Sequence[HealthPoint], attr: str, value: Callable[[HealthSignals], float | None]) -> list[float]:
    ys = []
    for p in points:
        sig = getattr(p.health, attr)
        v = value(sig) if sig is not None else None
        ys.append(float("nan") if v is None else v)
    return ys


def _draw_panel(ax, points: Sequence[HealthPoint], panel: Panel) -> bool:
    """One signal's panel; False when no round has a value for it (said on the panel)."""
    ptitle, ylabel, value = panel
    xs = list(range(1, len(points) + 1))
    drawn = False
    for attr, label, color, style in SERIES:
        ys = _series(points, attr, value)
        if all(y != y for y in ys):  # all NaN: this series has no value in any round
            continue
        ax.plot(xs, ys, style, color=color, label=label, ms=4, lw=1.2)
        drawn = True
    for x, p in zip(xs, points):
        if p.promoted:
            ax.axvspan(x - 0.4, x + 0.4, color="tab:green", alpha=0.18, lw=0)
        if p.health.lineage is not None and not p.health.lineage.ok:
            ax.axvline(x, color="tab:red", alpha=0.6, ls="--", lw=1)
    if not drawn:
        ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="0.5")
    units = {getattr(p.health, a).length_unit for p in points for a, *_ in SERIES if getattr(p.health, a)}
    ax.set_title(ptitle + (f" ({'/'.join(sorted(units))})" if ylabel == "length" and units else ""), fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.set_xticks(xs, [p.health.round_name for p in points], rotation=45, fontsize=7)
    ax.xaxis.set_tick_params(labelbottom=True)
    return drawn


def _legend(fig, flat: list, points: Sequence[HealthPoint]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = [], []
    for ax in flat[: len(PANELS)]:  # every series that any panel drew, once
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if any(p.promoted for p in points):
        handles.append(Patch(color="tab:green", alpha=0.3))
        labels.append("promoted round")
    if any(p.health.lineage is not None and not p.health.lineage.ok for p in points):
        handles.append(Line2D([], [], color="tab:red", ls="--"))
        labels.append("lineage drift (paused or warned)")
    if handles:
        spare = flat[len(PANELS)] if len(flat) > len(PANELS) else None
        (spare or fig).legend(handles, labels, loc="center", fontsize=9, frameon=False)


def plot_health(points: Sequence[HealthPoint], out: Path, title: str = "ssd-daemon round health") -> HealthPlot:
    """Draw the panels for ``points`` (oldest round first) into the PNG ``out``. A panel whose
    signal no round has (log-probs not requested) says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2
    rows = (len(PANELS) + cols - 1) // cols
    width = max(10.0, 0.45 * len(points) + 6)
    fig, axes = plt.subplots(rows, cols, figsize=(width, 2.6 * rows), sharex=True, squeeze=False)
    flat = [ax for row in axes for ax in row]
    drawn = [_draw_panel(ax, points, panel) for ax, panel in zip(flat, PANELS)]
    for ax in flat[len(PANELS) :]:
        ax.axis("off")
    _legend(fig, flat, points)
    fig.suptitle(title + " (green: promoted)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return HealthPlot(
        path=out,
        rounds=len(points),
        panels=len(drawn),
        empty=tuple(p[0] for p, ok in zip(PANELS, drawn) if not ok),
        promoted=sum(p.promoted for p in points),
    )
