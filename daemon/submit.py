"""``ssdd submit``: an adapter trained elsewhere, checked as untrusted input, then gated.

Nothing in a submitted folder is executed or unpickled: only ``adapter_config.json`` (JSON)
and ``adapter_model.safetensors`` (read with the safetensors library: a header of names,
dtypes and shapes, then raw tensors) are read. Pickle weights (``adapter_model.bin``, ``*.pt``,
``*.pth``, ``*.pkl``) are refused: loading them runs code.

The two files are first copied into a private folder (mode 0700) beside the store: each is
opened without following a symbolic link, must be a regular file, and is read under a size
cap enforced while copying. Only that copy is validated, hashed and published: a folder that
changes during or after the submission cannot put unvalidated bytes into the store, and a
file swapped for a link to another user's file is never read.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import struct
from pathlib import Path

from daemon.serving.adapter_registry import version_name_error
from daemon.state import AdapterRow, AdapterState, RoundRow, RoundStage, Store
from ssd.adapters import AdapterError, adapter_content_hash, read_adapter_config
from ssd.atomic_io import publish_dir

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
MAX_WEIGHTS_BYTES = 4 << 30
MAX_CONFIG_BYTES = 1 << 20
MAX_HEADER_BYTES = 64 << 20
WEIGHT_DTYPES = ("F32", "F16", "BF16")  # what a LoRA is saved in; anything else is refused
MAX_LORA_SCALING = 16.0  # lora_alpha / r (or / sqrt(r) with use_rslora); PEFT defaults give 1-2
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$")

# adapter_config.json keys a plain LoRA may carry (peft 0.21 writes all of them). Features that
# change what is loaded beyond the A/B matrices (DoRA, extra trained modules, per-layer ranks,
# bias training, ...) must be switched off: vLLM would ignore or mis-apply them, so the served
# adapter would not be the one judged. Any other key is refused, named.
_INERT: dict[str, tuple] = {
    "use_dora": (False, None),
    "modules_to_save": (None, []),
    "rank_pattern": ({}, None),
    "alpha_pattern": ({}, None),
    "layers_to_transform": (None,),
    "layers_pattern": (None,),
    "layer_replication": (None,),
    "lora_bias": (False, None),
    "fan_in_fan_out": (False, None),
    "trainable_token_indices": (None,),
    "target_parameters": (None, []),
    "exclude_modules": (None, []),
    "use_qalora": (False, None),
    "use_bdlora": (None, False),
    "ensure_weight_tying": (False, None),
    "loftq_config": ({}, None),
    "megatron_config": (None,),
    "alora_invocation_tokens": (None,),
    "arrow_config": (None,),
    "corda_config": (None,),
    "eva_config": (None,),
    "kasa_config": (None,),
    "lora_ga_config": (None,),
    "monteclora_config": (None,),
    "velora_config": (None,),
}
_METADATA = {  # key -> accepted types (metadata PEFT records; no effect on the weights served)
    "base_model_name_or_path": (str, type(None)),
    "revision": (str, type(None)),
    "task_type": (str, type(None)),
    "peft_version": (str, type(None)),
    "megatron_core": (str, type(None)),
    "inference_mode": (bool,),
    "init_lora_weights": (bool, str),
    "qalora_group_size": (int,),
    "auto_mapping": (dict, type(None)),
}
_CHECKED = {"peft_type", "r", "lora_alpha", "lora_dropout", "use_rslora", "bias", "target_modules"}


class SubmissionError(ValueError):
    """The submitted folder is not an adapter this daemon can judge; nothing was stored."""


def safetensors_header(path: Path, limit: int = MAX_HEADER_BYTES) -> dict[str, dict]:
    """Names, dtypes and shapes from a safetensors file, parsed by hand: 8-byte little-endian
    header length, then that much JSON. No tensor is read, nothing is executed. (Used for the
    base model's own files; a submitted file is read with the safetensors library.)"""
    try:
        with path.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise SubmissionError(f"{path}: too short to be a safetensors file")
            (n,) = struct.unpack("<Q", raw)
            if n > limit:
                raise SubmissionError(f"{path}: safetensors header of {n} bytes exceeds {limit}")
            header = json.loads(fh.read(n))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SubmissionError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict):
        raise SubmissionError(f"{path}: safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    size = path.stat().st_size
    for name, meta in header.items():
        offsets = meta.get("data_offsets") if isinstance(meta, dict) else None
        if (
            not isinstance(meta, dict)
            or not isinstance(meta.get("shape"), list)
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in meta["shape"])
            or not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        ):
            raise SubmissionError(f"{path}: tensor {name!r} has a malformed header entry")
        if max(offsets) > size - 8 - n:
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


