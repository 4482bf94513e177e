"""The packaged starter problem set: short, self-contained easy/medium Python problems.

Built by ``scripts/build_starter_set.py`` from ``ssd/sources/starter_defs.py``; each problem has
a reference solution (passes) and a plausibly wrong one (fails), used to test the judge.
"""

from __future__ import annotations

from importlib import resources

from ssd.problems import InputError, Problem, Solution, iter_jsonl, load_problems, load_solutions

ROLES = ("reference", "wrong")


def _resource(name: str):
    return resources.files("ssd").joinpath("data", "starter", name)


def load_starter() -> list[Problem]:
    with resources.as_file(_resource("problems.jsonl")) as path:
        return load_problems(path, require_tests=True)


def starter_solutions(role: str) -> list[Solution]:
    """Reference (``role="reference"``) or deliberately wrong (``role="wrong"``) programs."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    known = [p.id for p in load_starter()]
    with resources.as_file(_resource("solutions.jsonl")) as path:
        sols = load_solutions(path, known)
        # Solution ignores unknown fields, so the role tag is read from the same rows in order.
        roles = [(lineno, row.get("role")) for lineno, row in iter_jsonl(path)]
        for lineno, r in roles:
            if r not in ROLES:
                raise InputError(path, lineno, f"role must be one of {ROLES}, got {r!r}")
    return [s for s, (_, r) in zip(sols, roles) if r == role]
