"""Distillation speed of the loss path and batch order, in one run: what the CPU default trains with
against transformers' own causal-LM loss on randomly ordered batches.

Arms (each ``ssd.distill.distill()`` exactly as a round calls it, worker subprocess included, on
the same samples file, the config's ``distill`` section with ``max_steps`` = ``--steps``):

- ``hf-loss``: ``response_logits_only: false``, ``sampling: random`` (the reference: what the
  worker did before);
- ``response``: the output head only where the loss is taken, random batches;
- ``response+grouped``: that and ``sampling: group_by_length``.

Data: starter problems rendered as the server renders them, with their reference solutions as
completions (``bench/distill_throughput.py``'s ``build_data``): real prompts, but responses
shorter than a round's samples, so the head's share of the work, and this bench's ratio, are
smaller than on a round's samples. The arms run in turn, ``--repeats`` times; the median per arm
is reported. tokens/s = non-padding tokens the trainer consumed / its runtime (model loading
excluded): padding a grouped batch saves shows as more tokens/s.

    flock /tmp/ssd-heavy.lock .venv/bin/python bench/distill_loss_path.py [--steps 3] [--examples 48]

Output: progress on stderr, one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_util import loadavg  # noqa: E402
from distill_throughput import build_data, model_dir  # noqa: E402

ARMS = {
    "hf-loss": {"response_logits_only": False, "sampling": "random"},
    "response": {"response_logits_only": True, "sampling": "random"},
    "response+grouped": {"response_logits_only": True, "sampling": "group_by_length"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "deploy" / "config" / "cpu-default.yaml"))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--examples", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    import structlog

    from daemon.config import load_daemon_config
    from ssd.distill import distill

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    base = load_daemon_config(Path(a.config)).distill
    mdir = model_dir()
    rows = build_data(mdir, a.examples)
    results: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory(prefix="distill-loss-") as tmp:
        samples = Path(tmp) / "samples.jsonl"
        samples.write_text(
            "".join(
                json.dumps({"prompt": r["prompt"], "completion": r["completion"], "finish_reason": "stop"}) + "\n"
                for r in rows
            )
        )
        for k in range(a.repeats):
            for arm, change in ARMS.items():
                cfg = base.model_copy(update={**change, "max_steps": a.steps, "log_every": 1000})
                m = distill(mdir, samples, Path(tmp) / f"{arm}-{k}", cfg, on_line=lambda _line: None)
                got = {"tokens_per_s": m.tokens_per_s, "train_runtime_s": m.train_runtime_s, "loss": m.final_loss}
                results[arm].append(got)
                print(f"  {arm} #{k}: {got} (load {loadavg()})", file=sys.stderr, flush=True)
    med = {arm: statistics.median(r["tokens_per_s"] for r in rs) for arm, rs in results.items()}
    out = {
        "bench": "distill_loss_path",
        "examples": len(rows),
        "steps": a.steps,
        "batch": f"{base.per_device_batch_size}x{base.grad_accum_steps}",
        "cpu_threads": base.cpu_threads,
        "repeats": a.repeats,
        "tokens_per_s": {arm: round(v, 1) for arm, v in med.items()},
        "ratio_vs_hf_loss": {arm: round(v / med["hf-loss"], 2) for arm, v in med.items()},
        "final_loss": {arm: [r["loss"] for r in rs] for arm, rs in results.items()},
        "load": loadavg(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
