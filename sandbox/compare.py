"""Host-side output comparison. Runs outside the sandbox on data the program produced."""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(tok) for tok in line.split()]
    except (InvalidOperation, ValueError):
        return None


def stdio_equal(output: str, expected: str) -> bool:
    """LiveCodeBench rule: strip, split lines, strip each; lines equal exactly or as Decimals."""
    got, want = _lines(output), _lines(expected)
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if g == w:
            continue
        gd, wd = _decimals(g), _decimals(w)
        if gd is None or wd is None or len(gd) != len(wd):
            return False
        try:
            if any(a != b for a, b in zip(gd, wd)):
                return False
        except InvalidOperation:  # signalling NaN compares raise
            return False
    return True


def json_equal(got: Any, want: Any) -> bool:
    """Structural equality of two JSON values; bool is not a number, 1 == 1.0 is fine."""
    if isinstance(got, bool) or isinstance(want, bool):
        return type(got) is bool and type(want) is bool and got == want
    if isinstance(got, (int, float)) and isinstance(want, (int, float)):
        if isinstance(got, float) and isinstance(want, float) and math.isnan(got) and math.isnan(want):
            return False
        return got == want
    if isinstance(got, str) or isinstance(want, str):
        return type(got) is str and type(want) is str and got == want
    if got is None or want is None:
        return got is None and want is None
    if isinstance(want, (list, tuple)):
        return (
            isinstance(got, (list, tuple))
            and len(got) == len(want)
            and all(json_equal(a, b) for a, b in zip(got, want))
        )
    if isinstance(want, dict):
        return isinstance(got, dict) and set(got) == set(want) and all(json_equal(got[k], want[k]) for k in want)
    return False


def parse_returned(text: str) -> Any:
    """The JSON text the harness sent back for a call-kind return value."""
    return json.loads(text)
