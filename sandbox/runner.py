"""Runs ONE test of an untrusted program inside the child process (stdlib only).

Started by harness.py as ``python3 -I runner.py PAYLOAD_FD RESULT_FD`` after the harness has
dropped privileges and set rlimits. The payload (program source, mode, the one case's input
arguments) arrives on PAYLOAD_FD; a one-line JSON report goes to RESULT_FD. The harness never
trusts stdout for anything but the captured program output, and the host decides stdio/call
verdicts itself, so a forged report here can at most claim a value the program could have
returned anyway. For the assert kind this process only serves the program's functions
("serve" mode: RESULT_FD then carries answers to the judge, requests arrive on fd 5); the test
runs in the harness's judge process (``judge`` below, run there, never here), which the
program cannot reach.
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
    out: object  # one of several container types, by kind (never evaluated: no typing import)
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


# -- assert kind: the program and the test in two processes ------------------------------------
# The test (trusted problem code) runs in the *judge*, a process of the harness's with another
# uid than the program's: the program cannot ptrace it, signal it, read its memory or open its
# /proc fds, so neither the nonce nor the verdict pipe are reachable from it. The program runs
# here in "serve" mode and answers the judge's calls of its functions over two pipes, one JSON
# line per message; what it answers is decoded by the judge into plain builtin values only, so
# the most a program can do is to answer with a value (which a correct program could return too).

SERVE_REQ_FD = 5  # serve mode: the judge's requests arrive here; replies go to RESULT_FD
MAX_MESSAGE = 32 << 20  # one request or reply; a bigger one is a protocol failure
JUDGE_INT_DIGITS = 100_000  # int literals the judge parses (quadratic in digits: bounded)
_MAX_DEPTH = 200  # container nesting either side sends


class Unsendable(Exception):
    """A value that cannot cross between the program and the judge (args[0]: why)."""


def encode(x, depth=0):
    """A plain value as JSON data: atoms as themselves, containers tagged ([tag, items])."""
    t = _type(x)
    if x is None or t is bool or t is int or t is float or t is str:
        return x
    if depth > _MAX_DEPTH:
        raise Unsendable("too deeply nested container")
    d = depth + 1
    if t is list:
        return ["l", [encode(i, d) for i in x]]
    if t is tuple:
        return ["t", [encode(i, d) for i in x]]
    if t is dict or t is _OrderedDict:
        return ["d" if t is dict else "o", [[encode(k, d), encode(v, d)] for k, v in _dict_items(x)]]
    if t is set or t is frozenset:
        return ["s" if t is set else "f", [encode(i, d) for i in x]]
    if t is _deque:
        return ["q", [encode(i, d) for i in x], x.maxlen]
    if t is complex:
        return ["c", x.real, x.imag]
    if t is bytes:
        import base64

        return ["b", base64.b64encode(x).decode()]
    raise Unsendable(_type_name(t))


def decode(x, depth=0):
    """``encode``'s inverse, building builtin objects only; raises Unsendable on anything else."""
    t = _type(x)
    if x is None or t is bool or t is int or t is float or t is str:
        return x
    if t is not list or not x or _type(x[0]) is not str or depth > _MAX_DEPTH:
        raise Unsendable("malformed value")
    tag, d = x[0], depth + 1
    try:
        if tag == "c" and _len(x) == 3 and _type(x[1]) is float and _type(x[2]) is float:
            return complex(x[1], x[2])
        if tag == "b" and _len(x) == 2 and _type(x[1]) is str:
            import base64

            return base64.b64decode(x[1].encode("ascii"), validate=True)
        items = x[1] if _len(x) >= 2 else None
        if _type(items) is not list:
            raise Unsendable("malformed value")
        if tag in ("l", "t", "s", "f") and _len(x) == 2:
            seq = [decode(i, d) for i in items]
            return seq if tag == "l" else (_tuple, _set, _frozenset)["tsf".index(tag)](seq)
        if tag == "q" and _len(x) == 3 and (x[2] is None or (_type(x[2]) is int and x[2] >= 0)):
            return _deque([decode(i, d) for i in items], x[2])
        if tag in ("d", "o") and _len(x) == 2:
            mapping: dict = {} if tag == "d" else _OrderedDict()
            for pair in items:
                if _type(pair) is not list or _len(pair) != 2:
                    raise Unsendable("malformed value")
                mapping[decode(pair[0], d)] = decode(pair[1], d)
            return mapping
    except (TypeError, ValueError, OverflowError):  # an unhashable key, bad base64, a maxlen past ssize_t
        raise Unsendable("malformed value") from None
    raise Unsendable("malformed value")


