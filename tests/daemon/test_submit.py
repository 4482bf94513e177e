"""``ssdd submit`` treats a folder as untrusted input: safetensors only, shapes and modules
checked against the base model, nothing executed, nothing stored on refusal."""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_loras import make_lora_adapter  # noqa: E402

from daemon.state import Store  # noqa: E402
from daemon.submit import SubmissionError, store_submission, validate_submission  # noqa: E402
from ssd.adapters import adapter_content_hash  # noqa: E402


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
    _refused(d2, model_dir, tmp_path, "header too large")


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
    # "base" means the base model to `ssdd rollback`; "r1\n" passed a `$`-anchored re.match.
    for name, why in (("../evil", "must be 1-64"), ("r1\n", "must be 1-64"), ("base", "reserved")):
        with pytest.raises(SubmissionError, match=why):
            store_submission(store, good_adapter, tmp_path / "adapters", name, model_dir, max_rank=16)
    assert store.adapters() == []


# -- the private copy (TOCTOU) -------------------------------------------------------------------
@pytest.fixture(scope="module")
def other_adapter(model_dir, tmp_path_factory) -> Path:
    """A second valid adapter: what an attacker swaps in after the checks."""
    return make_lora_adapter(model_dir, tmp_path_factory.mktemp("sub") / "other", seed=12)


@pytest.mark.parametrize("swap", ["symlink", "rewrite"])
def test_a_folder_changed_after_it_was_read_cannot_change_what_is_stored(
    good_adapter, other_adapter, model_dir, tmp_path, monkeypatch, swap
):
    import daemon.submit as submit

    src = _copy(good_adapter, tmp_path / "src")
    weights = src / "adapter_model.safetensors"
    good_bytes = weights.read_bytes()
    secret = tmp_path / "root-only.safetensors"  # another user's file, say
    shutil.copyfile(other_adapter / "adapter_model.safetensors", secret)
    secret.chmod(0o600)
    real_read = submit.read_adapter_config
    swapped = []

    def read_then_swap(folder):
        # Runs while the submission is validated: the moment an attacker swaps the weights.
        cfg = real_read(folder)
        if not swapped:
            weights.unlink()
            if swap == "symlink":
                weights.symlink_to(secret)
            else:
                shutil.copyfile(secret, weights)
            swapped.append(folder)
        return cfg

    monkeypatch.setattr(submit, "read_adapter_config", read_then_swap)
    store = Store(tmp_path / "state.db")
    store_submission(store, src, tmp_path / "adapters", "mine", model_dir, max_rank=16)
    assert swapped  # the swap happened during the submission
    stored = tmp_path / "adapters" / "mine"
    assert (stored / "adapter_model.safetensors").read_bytes() == good_bytes  # what was validated
    assert store.adapter("mine").content_hash == adapter_content_hash(stored) == adapter_content_hash(good_adapter)


def test_weights_symlinked_to_a_file_outside_are_refused(good_adapter, model_dir, tmp_path):
    outside = tmp_path / "outside.safetensors"
    shutil.copyfile(good_adapter / "adapter_model.safetensors", outside)
    outside.chmod(0o600)
    d = tmp_path / "linked"
    d.mkdir()
    shutil.copy(good_adapter / "adapter_config.json", d)
    (d / "adapter_model.safetensors").symlink_to(outside)
    _refused(d, model_dir, tmp_path, "adapter_model.safetensors is a symbolic link")


def test_a_fifo_is_refused_without_waiting_for_a_writer(good_adapter, model_dir, tmp_path):
    d = tmp_path / "fifo"
    d.mkdir()
    shutil.copy(good_adapter / "adapter_config.json", d)
    os.mkfifo(d / "adapter_model.safetensors")
    _refused(d, model_dir, tmp_path, "not a regular file")


def test_oversize_weights_are_refused_while_copying(good_adapter, model_dir, tmp_path, monkeypatch):
    import daemon.submit as submit

    size = (good_adapter / "adapter_model.safetensors").stat().st_size
    monkeypatch.setattr(submit, "MAX_WEIGHTS_BYTES", size - 1)
    _refused(_copy(good_adapter, tmp_path / "big"), model_dir, tmp_path, f"larger than the limit of {size - 1} bytes")
    assert not any((tmp_path / "adapters").iterdir())  # no private copy left behind


