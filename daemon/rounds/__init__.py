"""The round's life: one owner from "which round runs" to "done".

Owns: ``context`` (``RoundDeps``, the typed dependencies; seeds; serving a version while a
round uses it), ``runner`` (the stage loop prepare -> ... -> done; no judgement: the gate is
its ``start_gate`` / ``decide_gate`` seam, the outcome ``policies.outcome``), ``gate_test``
(the sequential gate's loop: plan committed first, per-problem rows batch by batch, resume),
``attempts`` (the round job:
attempts, retries, waiting for the inference server; what each error kind costs),
``errors`` (Interrupted / Permanent / Transient), ``learning`` (the round's hooks into the
learning feature), ``progress`` (each running stage's progress: ``stage_progress`` rows at a
bounded rate, ``round.progress`` log lines, a bar on a terminal).

May import: ``daemon.state``, ``daemon.config``, ``daemon.metrics``, ``daemon.gpu``,
``daemon.serving`` (the adapter registry), ``daemon.learning``, ``policies``, ``ssd``,
``sandbox`` (its protocol). Not ``daemon.jobs`` or ``daemon.app`` (they call in here).
"""