class LineReader:
    """JSON lines from a pipe, each at most MAX_MESSAGE bytes; None at end of stream."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = bytearray()

    def read(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[: nl + 1]
                return _json_loads(line)
            if _len(self.buf) > MAX_MESSAGE:
                raise Unsendable("message over the size limit")
            chunk = _read(self.fd, 1 << 20)
            if not chunk:
                return None
            self.buf += chunk


def _builtin_exception_name(exc):
    """The name of the nearest builtin Exception class of ``exc`` (a program's own exception
    class is sent as the builtin it derives from, so `except ValueError` in a test still works)."""
    for cls in _type(exc).__mro__:
        name = _type_name(cls)
        if _PRISTINE_BUILTINS.get(name) is cls and issubclass(cls, Exception):
            return name
    return "Exception"


def _serve_reply(ns, req):
    """One request of the judge, answered: the program's names, or one call's outcome."""
    if req.get("op") == "names":
        kinds, data = {}, {}
        for name in req["names"]:
            if _type(name) is not _str or name not in ns:
                continue
            value = ns[name]
            if _type(value) is _type(builtins):  # modules: the test imports what it uses
                continue
            if _callable(value):
                kinds[name] = "function"
                continue
            try:
                data[name] = encode(plain_value(value))
                kinds[name] = "data"
            except _BaseException:  # noqa: BLE001 - not plain data: the test cannot see it
                pass
        return {"names": kinds, "data": data}
    fn = ns.get(req.get("name"))
    if not _callable(fn):
        return {"raise": "NameError", "msg": f"{req.get('name')!r} is not a function of the program"}
    args = [decode(a) for a in req["args"]]
    kwargs = {k: decode(v) for k, v in req["kwargs"]}
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the test may expect it: sent as its builtin class
        try:
            msg = _str(exc)[:2000]
        except _BaseException:  # noqa: BLE001 - a __str__ that fails
            msg = ""
        return {"raise": _builtin_exception_name(exc), "msg": msg}
    except _BaseException as exc:  # noqa: BLE001 - SystemExit and co: exiting is not returning
        return {"fatal": _type_name(_type(exc))}
    try:
        return {"value": encode(plain_value(result))}
    except NonPlainReturn as exc:
        return {"nonplain": exc.args[0]}
    except Unsendable as exc:
        return {"nonplain": exc.args[0]}


def _serve(src, rfd, qfd):
    """assert kind, program side: run the program as a module, then answer the judge's calls
    until it closes its end. Never returns."""
    sys.set_int_max_str_digits(0)  # this side only encodes; the judge bounds what it parses
    ns = _run_as_module(src, rfd)
    reader = LineReader(qfd)
    while True:
        try:
            req = reader.read()
        except _BaseException:  # noqa: BLE001 - only the judge writes here: it is gone
            req = None
        if req is None:
            _flush_std()
            _exit(0)
        try:
            reply = _serve_reply(ns, req)
        except _BaseException as exc:  # noqa: BLE001 - e.g. MemoryError while decoding
            name = _builtin_exception_name(exc) if _isinstance(exc, Exception) else "RuntimeError"
            reply = {"raise": name, "msg": ""}
        _flush_std()
        try:
            _report(rfd, reply)
        except _BaseException:  # noqa: BLE001 - the judge closed its end
            _exit(0)


class ProgramGone(BaseException):
    """The program died, exited or broke the protocol while the test waited for it.

    BaseException, like NonPlainReturn, so that a test's ``except Exception`` cannot swallow
    it; a flag makes the failure stick even if something swallows it anyway."""


def names_used_by(test_src):
    """Every name the test's code mentions: the program's among them are what it can see."""
    import ast

    return sorted({n.id for n in ast.walk(ast.parse(test_src)) if _type(n) is ast.Name})


class _Program:
    """The judge's end of the two pipes to the program."""

    def __init__(self, wfd, rfd, state):
        self.wfd = wfd
        self.reader = LineReader(rfd)
        self.state = state

    def ask(self, req):
        if self.state["gone"] is not None:
            raise ProgramGone(self.state["gone"])
        try:
            _report(self.wfd, req)
        except OSError:
            pass  # it exited: a report it left before that (e.g. its load failed) is still readable
        try:
            reply = self.reader.read()
        except (OSError, ValueError, RecursionError, Unsendable) as exc:
            reply, why = None, f"sent a broken reply ({_type_name(_type(exc))})"
        else:
            why = "stopped answering"
        if _type(reply) is not dict:
            self.state["gone"] = why if reply is None else "sent a broken reply"
            raise ProgramGone(self.state["gone"])
        return reply


