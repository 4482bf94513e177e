"""Every judgement of the system as a pure function over plain values, each with its tests:
the gate and its error budget, re-evaluation and rollback, the round's outcome after the gate
(``outcome``), the decoding choice, which adapters stay loaded or on disk, the schedule's
back-off, the traffic check.

May import: the standard library, pydantic, numpy / scipy. Nothing of ours (``ssd``,
``sandbox``, ``daemon``): callers gather the inputs and carry out the decision.
"""
