"""Runs ONE test of an untrusted program inside the child process (stdlib only).

Started by harness.py as ``python3 -I runner.py PAYLOAD_FD RESULT_FD`` after the harness has
dropped privileges and set rlimits. The payload (program source, mode, the one case's input
arguments, a nonce) arrives on PAYLOAD_FD; a one-line JSON report goes to RESULT_FD. The
harness never trusts stdout for anything but the captured program output, and the host decides
stdio/call verdicts itself, so a forged report here can at most claim a value the program could
have returned anyway. For the assert kind the report must carry the nonce; the program shares
this process with the test, which is the documented residual trust limit (see README.md).
"""

import builtins
import collections
import json
import linecache
import os
import sys

# Everything the runner uses after the program has run is captured here, before it runs: the
# program shares this process and may rebind builtins (`builtins.exec = ...`, `builtins.dict =
# ...`) or module attributes (`collections.Counter = ...`). Type checks compare identities, never
# with `==` or hashing of type objects (a metaclass can make any class "equal" to int).
_type = type
_id = id
_len = len
_exec = exec
_compile = compile
_callable = callable
_getattr = getattr
_isinstance = isinstance
_str = str
_dict = dict
_tuple = tuple
_set = set
_frozenset = frozenset
_BaseException = BaseException
_AssertionError = AssertionError
_RecursionError = RecursionError
_NameError = NameError
_SystemExit = SystemExit
_json_dumps = json.dumps
_json_loads = json.loads
_write = os.write
_read = os.read
_close = os.close
_exit = os._exit
_stdout = sys.stdout
_stderr = sys.stderr
_PRISTINE_BUILTINS = dict(builtins.__dict__)

# Standard-library containers a correct program may return. Their types are taken now, so a
# program that rebinds `collections.Counter` to its own class gets that class rejected.
_Counter = collections.Counter
_defaultdict = collections.defaultdict
_OrderedDict = collections.OrderedDict
_deque = collections.deque
# Unbound C methods: they read the object's own storage and never call a Python-level override.
_dict_items = dict.items
_od_items = collections.OrderedDict.items
_deque_append = collections.deque.append
_tuple_getitem = tuple.__getitem__
_FULL = slice(None)
_type_name = type.__dict__["__name__"].__get__
_type_bases = type.__dict__["__bases__"].__get__
_type_ns = type.__dict__["__dict__"].__get__

# What each exact type is, keyed by the type's id (never by the type: see above).
#   atom: plain scalar; list/tuple/dict/set: plain container, kept as is;
#   todict: Counter/defaultdict, converted to dict (Counter's class is Python code the program
#     can patch; defaultdict's factory is program code run on a missing key);
#   odict/deque: C types whose attributes cannot be changed and whose `==` is the builtin
#     one, kept (converting would change what `==` means: deque([1]) != [1]) -- as dict/list in
#     JSON mode; namedtuple classes are recognised separately and converted to tuple.
_KIND = {
    _id(int): "atom",
    _id(float): "atom",
    _id(str): "atom",
    _id(bool): "atom",
    _id(type(None)): "atom",
    _id(complex): "atom",
    _id(bytes): "atom",
    _id(list): "list",
    _id(tuple): "tuple",
    _id(dict): "dict",
    _id(set): "set",
    _id(frozenset): "set",
    _id(_Counter): "todict",
    _id(_defaultdict): "todict",
    _id(_OrderedDict): "odict",
    _id(_deque): "deque",
}
_JSON_KIND = {
    _id(int): "atom",
    _id(float): "atom",
    _id(str): "atom",
    _id(bool): "atom",
    _id(type(None)): "atom",
    _id(list): "list",
    _id(tuple): "tuple",
    _id(dict): "dict",
    _id(_Counter): "todict",
    _id(_defaultdict): "todict",
    _id(_OrderedDict): "todict",
    _id(_deque): "tolist",
}
_JSON_KEY = frozenset({_id(str), _id(int), _id(float), _id(bool), _id(type(None))})
_KEEP = frozenset({"atom", "list", "tuple", "dict", "set"})
_TYPES = (
    int,
    float,
    str,
    bool,
    type(None),
    complex,
    bytes,
    list,
    tuple,
    dict,
    set,
    frozenset,
    _Counter,
    _defaultdict,
    _OrderedDict,
    _deque,
)  # held so the ids above stay valid


class NonPlainReturn(BaseException):
    """A candidate returned a value that is neither builtin data nor an accepted standard-library
    container (it could override __eq__ to fool asserts).

    BaseException so that a test's ``except Exception`` cannot swallow it; a flag makes the
    failure stick even if something swallows it anyway.
    """


def _is_namedtuple(t):
    """A class made by collections.namedtuple / typing.NamedTuple: a direct tuple subclass with
    the generated helpers. Its instances are converted to plain tuples, so whatever the class
    overrides (a program may add __eq__) is dropped."""
    if _type(t) is not _type:
        return False
    bases = _type_bases(t)
    if _type(bases) is not _tuple or _len(bases) != 1 or bases[0] is not _tuple:
        return False
    ns = _type_ns(t)
    for key in ns:  # only str keys: a key of the program's type could run its __eq__ on lookup
        if _type(key) is not _str:
            return False
    return "_fields" in ns and "_make" in ns and "_asdict" in ns


