"""``ssdd status --json`` is a public interface: its JSON schema (generated from
``daemon.status.StatusReport``) must equal the committed ``docs/status.schema.json``. A change
of the model is then a visible change of that file, reviewed as an interface change:
regenerate it with ``python -m daemon.status --schema > docs/status.schema.json``."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.status import StatusReport

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "status.schema.json"


def test_the_status_schema_matches_the_committed_copy():
    committed = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert StatusReport.model_json_schema() == committed, (
        "the status JSON changed: if that is intended, regenerate docs/status.schema.json "
        "(python -m daemon.status --schema > docs/status.schema.json) and document the change"
    )


def test_the_schema_keeps_the_documented_field_names():
    props = json.loads(SCHEMA.read_text(encoding="utf-8"))["properties"]
    assert set(props) == {
        "champion", "running_round", "rounds", "events", "daemon", "endpoint", "budget", "db", "learning",
        "gate_test",
    }  # fmt: skip
