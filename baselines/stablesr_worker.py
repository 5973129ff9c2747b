"""One StableSR process for a whole folder, timed from the inside.

Run by :mod:`baselines.stablesr` with the StableSR environment's interpreter, in the StableSR
checkout::

    python stablesr_worker.py TIMING.json scripts/sr_val_ddpm_text_T_vqganfin_old.py --config ... --outdir OUT

It executes the release's own script unchanged (``runpy``, as ``__main__``), so the checkpoints are
loaded once and every image of ``--init-img`` is restored in batches of ``--n_samples``. The only
addition is a clock on the script's sampling loop (its one ``tqdm.trange`` loop over batches): the
time between loop iterations (CUDA synchronised) is one batch, and the PNGs that appeared in
``--outdir`` meanwhile are that batch's images. Start-up (imports, loading 7.4 GB of checkpoints)
is recorded apart and never counted as runtime.

Standalone on purpose: it must not import this project (the StableSR environment need not have it;
this folder also holds an ``ldm.py`` that would shadow the release's ``ldm`` package).
"""
from __future__ import annotations

import json
import os
import runpy
import sys
import time


def _sync() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()


def main(argv: list[str]) -> int:
    if len(argv) < 2 or "--outdir" not in argv:
        sys.stderr.write("usage: stablesr_worker.py TIMING.json SCRIPT --outdir OUT [script flags]\n")
        return 2
    timing_path, script, *args = argv
    out_dir = args[args.index("--outdir") + 1]

    def written() -> int:
        return sum(f.endswith(".png") for f in os.listdir(out_dir)) if os.path.isdir(out_dir) else 0

    import tqdm

    marks: list[tuple[float, int]] = []            # (clock, PNGs written so far) at each batch boundary
    plain_trange = tqdm.trange

    def clocked_trange(*a, **k):
        for i in plain_trange(*a, **k):
            _sync()
            marks.append((time.perf_counter(), written()))
            yield i
        _sync()
        marks.append((time.perf_counter(), written()))

    tqdm.trange = clocked_trange                     # the script does `from tqdm import trange` after this
    start = time.perf_counter()
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(script))     # as `python SCRIPT` would, not this folder
    sys.path.insert(1, os.getcwd())                              # the checkout (ldm/, scripts/)
    runpy.run_path(script, run_name="__main__")
    batches = [{"images": b[1] - a[1], "seconds": b[0] - a[0]} for a, b in zip(marks, marks[1:])]
    record = {"startup_seconds": (marks[0][0] - start) if marks else None, "batches": batches, "pid": os.getpid()}
    tmp = timing_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, timing_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
