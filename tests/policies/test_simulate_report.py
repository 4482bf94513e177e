"""`python -m policies.simulate` prints the sequential gate's rows beside the fixed gate's.

The case lists are shrunk to tiny designs so the whole report runs in seconds; what is
checked is the wiring (every sequential case reaches the output, with its numbers), not the
rates, which test_sequential.py checks against their bounds.
"""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout

from policies import simulate as sim
from policies.simulate import NullCase, OldCase, SeqCase


def test_the_report_has_the_sequential_gates_rows(monkeypatch):
    tiny = SeqCase(label="tiny 60 x n=2", n_problems=60, n=2, rounds=3)
    monkeypatch.setattr(sim, "NULL_CASES", [NullCase(label="fixed tiny", n_problems=30, rounds=2)])
    monkeypatch.setattr(sim, "OLD_CASES", [OldCase(label="old tiny", n_problems=30, temperatures=[0.6])])
    monkeypatch.setattr(sim, "POWER_GRID", [(0.10, 76, 1)])
    monkeypatch.setattr(sim, "POWER_LATE", [(0.10, 76, 1)])
    monkeypatch.setattr(sim, "ROLLBACK_CASES", ((30, 1),))
    monkeypatch.setattr(sim, "SEQ_DESIGN", tiny)
    monkeypatch.setattr(
        sim,
        "SEQ_NULL_CASES",
        [tiny, tiny.model_copy(update={"label": "tiny unequal n", "n": 1, "n_candidate": 4, "rounds": 2})],
    )
    monkeypatch.setattr(sim, "SEQ_ROLLBACK_CASES", [tiny.model_copy(update={"label": "tiny rollback"})])
    out = io.StringIO()
    with redirect_stdout(out):
        assert sim.main(["--quick", "--seed", "3"]) == 0
    text = out.getvalue()
    seq = text[text.index("### The sequential gate") :]
    assert re.search(r"\| tiny 60 x n=2 \| 3 \| 40 \| 0\.\d{4} ± 0\.\d{4} \(95% upper 0\.\d{4}\) \| \d", seq)
    assert "| tiny unequal n | 2 | 1 | refused: `ProvenanceMismatch`" in seq
    assert re.search(r"\| tiny rollback \| 40 \| 0\.\d{4} ± ", seq)
    for gain in (2, 5, 10):  # one round and within 10, with the first round's cost
        assert re.search(rf"\| \+{gain} points \| \d\.\d\d \| \d\.\d\d \| \d+ \| \d+ \|", seq), gain
    m = re.search(
        r"The fixed-size gate \(`decide_gate`, test 1\) needs (\d+) problems x n=2 = ([\d,]+) generations", seq
    )
    assert m and int(m.group(2).replace(",", "")) == 2 * 2 * int(m.group(1))
    for row in ("clear loser -5 points", "useless (no gain)", "+2 points", "+5 points", "+10 points"):
        assert re.search(rf"\| {re.escape(row)} \| \d+ / [\d,]+ \| \d\.\d\d \| [\d,]+ \| (\d+\.\dx|n/a) \|", seq), row
