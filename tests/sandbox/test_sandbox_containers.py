"""Standard-library containers returned by correct programs are judged right; look-alikes are not.

Counter/defaultdict become dicts, namedtuples tuples, OrderedDict and deque stay themselves
(their types cannot be patched and `==` keeps its meaning), recursively; anything else that is
not builtin data -- a program's class, a subclass of dict or Counter, a class the program put in
place of `collections.Counter` -- is still refused (the hostile suite covers the attacks).
"""

from __future__ import annotations

import collections
import typing

import pytest
from sandbox_problems import assert_kind, call

from sandbox.runner import NonPlainReturn, plain_value

FREQ = assert_kind("assert freq_count([10, 10, 20]) == {10: 2, 20: 1}\n", pid="freq")
NESTED_TEST = """
from collections import OrderedDict, deque
assert f() == [{'a': 1}, (1, 2), deque([{'x': [1]}]), OrderedDict([('k', (3, 4))]), frozenset({(1, 2)}),
               {'d': []}]
"""
NESTED = """
from collections import Counter, OrderedDict, defaultdict, deque, namedtuple
P = namedtuple('P', 'x y')
def f():
    dd = defaultdict(list)
    dd['d']
    return [Counter('a'), P(1, 2), deque([Counter({'x': [1]})]), OrderedDict([('k', P(3, 4))]),
            frozenset({P(1, 2)}), dd]
"""

# (problem, program, expected status)
CASES = {
    "counter": (FREQ, "import collections\ndef freq_count(l):\n    return collections.Counter(l)", "ok"),
    "counter_from_import": (FREQ, "from collections import Counter as C\ndef freq_count(l):\n    return C(l)", "ok"),
    "counter_wrong": (
        FREQ,
        "import collections\ndef freq_count(l):\n    return collections.Counter(l[1:])",
        "wrong_answer",
    ),
    "counter_vs_counter": (
        assert_kind("from collections import Counter\nassert f('aab') == Counter(a=2, b=1)\n"),
        "from collections import Counter\ndef f(s):\n    return Counter(s)",
        "ok",
    ),
    "counter_entry_point": (
        assert_kind("def check(c):\n    assert c([1, 1]) == {1: 2}\n", "freq"),
        "from collections import Counter\ndef freq(l):\n    return Counter(l)",
        "ok",
    ),
    "defaultdict": (
        assert_kind("assert group([('a', 1), ('a', 2)]) == {'a': [1, 2]}\n"),
        "from collections import defaultdict\ndef group(p):\n    d = defaultdict(list)\n"
        "    for k, v in p:\n        d[k].append(v)\n    return d",
        "ok",
    ),
    "ordereddict_vs_dict": (
        assert_kind("assert f() == {'b': 1, 'a': 2}\n"),
        "from collections import OrderedDict\ndef f():\n    return OrderedDict(a=2, b=1)",
        "ok",
    ),
    "ordereddict_order_counts": (
        assert_kind("from collections import OrderedDict\nassert f() == OrderedDict([('b', 1), ('a', 2)])\n"),
        "from collections import OrderedDict\ndef f():\n    return OrderedDict(a=2, b=1)",
        "wrong_answer",
    ),
    "namedtuple": (
        assert_kind("assert f() == (1, 2)\n"),
        "from collections import namedtuple\nP = namedtuple('P', 'x y')\ndef f():\n    return P(1, 2)",
        "ok",
    ),
    "typing_namedtuple": (
        assert_kind("def check(c):\n    assert c() == (1, 'a')\n", "f"),
        "from typing import NamedTuple\nclass P(NamedTuple):\n    x: int\n    y: str\ndef f():\n    return P(1, 'a')",
        "ok",
    ),
    "deque": (
        assert_kind("from collections import deque\nassert f() == deque([1, 2])\n"),
        "from collections import deque\ndef f():\n    return deque([1, 2])",
        "ok",
    ),
    "deque_is_not_a_list": (
        assert_kind("assert f() == [1, 2]\n"),
        "from collections import deque\ndef f():\n    return deque([1, 2])",
        "wrong_answer",
    ),
    "frozenset": (assert_kind("assert f() == {1, 2}\n"), "def f():\n    return frozenset({1, 2})", "ok"),
    "nested": (assert_kind(NESTED_TEST), NESTED, "ok"),
    "call_counter": (
        call("f", [([[1, 1, 2]], {"1": 2, "2": 1})]),
        "from collections import Counter\ndef f(l):\n    return Counter(str(x) for x in l)",
        "ok",
    ),
    "call_namedtuple_deque": (
        call("f", [([], [[1, 2], [3]])]),
        "from collections import deque, namedtuple\nP = namedtuple('P', 'x y')\n"
        "def f():\n    return [P(1, 2), deque([3])]",
        "ok",
    ),
    "call_shared_rows": (
        call("grid", [([2], [[0, 0], [0, 0]])]),
        "def grid(n):\n    row = [0] * n\n    return [row] * n",
        "ok",
    ),
    "call_cycle": (call("f", [([], [])]), "def f():\n    l = []\n    l.append(l)\n    return l", "wrong_answer"),
    "call_namedtuple_key": (
        call("f", [([], {"1": 1})]),
        "from collections import namedtuple\nP = namedtuple('P', 'x')\ndef f():\n    return {P(1): 1}",
        "wrong_answer",
    ),
}


