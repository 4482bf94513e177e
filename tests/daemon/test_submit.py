"""``ssdd submit`` treats a folder as untrusted input: safetensors only, shapes and modules
checked against the base model, nothing executed, nothing stored on refusal."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_loras import make_lora_adapter  # noqa: E402

from daemon.state import Store  # noqa: E402
from daemon.submit import SubmissionError, store_submission, validate_submission  # noqa: E402


@pytest.fixture(scope="module")
def good_adapter(model_dir, tmp_path_factory) -> Path:
    return make_lora_adapter(model_dir, tmp_path_factory.mktemp("sub") / "good", seed=11)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_real_peft_adapter_is_accepted_and_stored(good_adapter, model_dir, tmp_path):
    cfg = validate_submission(good_adapter, model_dir, max_rank=16)
    assert cfg["r"] == 8
    store = Store(tmp_path / "state.db")
    row = store_submission(store, good_adapter, tmp_path / "adapters", "mine", model_dir, max_rank=16)
    assert row.kind == "submit" and row.stage == "evaluate" and row.candidate == "mine"
    stored = tmp_path / "adapters" / "mine"
    assert sorted(p.name for p in stored.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert store.adapter("mine").state == "candidate" and store.adapter("mine").source == "submitted"
    with pytest.raises(SubmissionError, match="already exists"):
        store_submission(store, good_adapter, tmp_path / "adapters", "mine", model_dir, max_rank=16)


def _refused(folder: Path, model_dir, tmp_path, match: str) -> None:
    store = Store(tmp_path / "state.db")
    with pytest.raises(SubmissionError, match=match):
        store_submission(store, folder, tmp_path / "adapters", "x", model_dir, max_rank=16)
    assert store.adapters() == [] and store.rounds() == []
    assert not (tmp_path / "adapters" / "x").exists()


def test_pickle_weights_refused(good_adapter, model_dir, tmp_path):
    d = _copy(good_adapter, tmp_path / "pickled")
    (d / "adapter_model.safetensors").rename(d / "adapter_model.bin")
    _refused(d, model_dir, tmp_path, "pickle weights run code")


def test_rank_above_server_limit_refused(good_adapter, model_dir, tmp_path):
    d = _copy(good_adapter, tmp_path / "rank")
    cfg = json.loads((d / "adapter_config.json").read_text())
    cfg["r"] = 64
    (d / "adapter_config.json").write_text(json.dumps(cfg))
    _refused(d, model_dir, tmp_path, "rank 64 exceeds")


def test_unknown_target_module_refused(good_adapter, model_dir, tmp_path):
    d = _copy(good_adapter, tmp_path / "mods")
    cfg = json.loads((d / "adapter_config.json").read_text())
    cfg["target_modules"] = ["q_proj", "c_attn"]
    (d / "adapter_config.json").write_text(json.dumps(cfg))
    _refused(d, model_dir, tmp_path, r"target_modules \['c_attn'\]")


def test_shapes_must_match_the_base(good_adapter, model_dir, tmp_path):
    d = _copy(good_adapter, tmp_path / "shape")
    cfg = json.loads((d / "adapter_config.json").read_text())
    cfg["r"] = 4  # the tensors are rank 8
    (d / "adapter_config.json").write_text(json.dumps(cfg))
    _refused(d, model_dir, tmp_path, "expected .* for rank 4")


def test_truncated_or_lying_safetensors_refused(good_adapter, model_dir, tmp_path):
    d = _copy(good_adapter, tmp_path / "trunc")
    w = d / "adapter_model.safetensors"
    w.write_bytes(w.read_bytes()[:200])
    _refused(d, model_dir, tmp_path, "safetensors")
    d2 = tmp_path / "huge"
    d2.mkdir()
    shutil.copy(good_adapter / "adapter_config.json", d2)
    (d2 / "adapter_model.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    _refused(d2, model_dir, tmp_path, "exceeds")


def test_symlinks_and_missing_files_refused(good_adapter, model_dir, tmp_path):
    d = tmp_path / "links"
    d.mkdir()
    (d / "adapter_config.json").symlink_to(good_adapter / "adapter_config.json")
    shutil.copy(good_adapter / "adapter_model.safetensors", d)
    _refused(d, model_dir, tmp_path, "symbolic link")
    e = tmp_path / "empty"
    e.mkdir()
    _refused(e, model_dir, tmp_path, "lacks adapter_config.json")
    _refused(tmp_path / "nowhere", model_dir, tmp_path, "is not a folder")


def test_bad_name_refused(good_adapter, model_dir, tmp_path):
    store = Store(tmp_path / "state.db")
    with pytest.raises(SubmissionError, match="must match"):
        store_submission(store, good_adapter, tmp_path / "adapters", "../evil", model_dir, max_rank=16)
