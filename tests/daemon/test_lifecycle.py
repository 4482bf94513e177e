"""daemon.state.lifecycle: the adapter-state transition table is the only way a state moves,
and the enum-typed columns refuse values outside their enum."""

from __future__ import annotations

import pytest

from daemon.state import AdapterRow, AdapterState, RoundRow, RoundStage, StateError, Store
from daemon.state.lifecycle import TRANSITIONS


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db")
    s.add(AdapterRow(version="a", path="/x/a", content_hash="h"))
    return s


def test_a_round_trip_through_the_lifecycle(store):
    store.set_champion("a")
    store.set_champion(None)  # rolled back to the base: a is former ...
    store.set_adapter_state("a", AdapterState.ROLLED_BACK)  # ... and marked rolled back
    store.set_adapter_state("a", "deleted")
    assert store.adapter("a").state is AdapterState.DELETED


@pytest.mark.parametrize(
    "path, to",
    [([], "former"), (["rejected"], "champion"), (["rejected", "deleted"], "candidate"), (["missing"], "champion")],
)
def test_a_move_the_table_does_not_have_is_refused(store, path, to):
    for state in path:
        store.set_adapter_state("a", state)
    before = store.adapter("a").state
    with pytest.raises(StateError, match=f"no move from {before} to {to}"):
        store.set_adapter_state("a", to)
    assert store.adapter("a").state == before  # nothing written


def test_a_rejected_or_rolled_back_version_is_never_champion_again(store):
    assert AdapterState.CHAMPION not in TRANSITIONS[AdapterState.REJECTED]
    assert AdapterState.CHAMPION not in TRANSITIONS[AdapterState.ROLLED_BACK]
    store.set_adapter_state("a", "rejected")
    with pytest.raises(StateError):
        store.set_champion("a")
    assert store.champion() is None


def test_save_cannot_change_an_adapters_state(store):
    row = store.adapter("a")
    with pytest.raises(StateError, match="must go through"):
        store.save(row.model_copy(update={"state": AdapterState.CHAMPION}))
    store.save(row.model_copy(update={"pass_at_1": 0.5}))  # other fields: fine
    assert store.adapter("a").pass_at_1 == 0.5 and store.adapter("a").state == "candidate"


def test_enum_columns_refuse_unknown_values_and_read_back_as_enums(store):
    with pytest.raises(Exception, match="not a valid AdapterState"):
        store.add(AdapterRow(version="b", path="/x/b", content_hash="h", state="promoted"))
    row = store.add(RoundRow(name="r1", stage="evaluate"))
    back = store.rounds()[0]
    assert back.stage is RoundStage.EVALUATE and back.stage == "evaluate" and f"{back.stage}" == "evaluate"
    assert row.name == "r1"
