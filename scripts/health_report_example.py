"""Draw ``docs/health_report.png``: the health panels of ``ssdd report`` over CONSTRUCTED rounds.

    .venv/bin/python scripts/health_report_example.py [OUT.png]

No real daemon DB exists where this was written, so the outputs are made up: twelve rounds of
60 programs each, healthy for six rounds, then shorter, more alike, more repetitive, more
often cut and more confident each round (the shape of a collapse). Everything after the
outputs is the real code: ``ssd.health.compute_signals`` turns them into signals, the lineage
check (``policies.health.check_lineage``) judges each round's samples against the first three,
and ``daemon.health_report.write_health_report`` draws them from a real state DB, as ``ssdd
report`` does. The rounds go on after a drift as under ``health.on_lineage_drift: warn`` (with
``pause``, the first drifted round would stop before distill). Seeded: the same file each run.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

from daemon.config import DaemonConfig
from daemon.health_report import write_health_report
from daemon.state import RoundRow, RoundStage, RoundStatus, Store
from policies.health import HealthGuardConfig, HealthSignals, check_lineage
from ssd.health import Output, RoundHealth, compute_signals, save_round_health

ROUNDS = 12
PROMOTED = {2, 4, 6, 8}
OUT = Path(__file__).resolve().parents[1] / "docs" / "health_report.png"


def outputs(rng: random.Random, collapse: float, n: int = 60) -> list[Output]:
    """``n`` made-up programs; ``collapse`` 0 (healthy) .. 1 (collapsed)."""
    outs = []
    variants = max(2, int(n * (1 - 0.9 * collapse)))
    for _ in range(n):
        k = rng.randrange(variants)
        body = [
            f"    v{j} = x * {k + j} + {rng.randrange(50)}"
            for j in range(max(1, int(rng.randint(3, 9) * (1 - 0.6 * collapse))))
        ]
        body += [body[0]] * int(collapse * rng.randint(2, 6))  # a loop on one line
        program = f"def f{k}(x):\n" + "\n".join(body) + "\n    return v0\n"
        cut = rng.random() < 0.03 + 0.25 * collapse
        if cut or rng.random() < 0.03 + 0.2 * collapse:
            program = program[: len(program) // 2] + " = ("  # does not parse
        tokens = len(program.split())
        outs.append(
            Output(
                text=f"```python\n{program}```",
                finish_reason="length" if cut else "stop",
                tokens=tokens,
                program=program,
                code_prompt=True,
                logprob_sum=tokens * (-0.95 + 0.55 * collapse + rng.gauss(0, 0.03)),
            )
        )
    return outs


def build(root: Path) -> tuple[DaemonConfig, Store]:
    cfg = DaemonConfig(data_dir=root / "data")
    store = Store(cfg.db_path)
    rng = random.Random(17)
    history: list[HealthSignals] = []
    for i in range(1, ROUNDS + 1):
        collapse = min(1.0, max(0.0, (i - 6) * 0.17))
        samples = compute_signals(outputs(rng, collapse))
        verdict = check_lineage(history, samples, HealthGuardConfig())
        history.append(samples)
        name = f"r{i}"
        store.add(
            RoundRow(
                name=name,
                stage=RoundStage.DONE,
                status=RoundStatus.DONE,
                decision="promote" if i in PROMOTED else "reject",
            )
        )
        rdir = cfg.rounds_dir / name
        rdir.mkdir(parents=True)
        health = RoundHealth(
            round_name=name,
            samples=samples,
            champion_eval=compute_signals(outputs(rng, collapse, 40)),
            candidate_eval=compute_signals(outputs(rng, min(1.0, collapse + 0.1) if collapse else 0.0, 40)),
            lineage=verdict,
        )
        save_round_health(health, rdir)
    return cfg, store


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    with tempfile.TemporaryDirectory() as tmp:
        cfg, store = build(Path(tmp))
        plot = write_health_report(cfg, store, out, title="round health, CONSTRUCTED rounds (not a real run)")
        store.close()
    assert plot is not None
    # A palette PNG: the README's copy stays small (the panels use a handful of colours).
    from PIL import Image

    Image.open(out).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)
    print(f"wrote {out} ({plot.panels} panels, {plot.rounds} rounds, {out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
