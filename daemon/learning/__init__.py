"""The learning feature's daemon side: prompts captured at the endpoint, stored and used.

Owns: ``store`` (the captured-prompt tables), ``ingest`` (redact, curate, decontaminate,
store; the capture's writer), ``purge`` (purge and the prompt limits of ``learning.retention``,
from the DB and every derived file), ``status`` (its part of ``ssdd status``), ``cli``
(``ssdd prompts ...``, ``ssdd add-prompts``). A round's hooks into it are
``daemon.rounds.learning``; the capture queue itself is ``daemon.serving.capture``.

May import: ``daemon.state``, ``daemon.config``, ``daemon.serving.capture``, ``ssd``
(``ssd.traffic``), ``policies``. Not ``daemon.rounds``, ``daemon.jobs`` or ``daemon.app``
(except ``cli``, which builds the problem sets through ``daemon.rounds.context``).
"""
