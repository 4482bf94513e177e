"""``ssd models prepare ORG/NAME``: a Hugging Face repo id, with clear errors when offline."""

from __future__ import annotations

import pytest

from ssd.model_store import ModelError, download_hf


def test_bad_repo_id_is_refused(tmp_path):
    with pytest.raises(ModelError, match="is not a Hugging Face repo id"):
        download_hf(tmp_path, "not a repo")


def test_offline_is_a_clear_error_and_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="unreachable .offline.*--from DIR"):
        download_hf(tmp_path, "Qwen/Qwen3-0.6B")
    assert not (tmp_path / "models" / "Qwen3-0.6B").exists()
