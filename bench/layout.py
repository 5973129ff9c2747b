"""Where every file lives under a results folder (docs/design.md, "Data flow"), one method per kind
of path. The CLIs' defaults, the tables and the workflow's rules all take their paths from here.
Pure: nothing here reads or writes a file.

A method's result is named ``<method>-<steps>`` (steps -1 for a method without steps), where
``<method>`` is a registry name or ``NAME@RUN``: the registered method NAME with the weights of
RUN, a run trained by the workflow (``resshift@demo_t4``). The workflow passes wildcard patterns
(``"{dataset}"``) for the parts and gets the path patterns of its rules.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

# <method>-<steps>; the method part is as short as possible, so "a-b-4" is ("a-b", 4)
_RESULT_NAME = re.compile(r"^(.+?)-(-?\d+)$")


def split_method(method: str) -> tuple[str, str]:
    """``NAME@RUN`` -> (NAME, RUN); a registry name alone -> (NAME, "")."""
    name, _, run = method.partition("@")
    return name, run


def result_name(method: str, steps: int | str) -> str:
    """The name of a method's result at ``steps``: ``<method>-<steps>``."""
    return f"{method}-{steps}"


def parse_result_name(name: str) -> tuple[str, int] | None:
    """(method, steps) of a result name, or None for a name that is not one."""
    match = _RESULT_NAME.match(name)
    return (match.group(1), int(match.group(2))) if match else None


class Layout:
    """The paths under one results folder (``results_dir`` of the workflow, ``--results`` of the CLIs)."""

    def __init__(self, results: str | os.PathLike = "results"):
        self.root = Path(results)

    # ------------------------------------------------------------- test sets (build_dataset)
    def dataset(self, name: str) -> Path:
        """A built test set: gt/, lq/, mask/, manifest.csv, build.json."""
        return self.root / "data" / name

    def manifest(self, name: str) -> Path:
        return self.dataset(name) / "manifest.csv"

    def build_record(self, name: str) -> Path:
        return self.dataset(name) / "build.json"

    # ------------------------------------------------------------- trained runs (train)
    @property
    def models(self) -> Path:
        """The folder of every run, where ``NAME@RUN`` finds RUN."""
        return self.root / "models"

    def run(self, run: str) -> Path:
        return self.models / run

    def checkpoint(self, run: str) -> Path:
        """A run's last checkpoint: what restoring with ``NAME@RUN`` reads."""
        return self.run(run) / "checkpoints" / "last.pth"

    def run_config(self, run: str) -> Path:
        return self.run(run) / "config.yaml"

    def validation_curve(self, run: str) -> Path:
        return self.run(run) / "validation.csv"

    # ------------------------------------------------------------- restorations (restore)
    def restored(self, dataset: str, method: str, steps: int | str) -> Path:
        """Restored images of a test set, with meta.json."""
        return self.root / "restored" / dataset / result_name(method, steps)

    def restored_meta(self, dataset: str, method: str, steps: int | str) -> Path:
        return self.restored(dataset, method, steps) / "meta.json"

    def restore_work(self, dataset: str, method: str, steps: int | str) -> Path:
        """Where a restore job's images accumulate before they are copied to :meth:`restored`."""
        return self.root / "restored" / ".work" / dataset / result_name(method, steps)

    def shard_done(self, dataset: str, method: str, steps: int | str, shard: int | str, shards: int | str) -> Path:
        """Marker of a finished shard (``shard`` of ``shards``) in the restore job's work folder."""
        return self.restore_work(dataset, method, steps) / f"shard-{shard}of{shards}.done"

    # ------------------------------------------------------------- metrics, timing
    def metrics(self, dataset: str, method: str, steps: int | str) -> Path:
        """Per-image metrics of a restoration; notes beside it in :meth:`metrics_notes`."""
        return self.metrics_folder(dataset) / f"{result_name(method, steps)}.csv"

    def metrics_notes(self, dataset: str, method: str, steps: int | str) -> Path:
        metrics = self.metrics(dataset, method, steps)
        return metrics.with_name(metrics.name + ".json")

    def metrics_folder(self, dataset: str) -> Path:
        return self.root / "metrics" / dataset

    def metrics_of(self, restored: str | os.PathLike) -> Path:
        """The metrics file of any restored folder ``.../<dataset>/<name>``: metrics/<dataset>/<name>.csv."""
        restored = Path(restored)
        return self.metrics_folder(restored.parent.name) / f"{restored.name}.csv"

    def timing(self, method: str, steps: int | str) -> Path:
        return self.root / "timing" / f"{result_name(method, steps)}.json"

    # ------------------------------------------------------------- tables, figures, the rest
    def table(self, number: int | str, ext: str) -> Path:
        """``table<N>.<ext>`` (csv, md, tex) at the top of the results folder."""
        return self.root / f"table{number}.{ext}"

    def figure(self, name: str, ext: str) -> Path:
        return self.root / "figures" / f"{name}.{ext}"

    def weights_fetched(self, method: str) -> Path:
        """Marker that a method's released weights were downloaded (rule fetch_weights)."""
        return self.root / "weights" / f"{method}.fetched"

    def demo(self, name: str) -> Path:
        """A file of the one-image quick look (rule demo)."""
        return self.root / "demo" / name

    def log(self, rule: str, *job: str) -> Path:
        """A job's log: logs/<rule>/<job parts>.log, or logs/<rule>.log for a rule with one job."""
        return self._per_job(self.root / "logs", rule, job, ".log")

    def benchmark(self, rule: str, *job: str) -> Path:
        """A job's Snakemake benchmark record, named as its log."""
        return self._per_job(self.root / "benchmarks", rule, job, ".tsv")

    @staticmethod
    def _per_job(folder: Path, rule: str, job: tuple[str, ...], suffix: str) -> Path:
        if not job:
            return folder / f"{rule}{suffix}"
        return folder.joinpath(rule, *job[:-1], job[-1] + suffix)


# The CLIs' and functions' default: results/ under the folder a command runs in.
DEFAULT_LAYOUT = Layout()
