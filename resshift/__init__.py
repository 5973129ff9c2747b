"""ResShift: efficient diffusion for image restoration by residual shifting (Yue, Wang, Loy).

Public names: :class:`ResShiftSchedule`, :class:`ResShiftDiffusion`, :class:`UNetSwin`,
:class:`VQAutoencoder`, :func:`restore`, :func:`load_config`, :func:`build_model`, :func:`load_checkpoint`.
"""
__version__ = "0.1.0"

from .config import ResShiftModel, build_model, load_config
from .diffusion import ResShiftDiffusion
from .errors import ResShiftError
from .nets import UNetSwin, VQAutoencoder
from .restore import RestoreReport, restore
from .schedule import ResShiftSchedule
from .weights import load_checkpoint

__all__ = ["ResShiftSchedule", "ResShiftDiffusion", "UNetSwin", "VQAutoencoder", "ResShiftModel",
           "ResShiftError", "restore", "RestoreReport", "build_model", "load_config", "load_checkpoint", "__version__"]
