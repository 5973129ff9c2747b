"""Compared methods behind one ``Restorer`` interface (see :mod:`baselines.base`).

Built-in methods register on import; installed packages add theirs through the entry-point group
``resshift_bench.baselines``. ``resshift-bench baselines`` lists them with their weight status;
``resshift-bench run METHOD --dataset NAME`` restores a built test set.
"""
from .base import (BASELINES, ENTRY_POINT_GROUP, UNAVAILABLE, Restorer, WeightFile, get, load_entry_points, load_restorer,
                   register, registry, run_options, why_not_runnable)
from . import (bicubic, dasr, ddrm, deepfill, dfdnet, difface, face, gan, lama, ldm, mcg,  # noqa: F401,E402
               psfrgan, repaint, resshift_methods, score_sde, stablesr, vqfr)  # (register the built-ins)

__all__ = ["BASELINES", "ENTRY_POINT_GROUP", "UNAVAILABLE", "Restorer", "WeightFile", "get", "load_restorer",
           "load_entry_points", "register", "registry", "run_options", "why_not_runnable"]
