"""Host-side comparison rules (pure functions, no Docker)."""

from sandbox.compare import json_equal, stdio_equal


def test_stdio_whitespace_rules():
    assert stdio_equal("3  \n", "3")
    assert stdio_equal("\n\n1 2\n3\n\n", "1 2\n3")
    assert stdio_equal("1\r\n2\r\n", "1\n2\n")
    assert not stdio_equal("1\n\n2", "1\n2")  # a blank line inside the output counts
    assert stdio_equal("1\n\n2", "1\n\n2")
    assert not stdio_equal("YES", "yes")  # case-sensitive
    assert not stdio_equal("1 2", "1\n2")


def test_stdio_decimal_tokens():
    assert stdio_equal("0.50", "0.5")
    assert stdio_equal("1.000 2", "1 2.0")
    assert not stdio_equal("0.5000001", "0.5")
    assert not stdio_equal("1 2", "1 2 0")  # token counts differ
    assert not stdio_equal("abc 1", "abc 1.0")  # a non-number token forbids the Decimal path
    assert not stdio_equal("nan", "NaN")
    assert stdio_equal("1e2", "100")


def test_json_equal_numbers_and_bools():
    assert json_equal(1, 1.0)
    assert json_equal([1, 2.0], [1.0, 2])
    assert not json_equal(True, 1)
    assert not json_equal(1, True)
    assert not json_equal(0, False)
    assert json_equal(False, False)
    assert not json_equal(None, 0)
    assert not json_equal("1", 1)


def test_json_equal_structures():
    assert json_equal([[1, 2], [3]], [[1, 2], [3]])
    assert not json_equal([1, 2], [1, 2, 3])
    assert json_equal({"a": [1]}, {"a": [1.0]})
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal({"a": 1}, [("a", 1)])
    assert not json_equal(float("nan"), float("nan"))
