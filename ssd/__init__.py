"""The method, simple self-distillation, a module per step (problems, prompts, sampling,
filters, distillation, evaluation) plus the stand-alone ``ssd round`` and the ``ssd`` CLI.

May import: ``policies`` and ``sandbox``. Not ``daemon``, except ``ssd/cli.py``, which reads
the one config file through ``daemon.config``.
"""
