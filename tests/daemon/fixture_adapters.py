"""The e2e test's two real adapters, trained by the project's own distillation on the tiny
config's gate problems: ``ref`` on their reference solutions (it memorises them), ``wrong``
on their deliberately wrong ones. Training them takes ~20 CPU-minutes, so they are committed
under ``tests/data/adapters/`` with a ``fixture.json`` saying what they were trained on; the
test retrains one whose record no longer matches (other gate problems, another base model).

    .venv/bin/python tests/daemon/fixture_adapters.py      # (re)build both
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "data" / "adapters"
SPECS = {"ref": {"role": "reference", "steps": 25, "lr": 2e-3}, "wrong": {"role": "wrong", "steps": 10, "lr": 2e-3}}


def gate_problems(model_dir: Path):
    import tempfile

    from daemon_util import tiny_config

    from daemon.config import load_daemon_config
    from daemon.rounds.context import build_sets

    cfg = load_daemon_config(tiny_config(Path(tempfile.mkdtemp()), model_dir, "http://127.0.0.1:9"))
    return build_sets(cfg).gate


def record(name: str, model_dir: Path) -> dict:
    from ssd.model_store import resolve

    spec = SPECS[name]
    return {
        "base_hash": resolve(model_dir.parent, str(model_dir)).content_hash,
        "problem_ids": sorted(p.id for p in gate_problems(model_dir)),
        **spec,
    }


def fixture(name: str, model_dir: Path) -> Path:
    """The adapter folder, retrained first if its record does not match."""
    from daemon_util import train_solution_adapter

    from ssd.sources.starter import starter_solutions

    out = FIXTURES / name
    want = record(name, model_dir)
    meta = out / "fixture.json"
    if meta.is_file() and json.loads(meta.read_text()) == want and (out / "adapter_model.safetensors").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    sols = {s.problem_id: s.program for s in starter_solutions(want["role"])}
    tmp = FIXTURES / f".{name}-build"
    shutil.rmtree(tmp, ignore_errors=True)
    train_solution_adapter(
        model_dir, gate_problems(model_dir), sols, tmp / "adapter", steps=want["steps"], lr=want["lr"]
    )
    out.mkdir(parents=True)
    for f in ("adapter_config.json", "adapter_model.safetensors", "ssd_adapter.json"):
        shutil.copyfile(tmp / "adapter" / f, out / f)
    meta.write_text(json.dumps(want, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    from ssd.model_store import prepare_smollm2

    md = Path(prepare_smollm2(HERE.parents[1] / ".data").path)
    for n in sys.argv[1:] or list(SPECS):
        print(n, fixture(n, md))