def _kind(t, json_only):
    kind = (_JSON_KIND if json_only else _KIND).get(_id(t))
    if kind is None and _is_namedtuple(t):
        kind = "namedtuple"
    return kind


def _scan(value, json_only=False):
    """Check a returned value without calling any of its methods.

    Returns (bad, convert): ``bad`` names the first unacceptable type (None when all is
    acceptable), ``convert`` says whether a standard-library container needs converting."""
    stack = [value]
    seen = set()
    convert = False
    while stack:
        x = stack.pop()
        t = _type(x)
        kind = _kind(t, json_only)
        if kind is None:
            return _type_name(t), False
        if kind == "atom":
            continue
        if kind not in _KEEP:
            convert = True
        if _id(x) in seen:  # shared or cyclic; JSON encoding refuses a real cycle later
            continue
        seen.add(_id(x))
        if kind in ("dict", "todict", "odict"):
            for k, v in _dict_items(x):
                if json_only and _id(_type(k)) not in _JSON_KEY:
                    return "dict key " + _type_name(_type(k)), False
                stack.append(k)
                stack.append(v)
        elif kind in ("tuple", "namedtuple"):
            stack.extend(_tuple_getitem(x, _FULL))
        else:  # list, set, frozenset, deque: exact builtin/C types, their iteration is theirs
            stack.extend(x)
    return None, convert


def _convert(x, json_only, memo):
    """A copy of an accepted value with every standard-library container replaced (see _KIND)."""
    kind = _kind(_type(x), json_only)
    if kind == "atom":
        return x
    if kind is None:  # _scan accepted it: only possible if something changed it since
        raise NonPlainReturn(_type_name(_type(x)))
    key = _id(x)
    if key in memo:
        return memo[key]
    if kind in ("dict", "todict", "odict"):
        out = _OrderedDict() if kind == "odict" else {}
        memo[key] = out
        for k, v in _od_items(x) if kind == "odict" else _dict_items(x):
            out[_convert(k, json_only, memo)] = _convert(v, json_only, memo)
    elif kind in ("list", "tolist"):
        out = []
        memo[key] = out
        for item in x:
            out.append(_convert(item, json_only, memo))
    elif kind == "deque":
        out = _deque((), x.maxlen)
        memo[key] = out
        for item in x:
            _deque_append(out, _convert(item, json_only, memo))
    elif kind == "set":
        # Set elements are hashable, so no cycle runs through them.
        out = (_set if _type(x) is _set else _frozenset)([_convert(item, json_only, memo) for item in x])
        memo[key] = out
    else:  # tuple, namedtuple: a cycle back to it can only run through a mutable container
        items = [_convert(item, json_only, memo) for item in _tuple_getitem(x, _FULL)]
        if key in memo:
            return memo[key]
        out = _tuple(items)
        memo[key] = out
    return out


def plain_value(value, json_only=False):
    """The value as plain data: builtins (and, outside JSON mode, OrderedDict/deque), with
    Counter/defaultdict -> dict and namedtuple -> tuple. Raises NonPlainReturn (with the type's
    name) for anything else, e.g. a class of the program's or a subclass of dict or Counter.
    Returns the value itself when nothing needs converting."""
    bad, convert = _scan(value, json_only)
    if bad is not None:
        raise NonPlainReturn(bad)
    if not convert:
        return value
    try:
        return _convert(value, json_only, {})
    except _RecursionError:
        raise NonPlainReturn("too deeply nested container") from None


def _report(fd, obj):
    data = (_json_dumps(obj) + "\n").encode()
    while data:
        n = _write(fd, data)
        data = data[n:]


_FunctionType = _type(_report)


def _flush_std():
    # The streams the program may have put in sys, and the real ones underneath.
    for stream in (sys.stdout, sys.stderr, _stdout, _stderr):
        try:
            stream.flush()
        except _BaseException:
            pass


def _read_all(fd):
    chunks = []
    while True:
        b = _read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    _close(fd)
    return b"".join(chunks)


def _fail(rfd, exc, kind="exc", name=None):
    try:
        import traceback  # only on failure: it costs start-up time; it only feeds stderr

        traceback.print_exception(_type(exc), exc, exc.__traceback__)
    except _BaseException:  # a traceback that cannot be printed must not lose the report
        pass
    _flush_std()
    _report(rfd, {"fail": kind, "exc": name or _type_name(_type(exc))})
    _exit(1)


def _names_used_by(test_src):
    """The names a module-level assert test uses: the program's functions among them get
    guarded. Found before the program runs."""
    import ast

    try:
        return {n.id for n in ast.walk(ast.parse(test_src)) if _type(n) is ast.Name}
    except _BaseException:  # noqa: BLE001 - a broken test is reported when it is compiled
        return set()


