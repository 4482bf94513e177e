"""The serving side of the daemon: OpenAI-compatible endpoint, adapter registry, vLLM supervisor.

Public entry point: :class:`daemon.serving.serve.ServingStack`; its configuration is
``daemon.serving.config`` (the ``endpoint:`` section). The opt-in prompt capture is handed in
when the app is built (``create_app(..., capture=...)``).

May import: ``daemon.state`` (timestamps), ``ssd`` (the vLLM client, child processes),
``policies`` (which adapters stay loaded). Not ``daemon.rounds``, ``daemon.jobs``,
``daemon.learning`` or ``daemon.app``: the endpoint keeps serving whatever the rounds do.
"""