def _check_listing(folder: Path) -> None:
    """Refusals with a helpful message, from the folder's listing. Not what makes a submission
    safe (the folder may change after this): copy_submission is."""
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
        if not (folder / need).exists():
            raise SubmissionError(f"{folder} lacks {need}")


def _copy_one(dir_fd: int, name: str, dest: Path, cap: int, where: Path) -> None:
    """Copy ``name`` (relative to the open folder ``dir_fd``) to ``dest``: never through a
    symbolic link, only a regular file, at most ``cap`` bytes counted while reading (a file
    that grows after it was looked at is still stopped)."""
    src = where / name
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SubmissionError(f"{src} is a symbolic link: submit plain files") from None
        if exc.errno == errno.ENOENT:
            raise SubmissionError(f"{where} lacks {name}") from None
        raise SubmissionError(f"cannot open {src}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionError(f"{src} is not a regular file")
        if st.st_size > cap:
            raise SubmissionError(f"{src} is larger than the limit of {cap} bytes")
        os.set_blocking(fd, True)
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            total = 0
            while chunk := os.read(fd, 1 << 20):
                total += len(chunk)
                if total > cap:
                    raise SubmissionError(f"{src} grew past the limit of {cap} bytes while it was copied")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view) :]
            os.fsync(out)
        finally:
            os.close(out)
    finally:
        os.close(fd)


def copy_submission(folder: Path, dest: Path) -> None:
    """The two files of a submitted folder, copied into the (private, empty) folder ``dest``."""
    folder = Path(folder)
    _check_listing(folder)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise SubmissionError(f"cannot open {folder}: {exc.strerror}") from None
    try:
        _copy_one(dir_fd, CONFIG, Path(dest) / CONFIG, MAX_CONFIG_BYTES, folder)
        _copy_one(dir_fd, WEIGHTS, Path(dest) / WEIGHTS, MAX_WEIGHTS_BYTES, folder)
    except OSError as exc:  # reading a file that vanished, a full disk while writing the copy
        raise SubmissionError(f"cannot copy {folder} into the store: {exc.strerror or exc}") from None
    finally:
        os.close(dir_fd)


