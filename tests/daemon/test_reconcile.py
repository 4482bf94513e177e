"""Start-up reconciliation on a real Store and a real adapter registry (over the fake vLLM, the
one place a fault is injected): a vanished folder is marked missing, an unknown folder is
quarantined (never deleted), and a recorded champion that no longer loads gives way to the
newest former champion that does, with an error event."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from fake_vllm import FakeVLLM, make_fake_adapter

from daemon.reconcile import reconcile
from daemon.serving.adapter_registry import AdapterRegistry
from daemon.state import AdapterRow, AdapterState, RoundRow, Store
from ssd.vllm_server import VLLMServer


@pytest.fixture
def fake_vllm():
    fake = FakeVLLM(token_delay_s=0.001).start()
    yield fake
    fake.stop()


@pytest.fixture
def world(tmp_path, fake_vllm):
    store = Store(tmp_path / "state.db")
    adapters = tmp_path / "adapters"
    registry = AdapterRegistry(VLLMServer.attach(fake_vllm.url, "smollm2-135m"), tmp_path / "registry.json")

    def adapter(version: str, state: AdapterState = AdapterState.CANDIDATE) -> AdapterRow:
        path = make_fake_adapter(adapters, version)
        row = store.add(AdapterRow(version=version, path=str(path), content_hash=f"h-{version}"))
        if state == AdapterState.CHAMPION:
            store.set_champion(version)
        elif state != AdapterState.CANDIDATE:
            store.set_adapter_state(version, state)
        return row

    yield store, registry, adapters, tmp_path / "quarantine", adapter
    registry.unload_all()
    store.close()


def test_a_vanished_folder_is_marked_missing_and_an_unknown_one_quarantined(world):
    store, registry, adapters, quarantine, adapter = world
    adapter("r1", AdapterState.REJECTED)
    gone = adapter("r2", AdapterState.REJECTED)
    Path(gone.path, "adapter_model.safetensors").unlink()
    Path(gone.path, "adapter_config.json").unlink()
    Path(gone.path).rmdir()
    orphan = make_fake_adapter(adapters, "stray")
    (orphan / "notes.txt").write_text("the only copy")
    store.add(RoundRow(name="r3"))  # a running round owns its (unregistered) folder
    owned = make_fake_adapter(adapters, "r3")

    notes = reconcile(store, registry, adapters, quarantine)

    assert store.adapter("r2").state == AdapterState.MISSING
    assert store.adapter("r1").state == AdapterState.REJECTED
    assert not orphan.exists() and owned.is_dir()
    moved = list(quarantine.iterdir())
    assert [p.name.rsplit("-", 1)[0] for p in moved] == ["stray"]
    assert (moved[0] / "notes.txt").read_text() == "the only copy"  # moved, not deleted
    assert any("r2" in n and "missing" in n for n in notes)
    assert any("quarantined" in n for n in notes)
    assert any("round r3 resumes" in n for n in notes)
    assert store.events(kinds=["restart"])[0].reason == "; ".join(notes)


def test_the_endpoint_is_switched_to_the_recorded_champion(world):
    store, registry, adapters, quarantine, adapter = world
    adapter("r1", AdapterState.CHAMPION)
    assert registry.champion is None  # a fresh registry serves the base
    reconcile(store, registry, adapters, quarantine)
    assert registry.champion == "r1"
    assert reconcile(store, registry, adapters, quarantine) == []  # nothing left to do


def test_a_champion_that_no_longer_loads_gives_way_to_the_last_good_one(world):
    store, registry, adapters, quarantine, adapter = world
    for v in ("r1", "r2"):
        adapter(v)
        store.set_champion(v)
        registry.promote(v, store.adapter(v).path)
    assert store.adapter("r1").state == AdapterState.FORMER
    registry.unload_all()  # the daemon stops: vLLM holds nothing
    # r2's folder is still there but no longer a loadable adapter.
    Path(store.adapter("r2").path, "adapter_model.safetensors").unlink()
    registry = AdapterRegistry(registry.server, registry.state_path)  # the next start
    registry.reload_all()

    notes = reconcile(store, registry, adapters, quarantine)

    assert registry.champion == "r1"
    assert store.champion().version == "r1"
    assert store.adapter("r2").state == AdapterState.FORMER  # its folder exists: not missing
    errors = store.events(kinds=["error"])
    assert errors and "r2 failed to load" in errors[0].reason
    assert any("serving r1" in n for n in notes)


def test_a_champion_whose_folder_vanished_is_marked_missing_and_the_base_served(world):
    store, registry, adapters, quarantine, adapter = world
    row = adapter("r1", AdapterState.CHAMPION)
    for f in Path(row.path).iterdir():
        f.unlink()
    Path(row.path).rmdir()
    notes = reconcile(store, registry, adapters, quarantine)
    assert store.adapter("r1").state == AdapterState.MISSING
    assert registry.champion is None
    assert json.dumps(notes)  # recorded, readable
