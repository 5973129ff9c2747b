"""Tiny random-weight versions of the released configurations (now :mod:`resshift.tiny`, which the
baselines' ``tiny()`` use too)."""
from resshift.tiny import _CHOP, save_tiny_task, tiny_task_config  # noqa: F401
