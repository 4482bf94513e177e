"""``ssdd submit``: an adapter trained elsewhere, checked as untrusted input, then gated.

Nothing in a submitted folder is executed or unpickled: only ``adapter_config.json`` (JSON)
and ``adapter_model.safetensors`` (a header of names and shapes, then raw tensors) are read,
and only those two files are copied into the daemon's store. Pickle weights
(``adapter_model.bin``, ``*.pt``, ``*.pth``, ``*.pkl``) are refused: loading them runs code.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

from daemon.serving.adapter_registry import VERSION_RE
from daemon.state import AdapterRow, RoundRow, Store
from ssd.adapters import AdapterError, adapter_content_hash, read_adapter_config
from ssd.atomic_io import publish_dir

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
MAX_WEIGHTS_BYTES = 4 << 30
MAX_HEADER_BYTES = 64 << 20
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$")


class SubmissionError(ValueError):
    """The submitted folder is not an adapter this daemon can judge; nothing was stored."""


def safetensors_header(path: Path, limit: int = MAX_HEADER_BYTES) -> dict[str, dict]:
    """Names, dtypes and shapes from a safetensors file, parsed by hand: 8-byte little-endian
    header length, then that much JSON. No tensor is read, nothing is executed."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise SubmissionError(f"{path}: too short to be a safetensors file")
            (n,) = struct.unpack("<Q", raw)
            if n > limit:
                raise SubmissionError(f"{path}: safetensors header of {n} bytes exceeds {limit}")
            header = json.loads(fh.read(n))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(f"{path}: not a readable safetensors file ({exc})") from exc
    if not isinstance(header, dict):
        raise SubmissionError(f"{path}: safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    size = path.stat().st_size
    for name, meta in header.items():
        if (
            not isinstance(meta, dict)
            or not isinstance(meta.get("shape"), list)
            or not isinstance(meta.get("data_offsets"), list)
            or len(meta["data_offsets"]) != 2
        ):
            raise SubmissionError(f"{path}: tensor {name!r} has a malformed header entry")
        if max(meta["data_offsets"]) > size - 8 - n:
            raise SubmissionError(f"{path}: tensor {name!r} points past the end of the file")
    return header


def base_linear_shapes(base_dir: Path) -> dict[str, tuple[int, int]]:
    """Module path -> (out, in) of every 2-D weight in the base model's safetensors files."""
    shapes: dict[str, tuple[int, int]] = {}
    files = sorted(Path(base_dir).glob("*.safetensors"))
    if not files:
        raise SubmissionError(f"base model folder {base_dir} has no safetensors weights to check against")
    for f in files:
        for name, meta in safetensors_header(f, limit=1 << 30).items():
            if name.endswith(".weight") and len(meta["shape"]) == 2:
                shapes[name[: -len(".weight")]] = (int(meta["shape"][0]), int(meta["shape"][1]))
    return shapes


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise SubmissionError(f"{folder} is not a folder")
    for f in folder.iterdir():
        if f.is_symlink():
            raise SubmissionError(f"{f} is a symbolic link: submit plain files")
        if f.suffix in PICKLE_SUFFIXES:
            raise SubmissionError(
                f"{f.name}: pickle weights run code when loaded and are refused; "
                f"save the adapter with safetensors (save_pretrained(..., safe_serialization=True))"
            )
    for need in (CONFIG, WEIGHTS):
        if not (folder / need).is_file():
            raise SubmissionError(f"{folder} lacks {need}")
    if (folder / WEIGHTS).stat().st_size > MAX_WEIGHTS_BYTES:
        raise SubmissionError(f"{folder / WEIGHTS} is larger than {MAX_WEIGHTS_BYTES >> 30} GiB")


def validate_submission(folder: Path, base_dir: Path, *, max_rank: int) -> dict:
    """Check a PEFT LoRA folder against the base; returns its adapter_config. Raises
    SubmissionError naming the first problem."""
    folder = Path(folder)
    _check_folder(folder)
    try:
        acfg = read_adapter_config(folder)
    except AdapterError as exc:
        raise SubmissionError(str(exc)) from exc
    r = acfg["r"]
    if r > max_rank:
        raise SubmissionError(f"LoRA rank {r} exceeds the server's max_lora_rank {max_rank}")
    targets = acfg["target_modules"]
    targets = [targets] if isinstance(targets, str) else list(targets)
    base = base_linear_shapes(base_dir)
    suffixes = {m.rsplit(".", 1)[-1] for m in base}
    unknown = [t for t in targets if t not in suffixes and t != "all-linear"]
    if unknown:
        raise SubmissionError(
            f"target_modules {unknown} are not modules of the base model (it has {sorted(suffixes)[:12]})"
        )
    header = safetensors_header(folder / WEIGHTS)
    if not header:
        raise SubmissionError(f"{folder / WEIGHTS} holds no tensors")
    for name, meta in header.items():
        m = _LORA_KEY.match(name)
        if m is None:
            raise SubmissionError(f"tensor {name!r} is not a LoRA A/B weight")
        module = m.group("module")
        if module not in base:
            raise SubmissionError(f"tensor {name!r}: the base model has no module {module!r}")
        out_f, in_f = base[module]
        want = [r, in_f] if m.group("ab") == "A" else [out_f, r]
        if list(meta["shape"]) != want:
            raise SubmissionError(
                f"tensor {name!r} has shape {meta['shape']}, expected {want} for rank {r} on {module} ({out_f}x{in_f})"
            )
    return acfg


def store_submission(
    store: Store, folder: Path, adapters_dir: Path, name: str, base_dir: Path, *, max_rank: int, skip_gate: bool = False
) -> RoundRow:
    """Validate, copy the two files into the store, register the candidate and queue a
    ``submit`` round for it (the daemon runs it now, or when it next starts). ``skip_gate``
    is the operator's override: promoted whatever the gate says (recorded as such); the
    re-evaluation against its parent still rolls it back if it is worse."""
    if not VERSION_RE.match(name):
        raise SubmissionError(f"name {name!r} must match {VERSION_RE.pattern}")
    if store.adapter(name) is not None:
        raise SubmissionError(f"an adapter named {name!r} already exists; versions are immutable")
    validate_submission(folder, base_dir, max_rank=max_rank)
    digest = adapter_content_hash(folder)
    bad = [a.version for a in store.adapters(["rolled_back"]) if a.content_hash == digest]
    if bad:
        raise SubmissionError(f"these weights were rolled back before (as {bad[0]}); they are never re-promoted")
    adapters_dir.mkdir(parents=True, exist_ok=True)
    dest = adapters_dir / name
    if dest.exists():
        raise SubmissionError(f"{dest} already exists on disk (quarantine or remove it first)")
    with publish_dir(dest) as tmp:
        for f in (CONFIG, WEIGHTS):
            shutil.copyfile(folder / f, tmp / f)
        if adapter_content_hash(tmp) != digest:
            raise SubmissionError(f"{folder} changed while it was being copied")
    champion = store.champion()
    store.add(
        AdapterRow(
            version=name,
            path=str(dest.resolve()),
            content_hash=digest,
            parent=champion.version if champion else None,
            source="submitted",
            state="candidate",
        )
    )
    row = store.add(
        RoundRow(
            name=store.next_round_name(),
            kind="submit-skip-gate" if skip_gate else "submit",
            candidate=name,
            parent=champion.version if champion else None,
            stage="evaluate",
        )
    )
    store.event("submit", f"adapter {name} submitted from {folder}", version=name, round_name=row.name)
    return row
