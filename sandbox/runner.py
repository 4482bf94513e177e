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
import os
import sys

# Captured before the program runs, so later monkey-patching of builtins cannot change them.
_type = type
_id = id
_len = len
_write = os.write
_exit = os._exit
_PLAIN = frozenset({int, float, str, bool, type(None), list, tuple, dict, set, frozenset, complex, bytes})
_PRISTINE_BUILTINS = dict(builtins.__dict__)


class NonPlainReturn(BaseException):
    """A candidate returned a non-builtin value (it could override __eq__ to fool asserts).

    BaseException so that a test's ``except Exception`` cannot swallow it; a flag makes the
    failure stick even if something swallows it anyway.
    """


def _is_plain(value, json_only=False):
    allowed = _PLAIN if not json_only else frozenset({int, float, str, bool, type(None), list, tuple, dict})
    stack = [value]
    seen = set()
    while stack:
        x = stack.pop()
        t = _type(x)
        if t not in allowed:
            return False
        if t is list or t is tuple or t is set or t is frozenset or t is dict:
            if _id(x) in seen:
                if json_only:
                    return False  # a cycle cannot be JSON
                continue
            seen.add(_id(x))
            if t is dict:
                for k in dict.keys(x):
                    if json_only and _type(k) not in (str, int, float, bool, type(None)):
                        return False
                    stack.append(k)
                stack.extend(dict.values(x))
            else:
                stack.extend(x)
    return True


def _report(fd, obj):
    import json

    data = (json.dumps(obj) + "\n").encode()
    while data:
        n = _write(fd, data)
        data = data[n:]


def _flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def _read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks)


def _fail(rfd, exc, kind="exc", name=None):
    import traceback

    traceback.print_exception(_type(exc), exc, exc.__traceback__)
    _flush_std()
    _report(rfd, {"fail": kind, "exc": name or _type(exc).__name__})
    _exit(1)


def main():
    pfd, rfd = int(sys.argv[1]), int(sys.argv[2])
    import json
    import linecache

    payload = json.loads(_read_all(pfd))
    mode = payload["mode"]
    src = payload["program"]
    sys.argv = ["main.py"]
    linecache.cache["main.py"] = (_len(src), None, src.splitlines(True), "main.py")

    if mode == "stdio":
        ns = {"__name__": "__main__", "__builtins__": builtins, "__file__": "main.py"}
        try:
            code = compile(src, "main.py", "exec")
            exec(code, ns)
        except SystemExit:
            raise
        except BaseException as exc:  # noqa: BLE001 - any failure of the program is its verdict
            _fail(rfd, exc)
        _flush_std()
        return

    ns = {"__name__": "solution", "__builtins__": builtins, "__file__": "main.py"}
    try:
        exec(compile(src, "main.py", "exec"), ns)
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: exiting is not returning
        _fail(rfd, exc)

    if mode == "call":
        fn_name = payload["fn_name"]
        try:
            sol = ns.get("Solution")
            if isinstance(sol, type):
                fn = getattr(sol(), fn_name)
            else:
                if fn_name not in ns:
                    raise NameError(f"function {fn_name!r} is not defined")
                fn = ns[fn_name]
            value = fn(*payload["args"])
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: no value was returned
            _fail(rfd, exc)
        _flush_std()
        if not _is_plain(value, json_only=True):
            _report(rfd, {"fail": "unserializable", "exc": _type(value).__name__})
            _exit(0)
        try:
            text = json.dumps(value, allow_nan=True)
        except BaseException as exc:  # noqa: BLE001 - e.g. int too large to convert
            _report(rfd, {"fail": "unserializable", "exc": _type(exc).__name__})
            _exit(0)
        _report(rfd, {"value": text})
        _exit(0)

    # assert kind
    nonce = payload["nonce"]
    test_src = payload["test"]
    entry = payload.get("entry_point")
    payload = None
    state = {"bad": None}

    def guard(fn):
        def candidate(*args, **kwargs):
            result = fn(*args, **kwargs)
            if not _is_plain(result):
                state["bad"] = _type(result).__name__
                raise NonPlainReturn(f"candidate returned a non-builtin {_type(result).__name__}")
            return result

        return candidate

    try:
        test_code = compile(test_src, "test.py", "exec")
    except BaseException as exc:  # noqa: BLE001 - a broken test fails every program
        _fail(rfd, exc)
    test_ns = dict(ns)
    # The test sees the program's helpers (HumanEval tests call e.g. poly()), but builtins as
    # they were before the program ran.
    test_ns["__builtins__"] = dict(_PRISTINE_BUILTINS)
    test_ns["__name__"] = "test"
    try:
        if entry:
            if entry not in ns or not callable(ns[entry]):
                raise NameError(f"entry point {entry!r} is not defined")
            exec(test_code, test_ns)
            check = test_ns.get("check")
            if check is None:
                raise NameError("the test defines no check()")
            check(guard(ns[entry]))
        else:
            import ast
            import types

            used = {n.id for n in ast.walk(ast.parse(test_src)) if _type(n) is ast.Name}
            for name in used:
                if name in ns and _type(ns[name]) is types.FunctionType:
                    test_ns[name] = guard(ns[name])
            exec(test_code, test_ns)
    except NonPlainReturn as exc:
        _fail(rfd, exc, kind="nonplain", name=state["bad"])
    except AssertionError as exc:
        _fail(rfd, exc, kind="assertion")
    except BaseException as exc:  # noqa: BLE001 - SystemExit included: exiting is not passing
        _fail(rfd, exc)
    if state["bad"] is not None:
        _flush_std()
        _report(rfd, {"fail": "nonplain", "exc": state["bad"]})
        _exit(1)
    _flush_std()
    _report(rfd, {"passed": nonce})
    _exit(0)


if __name__ == "__main__":
    main()