# -- what the copy must hold (generated bad adapters) ----------------------------------------------
def _tensors(adapter: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(adapter / "adapter_model.safetensors"))


def _with_weights(good: Path, root: Path, tensors: dict | None = None, raw: bytes | None = None) -> Path:
    from safetensors.torch import save_file

    d = _copy(good, root)
    if raw is not None:
        (d / "adapter_model.safetensors").write_bytes(raw)
    else:
        save_file(tensors, str(d / "adapter_model.safetensors"))
    return d


def _raw_safetensors(header: dict | str, data: bytes) -> bytes:
    text = header if isinstance(header, str) else json.dumps(header)
    return struct.pack("<Q", len(text)) + text.encode() + data


def _with_config(good: Path, root: Path, **changes) -> Path:
    d = _copy(good, root)
    cfg = json.loads((d / "adapter_config.json").read_text())
    cfg.update(changes)
    (d / "adapter_config.json").write_text(json.dumps(cfg))
    return d


def test_non_finite_or_wrong_dtype_weights_are_refused(good_adapter, model_dir, tmp_path):
    import torch

    t = _tensors(good_adapter)
    name = next(iter(t))
    for i, (value, match) in enumerate([(float("nan"), "NaN or infinite"), (float("inf"), "NaN or infinite")]):
        bad = dict(t)
        bad[name] = bad[name].clone()
        bad[name].view(-1)[3] = value
        _refused(_with_weights(good_adapter, tmp_path / f"nf{i}", bad), model_dir, tmp_path, match)
    for i, dtype in enumerate([torch.float64, torch.int8]):
        bad = {k: v.to(dtype) for k, v in t.items()}
        _refused(_with_weights(good_adapter, tmp_path / f"dt{i}", bad), model_dir, tmp_path, "has dtype")


def test_malformed_safetensors_headers_are_refused_cleanly(good_adapter, model_dir, tmp_path):
    t = _tensors(good_adapter)
    name, first = next(iter(t.items()))
    nbytes = first.numel() * 4
    shape = list(first.shape)
    cases = {
        "string offsets": {name: {"dtype": "F32", "shape": shape, "data_offsets": ["0", str(nbytes)]}},
        "bytes short of the shape": {name: {"dtype": "F32", "shape": shape, "data_offsets": [0, nbytes - 4]}},
        "overlapping tensors": {
            name: {"dtype": "F32", "shape": shape, "data_offsets": [0, nbytes]},
            name.replace("lora_A", "lora_B"): {"dtype": "F32", "shape": shape, "data_offsets": [4, nbytes + 4]},
        },
    }
    for i, header in enumerate(cases.values()):
        d = _with_weights(good_adapter, tmp_path / f"h{i}", raw=_raw_safetensors(header, b"\0" * (nbytes + 4)))
        _refused(d, model_dir, tmp_path, "not a valid safetensors file")
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    d = _with_weights(good_adapter, tmp_path / "deep", raw=_raw_safetensors(deep, b""))
    _refused(d, model_dir, tmp_path, "not a valid safetensors file")


def test_unsupported_or_absurd_configs_are_refused(good_adapter, model_dir, tmp_path):
    cases = [
        ({"lora_alpha": 1e9}, "LoRA scaling"),
        ({"lora_alpha": float("nan")}, "positive finite number"),
        ({"lora_alpha": "16"}, "positive finite number"),
        ({"use_dora": True}, "use_dora=True is not supported"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"rank_pattern": {"q_proj": 64}}, "rank_pattern"),
        ({"bias": "all"}, "bias='all'"),
        ({"r": True}, "rank 'r' must be a positive integer"),
        ({"lora_dropout": 2}, "lora_dropout"),
        ({"some_new_feature": 1}, r"unsupported adapter_config keys \['some_new_feature'\]"),
    ]
    for i, (changes, match) in enumerate(cases):
        _refused(_with_config(good_adapter, tmp_path / f"c{i}", **changes), model_dir, tmp_path, match)
    d = _copy(good_adapter, tmp_path / "latin1")
    (d / "adapter_config.json").write_bytes(b'{"r": 8, "note": "caf\xe9"}')
    _refused(d, model_dir, tmp_path, "not UTF-8")
    d = _copy(good_adapter, tmp_path / "nested")
    (d / "adapter_config.json").write_text('{"r": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _refused(d, model_dir, tmp_path, "nested too deeply")
