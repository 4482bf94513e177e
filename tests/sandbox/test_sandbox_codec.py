"""The assert kind's wire format between the program and the judge (sandbox/runner.py): plain
values round-trip exactly, and whatever a hostile program sends decodes to builtins or fails
with Unsendable, never with another exception (the judge's only trust boundary)."""

from __future__ import annotations

import collections
import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.runner import MAX_MESSAGE, Unsendable, decode, encode

atoms = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text() | st.binary()
atoms = atoms | st.complex_numbers(allow_nan=False)
# NaN only where it is not hashed: a set or dict key holding NaN is not equal to its own copy.
keys = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
hashable = st.recursive(keys, lambda c: st.tuples(c, c) | st.frozensets(c, max_size=3), max_leaves=8)
plain = st.recursive(
    atoms,
    lambda c: (
        st.lists(c, max_size=4)
        | st.tuples(c, c)
        | st.dictionaries(hashable, c, max_size=4)
        | st.sets(hashable, max_size=4)
        | st.builds(lambda kv: collections.OrderedDict(kv), st.lists(st.tuples(hashable, c), max_size=3))
        | st.builds(lambda xs, m: collections.deque(xs, m), st.lists(c, max_size=3), st.none() | st.integers(3, 5))
    ),
    max_leaves=20,
)


def same(a, b) -> bool:
    """Equal, with the same exact types all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple, collections.deque)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return (
            list(a) == list(b) and all(same(a[k], b[k]) for k in a)
            if isinstance(a, collections.OrderedDict)
            else (a.keys() == b.keys() and all(same(a[k], b[k]) for k in a))
        )
    return a == b


@settings(max_examples=300, deadline=None)
@given(plain)
def test_plain_values_round_trip_exactly(value):
    wire = json.loads(json.dumps(encode(value)))  # allow_nan: NaN/Infinity literals, as on the pipe
    back = decode(wire)
    assert same(back, value), (value, back)
    if isinstance(value, collections.deque):
        assert back.maxlen == value.maxlen


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=2), c, max_size=3),
    max_leaves=25,
)
tagged = st.recursive(
    json_values,
    lambda c: (
        st.tuples(st.sampled_from("ltsfdoqcbxL"), c).map(list)
        | st.tuples(st.sampled_from("qc"), c, c).map(list)
        | st.lists(c, max_size=3)
    ),
    max_leaves=25,
)

BUILTIN = (type(None), bool, int, float, str, bytes, complex, list, tuple, dict, set, frozenset)
BUILTIN += (collections.OrderedDict, collections.deque)


def only_builtins(x) -> bool:
    if type(x) not in BUILTIN:
        return False
    if isinstance(x, dict):
        return all(only_builtins(k) and only_builtins(v) for k, v in x.items())
    if isinstance(x, (list, tuple, set, frozenset, collections.deque)):
        return all(only_builtins(i) for i in x)
    return True


@settings(max_examples=500, deadline=None)
@given(tagged)
def test_anything_a_program_sends_decodes_to_builtins_or_is_unsendable(wire):
    try:
        value = decode(wire)
    except Unsendable:
        return
    assert only_builtins(value)


def test_unsendable_values_and_limits():
    class Mine:
        pass

    for bad in (Mine(), [1, Mine()], {1: object()}, lambda: 0, iter([])):
        try:
            encode(bad)
        except Unsendable:
            continue
        raise AssertionError(f"{bad!r} was encoded")
    deep: list = []
    for _ in range(300):
        deep = [deep]
    for f in (encode, lambda x: decode(encode_unchecked(x))):
        try:
            f(deep)
        except (Unsendable, RecursionError):
            pass
        else:
            raise AssertionError("a 300-deep value crossed")
    assert MAX_MESSAGE >= 1 << 20


def encode_unchecked(x):
    return ["l", [encode_unchecked(i) for i in x]] if isinstance(x, list) else x


def test_a_deque_bound_past_the_platform_size_is_malformed_not_a_crash():
    # Hypothesis found this: deque(maxlen=2**63) raises OverflowError, which must not escape the judge.
    for wire in (["q", [], 1 << 63], ["q", [1], 1 << 200]):
        try:
            decode(wire)
        except Unsendable:
            continue
        raise AssertionError(f"{wire!r} decoded")
    assert list(decode(["q", [1, 2], 5])) == [1, 2]