def _proxy(program, name, state):
    """What the test calls for the program's function ``name``: the call runs in the program's
    process; its return value comes back as plain data or the test sees an exception."""

    def candidate(*args, **kwargs):
        try:
            req = {
                "op": "call",
                "name": name,
                "args": [encode(a) for a in args],
                "kwargs": [[k, encode(v)] for k, v in kwargs.items()],
            }
        except Unsendable as exc:
            raise TypeError(f"the test passed a {exc.args[0]}, which cannot be sent to the program") from None
        reply = program.ask(req)
        try:
            if "value" in reply:
                return decode(reply["value"])
        except (Unsendable, RecursionError, MemoryError) as exc:
            state["gone"] = f"sent a broken reply ({_type_name(_type(exc))})"
            raise ProgramGone(state["gone"]) from None
        if "nonplain" in reply:
            state["bad"] = _str(reply["nonplain"])[:200]
            raise NonPlainReturn(f"candidate returned a non-builtin {state['bad']}")
        if "raise" in reply and _type(reply["raise"]) is _str:
            cls = _PRISTINE_BUILTINS.get(reply["raise"])
            if _type(cls) is _type and issubclass(cls, Exception):
                raise cls(_str(reply.get("msg", ""))[:2000])
        if "fatal" in reply:
            state["gone"] = f"{_str(reply['fatal'])[:100]} raised"
            state["fatal"] = _str(reply["fatal"])[:100]
            raise ProgramGone(state["gone"])
        state["gone"] = "sent a broken reply"
        raise ProgramGone(state["gone"])

    candidate.__name__ = candidate.__qualname__ = name
    return candidate


def judge(test_src, entry, nonce, rfd, to_program, from_program):
    """assert kind, test side (run in the harness's judge process): bind the program's names the
    test mentions (functions as proxies, plain data as values), run the test, and report on
    ``rfd``: a pass carries the nonce. Never returns."""
    sys.set_int_max_str_digits(JUDGE_INT_DIGITS)
    state: dict[str, str | None] = {"bad": None, "gone": None, "fatal": None}
    program = _Program(to_program, from_program, state)
    try:
        test_code = _compile(test_src, "test.py", "exec")
        used = names_used_by(test_src)
    except _BaseException as exc:  # noqa: BLE001 - a broken test fails every program
        _fail(rfd, exc)
    test_ns = {"__builtins__": _dict(_PRISTINE_BUILTINS), "__name__": "test"}
    try:
        reply = program.ask({"op": "names", "names": used + ([entry] if entry else [])})
        if "fail" in reply:  # the program raised while it was loaded
            _flush_std()
            _report(rfd, {"fail": "exc", "exc": _str(reply.get("exc"))[:200]})
            _exit(1)
        kinds, data = reply.get("names"), reply.get("data")
        if _type(kinds) is not _dict or _type(data) is not _dict:
            state["gone"] = "sent a broken reply"
            raise ProgramGone(state["gone"])
        for name, kind in kinds.items():
            if _type(name) is not _str or not name.isidentifier():
                continue
            if kind == "function":
                test_ns[name] = _proxy(program, name, state)
            elif kind == "data" and name in data:
                test_ns[name] = decode(data[name])
        if entry:
            if kinds.get(entry) != "function":
                raise _NameError(f"entry point {entry!r} is not defined")
            _exec(test_code, test_ns)
            check = test_ns.get("check")
            if not _callable(check):
                raise _NameError("the test defines no check()")
            check(_proxy(program, entry, state))  # type: ignore[operator]  # the program's, even if the test rebinds it
        else:
            _exec(test_code, test_ns)
    except NonPlainReturn as exc:
        _fail(rfd, exc, kind="nonplain", name=state["bad"])
    except ProgramGone as exc:
        _gone(rfd, state, exc)
    except Unsendable as exc:  # only the program's data is decoded: it sent something else
        state["gone"] = state["gone"] or "sent a broken reply"
        _gone(rfd, state, exc)
    except _AssertionError as exc:
        _fail(rfd, exc, kind="assertion")
    except _BaseException as exc:  # noqa: BLE001 - SystemExit included: exiting is not passing
        _fail(rfd, exc)
    if state["bad"] is not None:
        _flush_std()
        _report(rfd, {"fail": "nonplain", "exc": state["bad"]})
        _exit(1)
    if state["gone"] is not None:
        _gone(rfd, state, None)
    _flush_std()
    _report(rfd, {"passed": nonce})
    _exit(0)


def _gone(rfd, state, exc):
    _flush_std()
    if state["fatal"]:
        _report(rfd, {"fail": "exc", "exc": state["fatal"]})
    else:
        _report(rfd, {"fail": "gone", "exc": state["gone"] or "stopped answering"})
    _exit(1)


def main():
    pfd, rfd = int(sys.argv[1]), int(sys.argv[2])
    payload = _json_loads(_read_all(pfd))
    mode = payload["mode"]
    src = payload["program"]
    sys.argv = ["main.py"]
    linecache.cache["main.py"] = (_len(src), None, src.splitlines(True), "main.py")
    if mode == "stdio":
        _run_as_main(src, rfd)
        return
    if mode == "serve":  # assert kind, the program's side (the test runs in the judge)
        _serve(src, rfd, SERVE_REQ_FD)
    ns = _run_as_module(src, rfd)
    _call_and_report(ns, payload, rfd)  # call kind


if __name__ == "__main__":
    main()
