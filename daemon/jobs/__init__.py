"""The daemon's scheduled work.

Owns: ``scheduler`` (APScheduler over plain callables: it imports no ``Daemon``), ``reevaluate``
(champion vs parent, rollback), ``maintenance`` (the disk sweep, the control channel, the
heartbeat).

May import: ``daemon.rounds`` (context, attempts' ``NextRun``), ``daemon.state``,
``daemon.config``, ``daemon.serving`` (the adapter registry), ``policies``, ``ssd``.
Not ``daemon.app`` (the composition root builds these, never the other way round).
"""
