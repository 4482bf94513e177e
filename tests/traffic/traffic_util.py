"""Shared material for the learning tests: prompts carrying secrets, and a small daemon config."""

from __future__ import annotations

from pathlib import Path

# (prompt, the secret strings that must never be stored). The keys and tokens are made up in
# the providers' formats (the AWS pair is AWS's documented example).
SECRET_PROMPTS: dict[str, tuple[str, list[str]]] = {
    "aws": (
        "Why does boto3 say access denied? My config:\n"
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        "Write a python function that lists my S3 buckets.",
        ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
    ),
    "github": (
        "This python script fails to clone: git clone https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/me/x\n"
        "and also GITHUB_TOKEN=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 why?",
        [
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789",
        ],
    ),
    "private_key": (
        "Fix the code that loads this key with paramiko:\n-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n"
        "7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFc\n"
        "-----END RSA PRIVATE KEY-----\nit raises an error",
        [
            "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw",
            "7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFc",
        ],
    ),
    "openssh_truncated": (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
        "QyNTUxOQAAACDd5LZbxQ1gXu2EeE6O8sKw1p8qZ0lH3m0rY4k7WvZ2cAAAAJi3yGVHt8hl\n\n"
        "my code to parse it in python returns None, why?",
        [
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            "QyNTUxOQAAACDd5LZbxQ1gXu2EeE6O8sKw1p8qZ0lH3m0rY4k7WvZ2cAAAAJi3yGVHt8hl",
        ],
    ),
    "dotenv": (
        "Here is my .env, the django app does not start:\n"
        "SECRET_KEY=django-insecure-9x!k2@pl_0q\n"
        "DATABASE_PASSWORD=correct-horse-battery\n"
        'STRIPE_API_KEY="rk_live_51H8xyzABCDEFGHIJKLMNOP"\n'
        "export SESSION_COOKIE=zz81hf02Kq\n"
        "DEBUG=true\n",
        [
            "django-insecure-9x!k2@pl_0q",
            "correct-horse-battery",
            "rk_live_51H8xyzABCDEFGHIJKLMNOP",
            "zz81hf02Kq",
        ],
    ),
    "url_password": (
        "My python code cannot connect: engine = create_engine('postgresql://admin:S3cr3t-Pass@db.internal:5432/app')"
        " and redis://:r3d1sP4ss@cache:6379/0",
        ["S3cr3t-Pass", "r3d1sP4ss"],
    ),
    "code_literal": (
        'def connect():\n    return psycopg2.connect(host="db", password="hunter2hunter2", user="bob")\n'
        "why does it fail?",
        ["hunter2hunter2"],
    ),
    "high_entropy": (
        'My parser rejects this line, why?\nvalue = parse("Zx8Kq2Lm9Pv4Rt7Wy1Bn6Cd3Fg5Hj0Q")',
        ["Zx8Kq2Lm9Pv4Rt7Wy1Bn6Cd3Fg5Hj0Q"],
    ),
}

# Ordinary coding prompts that must come through unchanged.
CLEAN_PROMPTS = [
    "Write a Python function `fizzbuzz(n)` that returns a list of strings for 1..n.",
    "def calculate_average_of_numbers_in_list_2(values):\n    return sum(values) / len(values)\n"
    "Why does this raise ZeroDivisionError for an empty list? Fix it.",
    "In my class TestCalculateAverageOfNumbers the test fails with AssertionError; here is "
    "requests.get('https://api.example.com/v1/items?page=2') and the traceback.",
]


def invoke_ssdd(args: list[str]):
    """``ssdd ARGS`` in this process (typer's CliRunner). The CLI points structlog at the
    runner's stderr, which is closed afterwards: the logging set-up is put back."""
    import structlog
    from typer.testing import CliRunner

    from daemon.cli import app

    saved = structlog.get_config()
    try:
        return CliRunner().invoke(app, args)
    finally:
        structlog.configure(**saved)


def daemon_config(tmp_path: Path, model_dir: Path, **learning):
    """A daemon config over the starter set, its data under ``tmp_path``."""
    from daemon.config import DaemonConfig

    return DaemonConfig.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "model": str(model_dir),
            "served_model_name": "smollm2-135m",
            "data": {"sources": [{"kind": "starter"}], "split": {"heldout_frac": 0.4}},
            "sampling": {"params": {"max_tokens": 64}},
            "learning": {"capture": True, **learning},
        }
    )
