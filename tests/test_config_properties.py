"""Property: whatever key of the config gets a bad value, or an unknown key appears at any
level, the loader's error names the full key path, from the file, the environment or --set."""

from __future__ import annotations

import json
import os
import types
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from daemon.config import DaemonConfig
from ssd.config import load_config
from ssd.problems import InputError


def _models_in(annotation) -> list[type[BaseModel]]:
    """The BaseModel classes a field's annotation admits directly (X, X | None)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _models_in(a)]
    return []


def _paths(model: type[BaseModel], prefix: str = "", depth: int = 0) -> tuple[list[str], list[str]]:
    """(leaf key paths, section paths) of ``model``: every field reachable through nested models."""
    leaves: list[str] = []
    sections: list[str] = [prefix.rstrip(".")] if prefix else [""]
    for name, field in model.model_fields.items():
        subs = _models_in(field.annotation)
        if subs and depth < 4:
            for sub in subs[:1]:
                lv, sc = _paths(sub, f"{prefix}{name}.", depth + 1)
                leaves += lv
                sections += sc
        else:
            leaves.append(prefix + name)
    return leaves, sections


LEAVES, SECTIONS = _paths(DaemonConfig)
# A value of the wrong type for almost every field: each is tried, and a field that accepts
# it (a free-form dict, say) is skipped by assume().
BAD = st.sampled_from([{"bogus": [1]}, [[{"x": None}]], "not-a-valid-value-\u00e9", -(10**12), 1e300, True])


def _nest(path: str, value) -> dict:
    raw: dict = {}
    node = raw
    parts = path.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return raw


def _accepts(path: str, value) -> bool:
    try:
        DaemonConfig.model_validate(_nest(path, value))
    except ValidationError as exc:
        # Only count it when the error is about this key (not a cross-field check elsewhere).
        return not any(".".join(map(str, e["loc"])).startswith(path) for e in exc.errors())
    except ValueError:
        return False
    return True


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("SSD_"):
            monkeypatch.delenv(name)


def _message(path: Path | None, overrides: list[str] | None = None) -> str:
    with pytest.raises(InputError) as info:
        load_config(path, overrides, model=DaemonConfig)
    return str(info.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(LEAVES), value=BAD, how=st.sampled_from(["file", "set"]))
def test_a_bad_value_anywhere_names_its_key_path(clean_env, tmp_path, path, value, how):
    # --set reads its value as a YAML scalar (JSON "1e+300" is the string "1e+300" there)
    assume(not _accepts(path, value if how == "file" else yaml.safe_load(json.dumps(value))))
    if how == "file":
        f = tmp_path / "c.json"
        f.write_text(json.dumps(_nest(path, value)))
        msg = _message(f)
    else:
        msg = _message(None, [f"{path}={json.dumps(value)}"])
    assert f"{path}" in msg, msg


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(section=st.sampled_from(SECTIONS), key=st.from_regex(r"\A[a-z][a-z0-9_]{0,12}\Z"))
def test_an_unknown_key_at_any_level_is_named_with_its_path(clean_env, tmp_path, section, key):
    path = f"{section}.{key}" if section else key
    assume(not _accepts(path, 1) and path not in LEAVES)
    f = tmp_path / "c.json"
    f.write_text(json.dumps(_nest(path, 1)))
    msg = _message(f)
    assert path in msg, msg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(LEAVES), value=BAD)
def test_a_bad_value_from_the_environment_names_key_and_variable(clean_env, monkeypatch, path, value):
    assume(not _accepts(path, yaml.safe_load(json.dumps(value))))
    var = "SSD_" + path.upper().replace(".", "__")
    monkeypatch.setenv(var, json.dumps(value))
    try:
        msg = _message(None)
    finally:
        monkeypatch.delenv(var)
    assert path in msg and var in msg, msg
