"""Evaluation provenance: only evaluations made the same way are ever compared."""

from __future__ import annotations

import pytest
from policy_builders import from_arrays, prov
from pydantic import ValidationError

from policies.provenance import (
    EvalProvenance,
    ProvenanceMismatch,
    check_comparable,
    check_counts_match,
    hash_problem_ids,
)


def test_equal_provenance_is_comparable():
    check_comparable(prov(), prov())


def test_every_differing_field_is_named():
    a = prov()
    b = prov(temperature=0.0, n=4, sandbox_image="sha256:def", problem_set_hash="sha256:other")
    with pytest.raises(ProvenanceMismatch) as exc:
        check_comparable(a, b)
    assert exc.value.fields == ("temperature", "n", "sandbox_image", "problem_set_hash")
    msg = str(exc.value)
    assert "temperature: 0.6 vs 0.0" in msg and "n: 1 vs 4" in msg
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(
    "field,value",
    [
        ("top_p", 0.9),
        ("top_k", -1),
        ("max_tokens", 2048),
        ("seed", 8),
        ("vllm_version", "0.34"),
        ("model_hash", "sha256:other"),
    ],
)
def test_each_field_counts(field, value):
    with pytest.raises(ProvenanceMismatch) as exc:
        check_comparable(prov(), prov(**{field: value}))
    assert exc.value.fields == (field,)


def test_provenance_is_frozen_and_strict():
    p = prov()
    with pytest.raises(ValidationError, match=r"seed\n  Instance is frozen"):
        p.seed = 3
    with pytest.raises(ValidationError, match=r"extra_field\n  Extra inputs are not permitted"):
        EvalProvenance(**p.model_dump(), extra_field=1)
    with pytest.raises(ValidationError, match=r"\nn\n  Input should be greater than or equal to 1"):
        prov(n=0)
    assert EvalProvenance.model_validate_json(p.model_dump_json()) == p


def test_counts_must_carry_the_provenance_n():
    check_counts_match(from_arrays([0, 1, 2], 4), prov(n=4), "x")
    with pytest.raises(ValueError, match="x: provenance says n=1 samples per problem, but n differs on"):
        check_counts_match(from_arrays([0, 1, 2], 4), prov(n=1), "x")


def test_problem_set_hash_is_order_free():
    assert hash_problem_ids(["b", "a"]) == hash_problem_ids(["a", "b", "a"])
    assert hash_problem_ids(["a"]) != hash_problem_ids(["a", "b"])
    assert hash_problem_ids(["a"]).startswith("sha256:")
