"""Retention of loaded adapters and folders: required ones never evicted, oldest optional ones first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.retention import AdapterInfo, RetentionConfig, RetentionState, plan_retention


def _a(version, seq, **kw):
    return AdapterInfo(version=version, seq=seq, **kw)


def test_champion_in_flight_and_rollback_target_are_loaded():
    state = RetentionState(
        adapters=[_a("v1", 1, loaded=True), _a("v2", 2, loaded=True), _a("v3", 3)],
        champion="v2",
        champion_history=["v1"],
        in_flight=["v3"],
    )
    plan = plan_retention(state, RetentionConfig(max_loras=3))
    assert plan.ok
    assert plan.keep_loaded == ["v2", "v3", "v1"]
    assert plan.load == ["v3"] and plan.unload == [] and plan.delete_from_disk == []


def test_oldest_optional_adapters_are_evicted_first():
    state = RetentionState(
        adapters=[_a(f"v{i}", i, loaded=True) for i in range(1, 6)] + [_a("v6", 6)],
        champion="v5",
        champion_history=["v1", "v3"],
        in_flight=["v6"],
    )
    plan = plan_retention(state, RetentionConfig(max_loras=4))
    # Required v5, v6; rollback target v3; then newest other loaded (v4); evict v1, v2.
    assert plan.keep_loaded == ["v5", "v6", "v3", "v4"]
    assert sorted(plan.unload) == ["v1", "v2"]
    assert plan.load == ["v6"]


def test_champion_is_never_evicted_when_slots_run_out():
    state = RetentionState(
        adapters=[_a("champ", 1, loaded=True), _a("pin", 2, loaded=True), _a("cand", 3), _a("old", 0, loaded=True)],
        champion="champ",
        in_flight=["cand"],
        pinned=["pin"],
    )
    plan = plan_retention(state, RetentionConfig(max_loras=2))
    assert not plan.ok
    assert "max_loras=2" in plan.error and "champ" in plan.error
    assert "champ" in plan.keep_loaded and "pin" in plan.keep_loaded
    assert "champ" not in plan.unload and "pin" not in plan.unload
    assert plan.unload == ["old"]
    assert plan.load == []  # loading the candidate would need a slot the champion holds
    assert plan.reason.startswith("ERROR")


def test_pinned_versions_stay_loaded_and_on_disk_even_if_bad():
    state = RetentionState(
        adapters=[
            _a("p", 0, loaded=True, marked_bad=True),
            _a("c", 5, loaded=True),
            _a("bad", 1, loaded=True, marked_bad=True),
        ],
        champion="c",
        pinned=["p"],
    )
    plan = plan_retention(state, RetentionConfig(max_loras=4, max_on_disk=1))
    assert set(plan.keep_loaded) == {"c", "p"}
    assert plan.unload == ["bad"]
    assert plan.delete_from_disk == ["bad"]
    assert "p" not in plan.delete_from_disk and "c" not in plan.delete_from_disk
    assert not plan.ok and "max_on_disk=1" in plan.error  # two protected versions remain


def test_disk_budget_deletes_oldest_unprotected_first():
    state = RetentionState(
        adapters=[_a(f"v{i}", i) for i in range(1, 8)] + [_a("v8", 8, loaded=True)],
        champion="v8",
        champion_history=["v2", "v6", "v7"],
    )
    plan = plan_retention(state, RetentionConfig(max_loras=2, max_on_disk=5, keep_rollback_chain=2))
    # Protected: v8 (champion), v7 (rollback target, loaded), v6 (chain). Delete oldest others.
    assert plan.delete_from_disk == ["v1", "v2", "v3"]
    assert plan.ok


def test_bad_rollback_candidates_are_skipped():
    state = RetentionState(
        adapters=[_a("v1", 1), _a("v2", 2, marked_bad=True, loaded=True), _a("v3", 3, loaded=True)],
        champion="v3",
        champion_history=["v1", "v2"],
    )
    plan = plan_retention(state, RetentionConfig(max_loras=2))
    assert plan.keep_loaded == ["v3", "v1"]
    assert plan.unload == ["v2"] and plan.load == ["v1"]
    assert plan.delete_from_disk == ["v2"]


def test_base_champion_needs_no_slot():
    state = RetentionState(adapters=[_a("cand", 1)], champion=None, in_flight=["cand"])
    plan = plan_retention(state, RetentionConfig(max_loras=1))
    assert plan.ok and plan.keep_loaded == ["cand"] and "champion=base" in plan.reason


def test_required_adapter_missing_everywhere_is_an_error():
    state = RetentionState(adapters=[_a("c", 1, on_disk=False)], champion="c")
    plan = plan_retention(state, RetentionConfig(max_loras=1))
    assert not plan.ok and "neither loaded nor on disk" in plan.error


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(champion="ghost"), "champion names unknown"),
        (dict(pinned=["ghost"]), "pinned names unknown"),
        (dict(in_flight=["ghost"]), "in_flight names unknown"),
        (dict(champion_history=["ghost"]), "champion_history names unknown"),
    ],
)
def test_unknown_versions_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        plan_retention(RetentionState(adapters=[_a("v1", 1)], **kw), RetentionConfig(max_loras=2))


def test_duplicate_versions_raise():
    with pytest.raises(ValueError, match="duplicate"):
        plan_retention(RetentionState(adapters=[_a("v1", 1), _a("v1", 2)]), RetentionConfig(max_loras=2))


@st.composite
def _states(draw):
    k = draw(st.integers(1, 10))
    adapters = [
        AdapterInfo(
            version=f"v{i}",
            seq=draw(st.integers(0, 100)),
            loaded=draw(st.booleans()),
            on_disk=draw(st.booleans()),
            marked_bad=draw(st.booleans()),
        )
        for i in range(k)
    ]
    names = [a.version for a in adapters]
    champion = draw(st.none() | st.sampled_from(names))
    subset = st.lists(st.sampled_from(names), max_size=3, unique=True)
    return RetentionState(
        adapters=adapters,
        champion=champion,
        champion_history=draw(subset),
        in_flight=draw(subset),
        pinned=draw(subset),
    )


@settings(max_examples=300, deadline=None)
@given(_states(), st.integers(1, 6), st.none() | st.integers(1, 8), st.booleans())
def test_protected_adapters_are_never_unloaded_or_deleted(state, max_loras, max_on_disk, delete_bad):
    cfg = RetentionConfig(max_loras=max_loras, max_on_disk=max_on_disk, delete_bad=delete_bad)
    plan = plan_retention(state, cfg)
    protected = set(state.pinned) | set(state.in_flight) | ({state.champion} if state.champion else set())
    assert not protected & set(plan.unload)
    assert not protected & set(plan.delete_from_disk)
    assert not set(plan.keep_loaded) & set(plan.delete_from_disk)
    assert not set(plan.unload) & set(plan.keep_loaded)
    loaded = {a.version for a in state.adapters if a.loaded}
    assert set(plan.load).isdisjoint(loaded) and set(plan.unload) <= loaded
    if plan.ok:
        assert len(plan.keep_loaded) <= max_loras
        assert protected <= set(plan.keep_loaded)
    if len(protected) > max_loras:
        assert not plan.ok
