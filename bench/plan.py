"""What the workflow makes for a configuration: which test sets, trained runs, restorations, metric
files, timings and figures each requested table and figure needs, and the arguments of each job's
command. Functions of the validated configuration (``config/config.yaml`` with the user's
``--configfile``/``--config``) and of the specifications they read (``bench/tables.yaml``,
``bench/datasets/*.yaml``); source folders are checked when a job runs, not here.

The workflow's rules (``workflow/rules/*.smk``) call a :class:`Plan` for their inputs and
parameters; its paths come from :class:`bench.layout.Layout`. A configuration it cannot plan raises
:class:`PlanError`, one line naming the key to set.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import sys
from collections.abc import Callable

import yaml

import baselines
from resshift.config import TABLE1_NAME, load_config, table1_name, table1_settings
from resshift.errors import ResShiftError
from resshift.train import lpips_vgg_weights

from .costs import STARTUP_MINUTES, default_shards, runtime_minutes
from .data import RECIPES
from .layout import Layout, split_method
from .tables import columns, row_label, table_spec_with

# `resshift-bench figure` kind -> the figure's name (results/figures/<name>.{png,pdf})
FIGURES = {"schedule": "schedule", "forward": "forward_process", "compare": "compare_{dataset}",
           "ablation": "ablation_grid", "perception": "perception_distortion", "validation": "validation_curves"}


class PlanError(ResShiftError):
    """A configuration the workflow cannot plan (a missing key, an unknown method or run)."""


def grid_runs(grid: str) -> list[tuple[str, int, float, float]]:
    """[(run name, T, p, kappa)] of a Table I grid configuration (table1, demo_table1)."""
    return [(table1_name(grid, s, p, k), s, p, k) for s, p, k in table1_settings(load_config(grid))]


def missing_needs(run: dict) -> str | None:
    """What a training run's `needs` lacks here (the VGG16 weights of LPIPS-VGG), or None."""
    if run.get("needs") == "lpips_vgg":
        path = lpips_vgg_weights()
        return None if path.is_file() else f"LPIPS-VGG's VGG16 weights {path}"
    return None


def key_value_flags(flag: str, values: dict) -> str:
    """``--flag 'k=v'`` for every item, sorted by key, each quoted for the shell."""
    return " ".join(f"{flag} {shlex.quote(f'{k}={v}')}" for k, v in sorted(values.items()))


def _get(mapping: dict, dotted: str):
    node = mapping
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _to_stderr(message: str) -> None:
    print(f"resshift-bench workflow: {message}", file=sys.stderr)