def check_submitted_config(acfg: dict, path: Path, *, max_rank: int) -> None:
    """Allowlisted keys, inert advanced features, and sane values (see _INERT)."""
    unknown = sorted(set(acfg) - set(_INERT) - set(_METADATA) - _CHECKED)
    if unknown:
        raise SubmissionError(f"{path}: unsupported adapter_config keys {unknown} (a plain PEFT LoRA is expected)")
    for key, inert in _INERT.items():
        if key in acfg and not any(acfg[key] == v and type(acfg[key]) is type(v) for v in inert):
            raise SubmissionError(f"{path}: {key}={acfg[key]!r} is not supported (only a plain LoRA: {inert[0]!r})")
    for key, types in _METADATA.items():
        if key in acfg and not (isinstance(acfg[key], types) and not (bool in types and type(acfg[key]) is int)):
            raise SubmissionError(f"{path}: {key} has a value of type {type(acfg[key]).__name__}")
    r = acfg["r"]
    if r > max_rank:
        raise SubmissionError(f"LoRA rank {r} exceeds the server's max_lora_rank {max_rank}")
    rslora = acfg.get("use_rslora", False)
    if not isinstance(rslora, bool):
        raise SubmissionError(f"{path}: use_rslora must be true or false, got {rslora!r}")
    alpha = acfg.get("lora_alpha", 8)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha) or alpha <= 0:
        raise SubmissionError(f"{path}: lora_alpha must be a positive finite number, got {alpha!r}")
    scaling = alpha / (math.sqrt(r) if rslora else r)
    if scaling > MAX_LORA_SCALING:
        raise SubmissionError(
            f"{path}: lora_alpha {alpha} gives a LoRA scaling of {scaling:g}, above {MAX_LORA_SCALING:g}"
        )
    dropout = acfg.get("lora_dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise SubmissionError(f"{path}: lora_dropout must be in [0, 1), got {dropout!r}")
    if acfg.get("bias", "none") != "none":
        raise SubmissionError(f"{path}: bias={acfg['bias']!r} is not supported (only 'none': vLLM loads no biases)")
    targets = acfg["target_modules"]
    if not isinstance(targets, str) and not all(isinstance(t, str) for t in targets):
        raise SubmissionError(f"{path}: target_modules must be module names")


def _check_weights(path: Path, base: dict[str, tuple[int, int]], r: int) -> None:
    """Every tensor through the safetensors library (which checks the header: offsets in
    order, non-overlapping, bytes matching dtype x shape, the file fully covered): a LoRA A/B
    weight of an allowed dtype, the shape the base module and rank call for, all finite."""
    import torch
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            names = list(f.keys())
            if not names:
                raise SubmissionError(f"{path} holds no tensors")
            for name in names:
                m = _LORA_KEY.match(name)
                if m is None:
                    raise SubmissionError(f"tensor {name!r} is not a LoRA A/B weight")
                module = m.group("module")
                if module not in base:
                    raise SubmissionError(f"tensor {name!r}: the base model has no module {module!r}")
                sl = f.get_slice(name)
                dtype, shape = sl.get_dtype(), list(sl.get_shape())
                if dtype not in WEIGHT_DTYPES:
                    raise SubmissionError(f"tensor {name!r} has dtype {dtype}; allowed: {', '.join(WEIGHT_DTYPES)}")
                out_f, in_f = base[module]
                want = [r, in_f] if m.group("ab") == "A" else [out_f, r]
                if shape != want:
                    raise SubmissionError(
                        f"tensor {name!r} has shape {shape}, expected {want} for rank {r} on {module} ({out_f}x{in_f})"
                    )
                if not bool(torch.isfinite(f.get_tensor(name)).all()):
                    raise SubmissionError(f"tensor {name!r} holds NaN or infinite values")
    except SubmissionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library's errors (bad header, offsets, JSON) name the problem
        raise SubmissionError(f"{path}: not a valid safetensors file ({type(exc).__name__}: {exc})") from None


def validate_submission(folder: Path, base_dir: Path, *, max_rank: int) -> dict:
    """Check a PEFT LoRA folder against the base; returns its adapter_config. Raises
    SubmissionError naming the first problem. ``store_submission`` runs it on its private copy."""
    folder = Path(folder)
    _check_listing(folder)
    try:
        acfg = read_adapter_config(folder)
    except AdapterError as exc:
        raise SubmissionError(str(exc)) from exc
    check_submitted_config(acfg, folder / CONFIG, max_rank=max_rank)
    r = acfg["r"]
    targets = acfg["target_modules"]
    targets = [targets] if isinstance(targets, str) else list(targets)
    base = base_linear_shapes(base_dir)
    suffixes = {m.rsplit(".", 1)[-1] for m in base}
    unknown = [t for t in targets if t not in suffixes and t != "all-linear"]
    if unknown:
        raise SubmissionError(
            f"target_modules {unknown} are not modules of the base model (it has {sorted(suffixes)[:12]})"
        )
    weights = folder / WEIGHTS
    if weights.stat().st_size > MAX_WEIGHTS_BYTES:
        raise SubmissionError(f"{weights} is larger than {MAX_WEIGHTS_BYTES >> 30} GiB")
    _check_weights(weights, base, r)
    return acfg


def store_submission(
    store: Store, folder: Path, adapters_dir: Path, name: str, base_dir: Path, *, max_rank: int, skip_gate: bool = False
) -> RoundRow:
    """Copy the two files into the store's private folder, validate and hash that copy,
    publish it, register the candidate and queue a
    ``submit`` round for it (the daemon runs it now, or when it next starts). ``skip_gate``
    is the operator's override: promoted whatever the gate says (recorded as such); the
    re-evaluation against its parent still rolls it back if it is worse."""
    if (why := version_name_error(name)) is not None:
        raise SubmissionError(f"invalid name: {why}")
    if store.adapter(name) is not None:
        raise SubmissionError(f"an adapter named {name!r} already exists; versions are immutable")
    adapters_dir.mkdir(parents=True, exist_ok=True)
    dest = adapters_dir / name
    if dest.exists():
        raise SubmissionError(f"{dest} already exists on disk (quarantine or remove it first)")
    # Copy first (publish_dir's folder is private, 0700), then validate and hash the copy:
    # what is published is exactly what was checked, whatever happens to `folder` meanwhile.
    with publish_dir(dest) as tmp:
        copy_submission(folder, tmp)
        try:
            validate_submission(tmp, base_dir, max_rank=max_rank)
        except SubmissionError as exc:  # name the submitted folder, not the private copy
            raise SubmissionError(str(exc).replace(str(tmp), str(folder))) from None
        digest = adapter_content_hash(tmp)
        bad = [a.version for a in store.adapters(["rolled_back"]) if a.content_hash == digest]
        if bad:
            raise SubmissionError(f"these weights were rolled back before (as {bad[0]}); they are never re-promoted")
    champion = store.champion()
    store.add(
        AdapterRow(
            version=name,
            path=str(dest.resolve()),
            content_hash=digest,
            parent=champion.version if champion else None,
            source="submitted",
            state=AdapterState.CANDIDATE,
        )
    )
    row = store.add(
        RoundRow(
            name=store.next_round_name(),
            kind="submit-skip-gate" if skip_gate else "submit",
            candidate=name,
            parent=champion.version if champion else None,
            stage=RoundStage.EVALUATE,
        )
    )
    store.event("submit", f"adapter {name} submitted from {folder}", version=name, round_name=row.name)
    return row
