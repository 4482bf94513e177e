"""The long-running service: ``ssdd`` (rounds on a schedule behind a live endpoint).

Owns: ``app`` (the composition root of ``ssdd run``), ``config`` (the one config root),
``state/`` (the SQLite state and the adapter lifecycle), ``rounds/`` (a round's life),
``jobs/`` (scheduled work), ``learning/`` (captured prompts), ``serving/`` (the endpoint),
and the CLI's commands (``cli``, ``status``, ``report``, ``doctor``, ``submit``, ``gpu``,
``metrics``).

May import: ``ssd``, ``policies``, ``sandbox`` (its protocol and ``open_sandbox``). Nothing
below imports ``daemon``, except ``ssd/cli.py`` for the config. The rules between its parts
are in each sub-package's docstring and checked by ``tests/test_imports.py``.
"""