class Plan:
    """The jobs a configuration needs. ``say`` gets the one-line notes planning prints (runs left
    out, rows not run); by default they go to stderr."""

    def __init__(self, config: dict, say: Callable[[str], None] = _to_stderr):
        self.config = config
        self.layout = Layout(config["results_dir"])
        self.say = say
        self.runs = self._training_runs()
        self._not_run: dict[int, dict[tuple[str, int], str]] = {}
        self._said_not_run: set[int] = set()

    # -------------------------------------------------------------- checks at planning
    def check(self) -> None:
        """Every table the config lists or requests has recipes for its test sets, and every
        requested table's rows name registered methods."""
        for n in self.requested_tables() + self.configured_tables():
            for dataset in self.table_datasets(n):
                self.recipe(dataset)
        for n in self.requested_tables():
            self.check_methods(n)

    def check_methods(self, n: int) -> None:
        known = set(baselines.registry()) | set(baselines.UNAVAILABLE)
        unknown = sorted({m for m, _ in self.all_table_rows(n) if split_method(m)[0] not in known})
        if unknown:
            raise PlanError(f"table {n}: no registered method {', '.join(unknown)} (see `resshift-bench baselines`); "
                            f"add one (docs/adding-a-baseline.md) or list the table's rows in the config (tables: rows)")

    # -------------------------------------------------------------- training runs
    def _training_runs(self) -> dict[str, dict]:
        """run name -> {config, set, validate}: the config's `training` runs whose `needs` are met,
        plus each table's Table-I grid. A run left out is named once, with what it needs."""
        runs = {}
        for name, run in (self.config.get("training") or {}).items():
            missing = missing_needs(run)
            if missing:
                self.say(f"run {name} and its table rows left out: {missing} not found "
                         "(torchvision downloads them at first use where there is a network)")
                continue
            runs[name] = {"config": run["config"], "set": dict(run.get("set") or {}), "validate": run.get("validate")}
        for entry in self.config.get("tables") or []:
            for name, *_ in grid_runs(entry["grid"]) if entry.get("grid") else []:
                runs[name] = {"config": name, "set": dict(entry.get("set") or {})}
        return runs

    def train_config(self, run: str) -> str:
        return self.runs[run]["config"]

    def train_sets(self, run: str) -> str:
        """``--set`` flags of a run: the config's overrides, and validation on a built set."""
        sets = dict(self.runs[run]["set"])
        validate = self.runs[run].get("validate")
        if validate:                             # validation PSNR every N iterations on a built set
            data = self.layout.dataset(validate["dataset"])
            sets.update({"train.validate_every": validate["every"], "validation.gt": f"{data}/gt",
                         "validation.lq": f"{data}/lq"})
        return key_value_flags("--set", sets)

    def train_inputs(self, run: str) -> list[str]:
        """The validation set a run reads (training: <run>: validate:), else nothing."""
        validate = self.runs[run].get("validate")
        return [str(self.layout.dataset(validate["dataset"]))] if validate else []

    def run_inputs(self, method: str) -> list[str]:
        """A method trained by this workflow (NAME@RUN) reads its run's last checkpoint and configuration."""
        run = split_method(method)[1]
        if not run:
            return []
        if run not in self.runs:
            raise PlanError(f"method {method}: no training run {run!r} in the config's `training` "
                            f"(or a table's grid); add training: {{{run}: {{config: NAME}}}}")
        return [str(self.layout.checkpoint(run)), str(self.layout.run_config(run))]

    # -------------------------------------------------------------- tables
    def requested_tables(self) -> list[int]:
        return [int(n) for n in self.config.get("targets", [])]

    def configured_tables(self) -> list[int]:
        return [int(entry["table"]) for entry in self.config.get("tables") or []]

    def table_entry(self, n: int) -> dict:
        for entry in self.config.get("tables") or []:
            if int(entry["table"]) == int(n):
                return entry
        return {"table": int(n)}                 # the paper's table as specified in bench/tables.yaml

    def all_table_rows(self, n: int) -> list[tuple[str, int]]:
        """[(method, steps)] of table n: the config's rows, its grid's runs, or the paper's rows."""
        entry = self.table_entry(n)
        if entry.get("rows"):
            left_out = {name for name in self.config.get("training") or {} if name not in self.runs}
            return [(r["method"], int(r["steps"])) for r in entry["rows"] if split_method(r["method"])[1] not in left_out]
        if entry.get("grid"):
            return [(f"resshift@{name}", s) for name, s, _, _ in grid_runs(entry["grid"])]
        return [(r["method"], int(r["steps"])) for r in table_spec_with(n)["rows"]]

    def table_not_run(self, n: int) -> dict[tuple[str, int], str]:
        """{(method, steps): reason} of table n's rows that cannot run here: methods declared
        unavailable, and with `offline: true` released weights that are missing. The table names
        them as not run (and planning its job says so once, see :meth:`table_args`)."""
        n = int(n)
        if n not in self._not_run:
            known = set(baselines.registry()) | set(baselines.UNAVAILABLE)
            not_run = {}
            for method, steps in self.all_table_rows(n):
                if split_method(method)[0] not in known:
                    continue                           # unknown: check_methods names it
                reason = baselines.why_not_runnable(method, offline=bool(self.config.get("offline")))
                if reason:
                    not_run[(method, steps)] = reason
            self._not_run[n] = not_run
        return self._not_run[n]

    def table_rows(self, n: int) -> list[tuple[str, int]]:
        """[(method, steps)] of table n that run here (see :meth:`table_not_run`)."""
        not_run = self.table_not_run(n)
        return [row for row in self.all_table_rows(n) if row not in not_run]

    def table_spec(self, n: int) -> dict:
        """Table n's specification with the rows that run here and the config's metrics."""
        return table_spec_with(n, self.table_rows(n), self.table_entry(n).get("metrics"))

    def dataset_map(self, n: int) -> dict[str, str]:
        """The paper's test set -> the one used here (tables: datasets:)."""
        return dict(self.table_entry(n).get("datasets") or {})

    def table_datasets(self, n: int) -> list[str]:
        mapping = self.dataset_map(n)
        return sorted({mapping.get(ds, ds) for ds, _, _ in columns(self.table_spec(n))})

    def table_data(self, n: int) -> list[str]:
        return [str(self.layout.dataset(ds)) for ds in self.table_datasets(n)]

    def table_metric_files(self, n: int) -> list[str]:
        """Every metrics file table n reads, with its notes."""
        return [str(path) for ds in self.table_datasets(n) for m, s in self.table_rows(n)
                for path in (self.layout.metrics(ds, m, s), self.layout.metrics_notes(ds, m, s))]

    def table_restored_folders(self, n: int) -> list[str]:
        return [str(self.layout.restored(ds, m, s)) for ds in self.table_datasets(n) for m, s in self.table_rows(n)]

    def table_timing_files(self, n: int) -> list[str]:
        if not self.table_spec(n).get("extra"):
            return []
        return [str(self.layout.timing(m, s)) for m, s in self.table_rows(n)]

    def table_args(self, n: int) -> str:
        """Arguments of `resshift-bench table n`: rows, rows not run, dataset map, metrics, config hash."""
        rows = " ".join(f"{m}:{s}" for m, s in self.all_table_rows(n))
        not_run = self.table_not_run(n)
        if not_run and int(n) not in self._said_not_run:          # once, when the table's job is planned
            self._said_not_run.add(int(n))
            self.say(f"table {n}: not run here (shown as such in the table): "
                     + "; ".join(f"{m}: {why}" for (m, _), why in not_run.items()))
        not_run_args = " ".join(f"{m}:{s}" for m, s in not_run)
        mapping = " ".join(f"{k}={v}" for k, v in sorted(self.dataset_map(n).items()))
        metrics = self.table_entry(n).get("metrics")
        return (f"--rows {rows} --config-sha256 {self.config_sha256()}" + (f" --dataset-map {mapping}" if mapping else "")
                + (f" --metrics {','.join(metrics)}" if metrics else "")
                + (f" --not-run {not_run_args}" if not_run_args else ""))

    def config_sha256(self) -> str:
        """Provenance: the effective configuration (config.yaml plus --configfile/--config), hashed."""
        return hashlib.sha256(json.dumps(self.config, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def metrics_for(self, dataset: str, method: str, steps: int | str) -> list[str]:
        """Union of the metrics every configured or requested table (and Fig. 6) reads from this file."""
        names = []
        for n in sorted(set(self.configured_tables()) | set(self.requested_tables())):
            mapping = self.dataset_map(n)
            if (method, int(steps)) not in self.table_rows(n):
                continue
            for ds, _, metric in columns(self.table_spec(n)):
                if mapping.get(ds, ds) == dataset and metric not in names:
                    names.append(metric)
        if (self.config.get("figures") or {}).get("perception"):      # Fig. 6 reads MSE and a perceptual metric
            mine = str(self.layout.metrics(dataset, method, steps))
            if any(path == mine for _, _, path in self.perception_points()):
                names += [m for m in ("psnr", "lpips", "niqe") if m not in names]
        return names or ["psnr", "ssim"]

    # -------------------------------------------------------------- test sets
    def recipe(self, dataset: str) -> dict:
        """The test set's recipe, bench/datasets/<dataset>.yaml."""
        path = RECIPES / f"{dataset}.yaml"
        if not path.is_file():
            raise PlanError(f"config: dataset {dataset!r} has no recipe bench/datasets/{dataset}.yaml")
        return yaml.safe_load(path.read_text())

    def has_reference(self, dataset: str) -> bool:
        """Whether the test set has ground truth (a `folder` set is LQ images only)."""
        return self.recipe(dataset).get("kind") != "folder"

    def dataset_source_args(self, dataset: str) -> str:
        """--source/--prebuilt for a recipe that needs external images; a PlanError when the
        config does not say where they are."""
        source = self.recipe(dataset).get("source") or {}
        if "packaged" in source:
            return ""
        key = source.get("config_key", f"data.sources.{dataset}")
        prebuilt = _get(self.config, f"data.prebuilt.{dataset}")
        if prebuilt:
            return f"--prebuilt {shlex.quote(str(prebuilt))}"
        folder = _get(self.config, key)
        if not folder:
            raise PlanError(
                f"dataset {dataset} needs {source.get('expect', 'a folder of images')} ({source.get('url', '')}): "
                f"set {key} in the config (or data.prebuilt.{dataset} for a prebuilt set)")
        return f"--source {shlex.quote(str(folder))}"

    def dataset_images(self, dataset: str) -> int | None:
        """The test set's size as its recipe states it (select.count or source.min_images), else None."""
        recipe = self.recipe(dataset)
        return _get(recipe, "select.count") or _get(recipe, "source.min_images")

    # -------------------------------------------------------------- restoring and timing a method
    def method_setting(self, method: str, key: str):
        """The config's `methods.<name>.<key>` of a method (NAME@RUN: NAME's)."""
        return ((self.config.get("methods") or {}).get(split_method(method)[0]) or {}).get(key)

    def method_options(self, method: str, run_files: list[str]) -> str:
        """--option flags: the config's `methods.<name>.options`, and for NAME@RUN the run's
        checkpoint and configuration (``run_files``, as :meth:`run_inputs` lists them)."""
        options = dict(self.method_setting(method, "options") or {})
        if split_method(method)[1]:
            options.update(checkpoint=run_files[0], config=run_files[1])
        return key_value_flags("--option", options)

    def tile_mode_option(self, method: str) -> str:
        """ResShift methods split large inputs as the config's tile_mode says (default: the release's way)."""
        if not split_method(method)[0].startswith("resshift"):
            return ""
        return f"--option tile_mode={self.config.get('tile_mode', 'release')}"

    def batch_size_arg(self, method: str) -> str:
        n = self.method_setting(method, "batch_size")
        return f"--batch-size {int(n)}" if n else ""

    def weights_marker(self, method: str) -> list[str]:
        """[marker] when the config allows downloads and ``method`` (not a trained NAME@RUN) has
        released files with a direct address; else []."""
        name, run = split_method(method)
        if self.config.get("offline", False) or run:
            return []
        restorer = baselines.registry().get(name)
        if restorer is None or not [w for w in restorer.weights if not (w.manual or w.is_folder)]:
            return []
        return [str(self.layout.weights_fetched(name))]

    def restore_shards(self, dataset: str, method: str) -> int:
        """The config's `methods.<name>.shards`, else enough shards to keep each within
        bench.costs.SHARD_MINUTES at the method's measured cost."""
        n = self.method_setting(method, "shards")
        return int(n) if n else default_shards(method, self.dataset_images(dataset))

    def restore_work(self, wildcards) -> str:
        """Where a restore job's images accumulate: not a job output, so a killed job's images survive
        (Snakemake deletes a failed job's outputs) and its retry resumes."""
        return str(self.layout.restore_work(wildcards.dataset, wildcards.method, wildcards.steps))

    def restore_shard_markers(self, wildcards) -> list[str]:
        """The shards a restore job gathers (none when it is one shard)."""
        n = self.restore_shards(wildcards.dataset, wildcards.method)
        if n == 1:
            return []
        return [str(self.layout.shard_done(wildcards.dataset, wildcards.method, wildcards.steps, i, n))
                for i in range(1, n + 1)]

    def restore_runtime(self, wildcards) -> int:
        """Cluster minutes for a restore job: a gathering copy when shards did the work."""
        if self.restore_shards(wildcards.dataset, wildcards.method) > 1:
            return STARTUP_MINUTES
        return runtime_minutes(wildcards.method, self.dataset_images(wildcards.dataset))

    def shard_runtime(self, wildcards) -> int:
        images = self.dataset_images(wildcards.dataset)
        return runtime_minutes(wildcards.method, -(-images // int(wildcards.shards)) if images else None)

    # -------------------------------------------------------------- figures
    def figure_targets(self) -> list[str]:
        """The figures built by default: the schedule, and those the config's `figures` sets up
        (the ablation grid and Fig. 6 only on request)."""
        figures = self.config.get("figures") or {}
        names = ([FIGURES["schedule"]] if figures.get("schedule", True) else [])
        names += [FIGURES["forward"]] if figures.get("forward") else []
        names += [FIGURES["validation"]] if figures.get("validation") else []
        names += [FIGURES["compare"].format(dataset=c["dataset"]) for c in figures.get("compare") or []]
        return [str(self.layout.figure(name, ext)) for name in names for ext in ("png", "pdf")]

    def figure_setting(self, name: str) -> dict:
        setting = (self.config.get("figures") or {}).get(name)
        if not setting:
            raise PlanError(f"figure {name}: no `figures.{name}` in the config "
                            "(e.g. {dataset: demo_sr, image: chelsea_c0})")
        return setting

    def figure_inputs(self, kind: str, wildcards) -> dict[str, str | list[str]]:
        """The named inputs of the figure rule of ``kind`` (a key of :data:`FIGURES`)."""
        data = self.layout.dataset
        if kind == "forward":
            return {"data": str(data(self.figure_setting("forward")["dataset"]))}
        if kind == "compare":
            return {"data": str(data(wildcards.dataset)), "restored": self.compare_folders(wildcards.dataset)}
        if kind == "ablation":
            return {"data": str(data(self.ablation_dataset())), "restored": self.ablation_folders()}
        if kind == "perception":
            return {"metrics": [path for _, _, path in self.perception_points()]}
        if kind == "validation":
            runs = self.validation_runs()
            return {"checkpoints": [str(self.layout.checkpoint(run)) for _, run, _ in runs],
                    "data": sorted({str(data(ds)) for _, _, ds in runs})}
        return {}

    def figure_args(self, kind: str, wildcards) -> str:
        """Arguments of `resshift-bench figure` but --out: the kind, its inputs, labels and zoom box."""
        inputs = self.figure_inputs(kind, wildcards)
        if kind == "forward":
            return f"forward --data {inputs['data']} --image {self.figure_setting('forward')['image']}"
        if kind in ("compare", "ablation"):
            if kind == "compare":
                setting = self.compare_setting(wildcards.dataset)
                panels = self.compare_panels(wildcards.dataset, inputs["restored"])
            else:
                setting = self.figure_setting("ablation")
                panels = self.ablation_panels(inputs["restored"])
            box = box_arg(setting)
            return f"{kind} --data {inputs['data']} --image {setting['image']} --restored {panels}" + (f" {box}" if box else "")
        if kind == "perception":
            return "perception --series " + " ".join(shlex.quote(f"{label}:{s}={path}")
                                                     for label, s, path in self.perception_points())
        if kind == "validation":
            curves = " ".join(shlex.quote(f"{label}={self.layout.validation_curve(run)}")
                              for label, run, _ in self.validation_runs())
            return f"validation --curves {curves} --data {inputs['data'][0]}"
        return kind

    def compare_setting(self, dataset: str) -> dict:
        for setting in (self.config.get("figures") or {}).get("compare") or []:
            if setting["dataset"] == dataset:
                return setting
        raise PlanError(f"figure compare_{dataset}: no entry for {dataset} in the config's figures.compare "
                        "(e.g. - {dataset: demo_sr, table: 2, image: chelsea, box: [96, 48, 64]})")

    def compare_rows(self, dataset: str) -> list[tuple[str, int]]:
        return self.table_rows(self.compare_setting(dataset)["table"])

    def compare_folders(self, dataset: str) -> list[str]:
        return [str(self.layout.restored(dataset, m, s)) for m, s in self.compare_rows(dataset)]

    def compare_panels(self, dataset: str, folders: list[str]) -> str:
        """LABEL=FOLDER arguments, the labels as in the table (steps added for diffusion methods)."""
        pairs = []
        for (method, steps), folder in zip(self.compare_rows(dataset), folders):
            label = row_label(method, self.layout.root) + (f"-{steps}" if steps > 0 else "")
            pairs.append(shlex.quote(f"{label}={folder}"))
        return " ".join(pairs)

    def ablation_dataset(self) -> str:
        return self.table_datasets(self.figure_setting("ablation")["table"])[0]

    def ablation_folders(self) -> list[str]:
        table = self.figure_setting("ablation")["table"]
        return [str(self.layout.restored(self.ablation_dataset(), m, s)) for m, s in self.table_rows(table)]

    def ablation_panels(self, folders: list[str]) -> str:
        """LABEL=FOLDER with labels "T=.., p=.., κ=.." read from the Table I run names."""
        table = self.figure_setting("ablation")["table"]
        pairs = []
        for (method, steps), folder in zip(self.table_rows(table), folders):
            match = TABLE1_NAME.match(split_method(method)[1])
            label = f"T={match.group(2)}, p={match.group(3)}, κ={match.group(4)}" if match else f"{method}-{steps}"
            pairs.append(shlex.quote(f"{label}={folder}"))
        return " ".join(pairs)

    def perception_points(self) -> list[tuple[str, int, str]]:
        """(label, steps, metrics CSV) of Fig. 6: ResShift from a Table I grid's runs at each T (the
        grid's p and kappa), the LDM method at each step count."""
        setting = self.figure_setting("perception")
        ds, p, kappa = setting["dataset"], float(setting.get("p", 0.3)), float(setting.get("kappa", 2.0))
        runs = {(s, rp, rk): name for name, s, rp, rk in grid_runs(setting["grid"])}
        points = [("ResShift", s, str(self.layout.metrics(ds, f"resshift@{runs[(s, p, kappa)]}", s)))
                  for s in setting["steps"] if (s, p, kappa) in runs]
        points += [("LDM", s, str(self.layout.metrics(ds, setting["ldm"], s))) for s in setting["steps"]]
        return points

    def validation_runs(self) -> list[tuple[str, str, str]]:
        """(label, run, validation set) of the validation-curves figure; every run needs `validate`."""
        out = []
        for entry in self.figure_setting("validation")["runs"]:
            label, run = entry["label"], entry["run"]
            validate = (self.runs.get(run) or {}).get("validate")
            if not validate:
                raise PlanError(f"figure validation_curves: training run {run!r} has no `validate:` key in the "
                                "config's training (e.g. validate: {dataset: demo_sr_val, every: 200})")
            out.append((label, run, validate["dataset"]))
        return out


def box_arg(setting: dict) -> str:
    """--box X,Y,SIZE of a figure setting with a zoom box, else nothing (the centre)."""
    box = setting.get("box")
    return f"--box {','.join(map(str, box))}" if box else ""
