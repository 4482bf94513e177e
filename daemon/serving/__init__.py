"""The serving side of the daemon: OpenAI-compatible endpoint, adapter registry, vLLM supervisor.

Public entry point: :class:`daemon.serving.serve.ServingStack`.
"""