def _run_as_main(src, rfd):
    """stdio kind: the program runs as __main__; the host compares what it printed."""
    ns = {"__name__": "__main__", "__builtins__": builtins, "__file__": "main.py"}
    try:
        _exec(_compile(src, "main.py", "exec"), ns)
    except _SystemExit:
        raise
    except _BaseException as exc:  # noqa: BLE001 - any failure of the program is its verdict
        _fail(rfd, exc)
    _flush_std()


def _run_as_module(src, rfd):
    """call and assert kinds: the program runs as a module; returns its namespace."""
    ns = {"__name__": "solution", "__builtins__": builtins, "__file__": "main.py"}
    try:
        _exec(_compile(src, "main.py", "exec"), ns)
    except _BaseException as exc:  # noqa: BLE001 - SystemExit too: exiting is not returning
        _fail(rfd, exc)
    return ns


def _call_and_report(ns, payload, rfd):
    """call kind: call the function (or Solution().method) with the case's arguments and
    report its return value as JSON for the host to compare. Never returns."""
    fn_name = payload["fn_name"]
    try:
        sol = ns.get("Solution")
        if _isinstance(sol, _type):
            fn = _getattr(sol(), fn_name)
        else:
            if fn_name not in ns:
                raise _NameError(f"function {fn_name!r} is not defined")
            fn = ns[fn_name]
        value = fn(*payload["args"])
    except _BaseException as exc:  # noqa: BLE001 - SystemExit too: no value was returned
        _fail(rfd, exc)
    _flush_std()
    try:
        value = plain_value(value, json_only=True)
        text = _json_dumps(value, allow_nan=True)
    except NonPlainReturn as exc:
        _report(rfd, {"fail": "unserializable", "exc": exc.args[0]})
        _exit(0)
    except _BaseException as exc:  # noqa: BLE001 - e.g. int too large to convert
        _report(rfd, {"fail": "unserializable", "exc": _type_name(_type(exc))})
        _exit(0)
    _report(rfd, {"value": text})
    _exit(0)


def _guard(fn, state):
    """The candidate as the test sees it: every return value must be plain data."""

    def candidate(*args, **kwargs):
        result = fn(*args, **kwargs)
        try:
            return plain_value(result)
        except NonPlainReturn as exc:
            state["bad"] = exc.args[0]
            raise NonPlainReturn(f"candidate returned a non-builtin {exc.args[0]}") from None

    return candidate


def _test_and_report(ns, test_src, entry, used, nonce, rfd):
    """assert kind: run the test against the program's guarded functions; a pass reports the
    nonce. Never returns."""
    state = {"bad": None}
    try:
        test_code = _compile(test_src, "test.py", "exec")
    except _BaseException as exc:  # noqa: BLE001 - a broken test fails every program
        _fail(rfd, exc)
    test_ns = _dict(ns)
    # The test sees the program's helpers (HumanEval tests call e.g. poly()), but builtins as
    # they were before the program ran.
    test_ns["__builtins__"] = _dict(_PRISTINE_BUILTINS)
    test_ns["__name__"] = "test"
    try:
        if entry:
            if entry not in ns or not _callable(ns[entry]):
                raise _NameError(f"entry point {entry!r} is not defined")
            _exec(test_code, test_ns)
            check = test_ns.get("check")
            if check is None:
                raise _NameError("the test defines no check()")
            check(_guard(ns[entry], state))
        else:
            for name in used:
                if name in ns and _type(ns[name]) is _FunctionType:
                    test_ns[name] = _guard(ns[name], state)
            _exec(test_code, test_ns)
    except NonPlainReturn as exc:
        _fail(rfd, exc, kind="nonplain", name=state["bad"])
    except _AssertionError as exc:
        _fail(rfd, exc, kind="assertion")
    except _BaseException as exc:  # noqa: BLE001 - SystemExit included: exiting is not passing
        _fail(rfd, exc)
    if state["bad"] is not None:
        _flush_std()
        _report(rfd, {"fail": "nonplain", "exc": state["bad"]})
        _exit(1)
    _flush_std()
    _report(rfd, {"passed": nonce})
    _exit(0)


def main():
    pfd, rfd = int(sys.argv[1]), int(sys.argv[2])
    payload = _json_loads(_read_all(pfd))
    mode = payload["mode"]
    src = payload["program"]
    sys.argv = ["main.py"]
    linecache.cache["main.py"] = (_len(src), None, src.splitlines(True), "main.py")
    used = None
    if mode == "assert" and not payload.get("entry_point"):
        used = _names_used_by(payload["test"])
    if mode == "stdio":
        _run_as_main(src, rfd)
        return
    ns = _run_as_module(src, rfd)
    if mode == "call":
        _call_and_report(ns, payload, rfd)
    # assert kind
    nonce = payload["nonce"]
    test_src = payload["test"]
    entry = payload.get("entry_point")
    payload = None
    _test_and_report(ns, test_src, entry, used, nonce, rfd)


if __name__ == "__main__":
    main()
