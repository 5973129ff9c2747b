"""Progress bars for long loops: shown on a terminal, silent in job logs and under ``--quiet``.

tqdm's ``disable=None`` turns a bar off when its stream is not a terminal, so logs written under
Snakemake or SLURM hold result lines instead of thousands of carriage-return updates.
"""
from __future__ import annotations

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Switch every bar off (the CLIs' ``--quiet``)."""
    global _quiet
    _quiet = bool(quiet)


def progress_bar(iterable=None, *, show: bool = True, **kwargs):
    """``tqdm(iterable, **kwargs)``, off when ``show`` is false, under ``--quiet``, or off a terminal."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=True if (_quiet or not show) else None, **kwargs)


def write(message: str, file=None) -> None:
    """Print a line without breaking a bar that is being drawn."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=file)