@pytest.mark.docker
def test_stdlib_containers_in_the_sandbox(docker_sandbox):
    names = list(CASES)
    verdicts = docker_sandbox.judge_many([CASES[n][:2] for n in names])
    got = {n: v.status.value for n, v in zip(names, verdicts)}
    assert got == {n: CASES[n][2] for n in names}, [(n, v.tests[0].detail) for n, v in zip(names, verdicts)]
    assert all(v.error is None for v in verdicts)
    details = dict(zip(names, (v.tests[0].detail for v in verdicts)))
    assert details["counter_wrong"] == "assertion failed"
    assert details["call_namedtuple_key"] == "return value is not JSON (dict key P)"
    assert details["call_cycle"] == "return value is not JSON (ValueError)"


# --- the conversion itself, in-process -------------------------------------------------------
P = collections.namedtuple("P", "x y")


class TP(typing.NamedTuple):
    x: int


def test_plain_data_is_returned_as_is():
    for value in (1, 2.5, "s", None, True, b"b", 1j, [1, (2, {3})], {"a": frozenset({1})}):
        assert plain_value(value) is value


def test_counter_and_defaultdict_become_dicts():
    out = plain_value([collections.Counter("aab"), collections.defaultdict(int, {"z": 0})])
    assert out == [{"a": 2, "b": 1}, {"z": 0}]
    assert [type(x) for x in out] == [dict, dict]


def test_namedtuples_become_tuples_even_with_a_patched_eq(monkeypatch):
    monkeypatch.setattr(P, "__eq__", lambda self, other: True, raising=False)
    out = plain_value({P(1, 2): [P(3, 4)], "t": TP(5)})
    assert out == {(1, 2): [(3, 4)], "t": (5,)}
    assert type(next(iter(out))) is tuple and type(out["t"]) is tuple
    assert not out[(1, 2)][0] == (0, 0)


def test_ordereddict_and_deque_keep_their_type_and_order():
    od = collections.OrderedDict([("b", collections.Counter("x")), ("a", 1)])
    od.move_to_end("b")
    dq = collections.deque([P(1, 2)], maxlen=3)
    out = plain_value([od, dq])
    assert type(out[0]) is collections.OrderedDict and list(out[0].items()) == [("a", 1), ("b", {"x": 1})]
    assert type(out[1]) is collections.deque and out[1] == collections.deque([(1, 2)]) and out[1].maxlen == 3


def test_cycles_survive_conversion():
    lst: list = [collections.Counter("a")]
    lst.append(lst)
    out = plain_value(lst)
    assert out[0] == {"a": 1} and out[1] is out


def test_json_mode():
    assert plain_value([collections.deque([1]), P(1, 2), collections.OrderedDict(a=1)], json_only=True) == [
        [1],
        (1, 2),
        {"a": 1},
    ]
    for bad, name in (({1}, "set"), ({P(1, 2): 1}, "dict key P"), (1j, "complex")):
        with pytest.raises(NonPlainReturn, match=name):
            plain_value(bad, json_only=True)
    row = [collections.Counter("a")]
    shared = plain_value([row, row], json_only=True)  # shared, not cyclic: fine for JSON
    assert shared == [[{"a": 1}], [{"a": 1}]] and shared[0] is shared[1]


class Meta(type):
    def __eq__(cls, other):
        return True

    def __hash__(cls):
        return hash(int)


class Liar(metaclass=Meta):
    pass


class MyCounter(collections.Counter):
    pass


class MyDict(dict):
    pass


class MyTuple(tuple):  # a tuple subclass that is not a namedtuple
    pass


@pytest.mark.parametrize(
    "value, name",
    [
        (object(), "object"),
        (Liar(), "Liar"),
        (MyCounter(), "MyCounter"),
        (MyDict(), "MyDict"),
        (MyTuple(), "MyTuple"),
        ([{"k": (1, MyDict())}], "MyDict"),
        (collections.Counter({"k": object()}), "object"),
        (collections.deque([Liar()]), "Liar"),
    ],
)
def test_anything_else_is_refused(value, name):
    with pytest.raises(NonPlainReturn, match=f"^{name}$"):
        plain_value(value)


def test_counter_rebound_after_start_is_refused(monkeypatch):
    class Permissive(collections.Counter):
        def __eq__(self, other):
            return True

    monkeypatch.setattr(collections, "Counter", Permissive)
    with pytest.raises(NonPlainReturn, match="Permissive"):
        plain_value(collections.Counter("a"))


def test_namedtuple_check_runs_no_program_code():
    calls = []

    class Key:
        def __hash__(self):
            return hash("_fields")

        def __eq__(self, other):
            calls.append(other)
            return True

    fake = type("Fake", (tuple,), {Key(): 1, "_make": 1, "_asdict": 1})
    with pytest.raises(NonPlainReturn, match="^Fake$"):
        plain_value([fake((1,))])
    assert calls == []
