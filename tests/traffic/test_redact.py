"""Secrets redaction: every kind of secret the issue names goes; ordinary code stays."""

from __future__ import annotations

import pytest
from traffic_util import CLEAN_PROMPTS, SECRET_PROMPTS

from ssd.traffic.redact import detect_secrets_findings, redact, redact_messages, shannon_entropy


@pytest.mark.parametrize("name", sorted(SECRET_PROMPTS))
def test_every_secret_is_redacted(name):
    prompt, secrets = SECRET_PROMPTS[name]
    out = redact(prompt)
    for secret in secrets:
        assert secret not in out.text, f"{name}: {secret!r} survived in {out.text!r}"
    assert out.count >= 1 and "[REDACTED:" in out.text
    # What is left is clean for the maintained detector too.
    assert [f for f in detect_secrets_findings(out.text.split("\n")) if "REDACTED" not in f[2]] == []


def test_redaction_says_which_kind():
    assert redact(SECRET_PROMPTS["aws"][0]).kinds["aws-key"] == 1
    assert redact(SECRET_PROMPTS["github"][0]).kinds["github-token"] == 2
    assert redact(SECRET_PROMPTS["private_key"][0]).kinds["private-key"] == 1
    assert redact(SECRET_PROMPTS["url_password"][0]).kinds["url-password"] == 2
    assert redact(SECRET_PROMPTS["high_entropy"][0]).kinds["high-entropy"] == 1


def test_the_text_around_a_secret_survives():
    out = redact(SECRET_PROMPTS["url_password"][0]).text
    assert "postgresql://admin:[REDACTED:url-password]@db.internal:5432/app" in out
    env = redact(SECRET_PROMPTS["dotenv"][0]).text
    assert "DEBUG=true" in env and "SECRET_KEY=[REDACTED:" in env
    key = redact(SECRET_PROMPTS["private_key"][0]).text
    assert key.startswith("Fix the code that loads this key") and key.endswith("it raises an error")


@pytest.mark.parametrize("prompt", CLEAN_PROMPTS)
def test_ordinary_code_is_left_alone(prompt):
    out = redact(prompt)
    assert out.text == prompt and out.count == 0


def test_redaction_is_idempotent():
    for prompt, _ in SECRET_PROMPTS.values():
        once = redact(prompt).text
        assert redact(once).text == once


def test_messages_keep_their_roles():
    msgs, kinds = redact_messages(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": SECRET_PROMPTS["aws"][0]}]
    )
    assert [m["role"] for m in msgs] == ["system", "user"] and msgs[0]["content"] == "be brief"
    assert "AKIAIOSFODNN7EXAMPLE" not in msgs[1]["content"] and kinds["aws-key"] == 1


def test_entropy_of_a_random_token_exceeds_that_of_an_identifier():
    assert shannon_entropy("Zx8Kq2Lm9Pv4Rt7Wy1Bn6Cd3Fg5Hj0Q") > 4.0 > shannon_entropy("calculate_average_value")
