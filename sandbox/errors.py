"""Errors raised by the sandbox package."""


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run at all (engine down, image missing or stale); says how to fix."""
