"""policies.schedule (back-off after rejections, retry delays) and policies.disk_retention."""

from __future__ import annotations

import pytest

from policies.disk_retention import DiskRetentionConfig, StoredAdapter, plan_disk_retention
from policies.schedule import BackoffConfig, next_round_delay, retry_delay

CFG = BackoffConfig(after_rejections=3, factor=2.0, base_s=600, max_s=3000)


def test_on_schedule_until_enough_rejections():
    d = next_round_delay(["reject", "reject", "promote", "reject"], 0.0, CFG)
    assert d.delay_s == 0.0 and not d.backing_off and d.rejections_in_a_row == 2


def test_backoff_grows_and_caps_and_failures_do_not_count():
    assert next_round_delay(["reject"] * 3, 0.0, CFG).delay_s == 600
    assert next_round_delay(["reject", "failed", "reject", "reject", "reject"], 0.0, CFG).delay_s == 1200
    assert next_round_delay(["reject"] * 10, 0.0, CFG).delay_s == 3000
    # The schedule's own longer delay wins over a shorter back-off.
    assert next_round_delay(["reject"] * 3, 5000.0, CFG).delay_s == 5000


def test_promotion_resets_backoff():
    assert not next_round_delay(["promote"] + ["reject"] * 9, 0.0, CFG).backing_off


def test_retry_delay():
    assert [retry_delay(a, [1, 5, 30]) for a in (1, 2, 3, 4, 9)] == [1, 5, 30, 30, 30]
    with pytest.raises(ValueError, match="attempt must be >= 1"):
        retry_delay(0, [1])


def _a(v, state, t):
    return StoredAdapter(version=v, state=state, created_at=f"2026-01-{t:02d}")


def test_disk_retention_keeps_newest_and_protected():
    adapters = [
        _a("c", "champion", 9),
        _a("f1", "former", 1),
        _a("f2", "former", 2),
        _a("f3", "former", 3),
        _a("x1", "rejected", 4),
        _a("x2", "rejected", 5),
        _a("bad", "rolled_back", 6),
        _a("cand", "candidate", 7),
    ]
    plan = plan_disk_retention(adapters, DiskRetentionConfig(keep_rejected=1, keep_former=2), protected=["f1"])
    assert sorted(plan.delete) == ["bad", "x1"]
    plan = plan_disk_retention(adapters, DiskRetentionConfig(keep_rejected=0, keep_former=1, delete_rolled_back=False))
    assert sorted(plan.delete) == ["f1", "f2", "x1", "x2"]
