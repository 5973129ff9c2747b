# Planning helpers shared by the rules: which test sets, trained runs, restorations, metric files
# and timings each requested table needs. Planning reads configuration and specifications only
# (bench/tables.yaml, bench/datasets/*.yaml); source folders are checked when a job runs.
import functools
import os
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

from bench.tables import columns, customised

RESULTS = config["results_dir"]
MODELS = f"{RESULTS}/models"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
SEED = config.get("seed", 0)
MACHINE_CORES = os.cpu_count() or 1
THREADS = MACHINE_CORES if config.get("threads", "auto") == "auto" else int(config["threads"])
DEVICE = config.get("device", "cpu")
GPU = 1 if DEVICE.startswith("cuda") else 0
DEVICE_ARG = "" if DEVICE == "auto" else f"--device {DEVICE}"

# Local runs: jobs share this machine's cores through the `cpu_slots` resource, so `--cores 8`
# on a 2-core machine runs one 2-thread job at a time instead of four (cluster executors
# schedule on their nodes' cores instead).
if workflow.local_exec and "cpu_slots" not in workflow.global_resources:
    workflow.register_resource("cpu_slots", MACHINE_CORES)


def _recipe(name):
    path = Path(workflow.main_snakefile).parent / "bench" / "datasets" / f"{name}.yaml"
    if not path.is_file():
        raise WorkflowError(f"config: dataset {name!r} has no recipe bench/datasets/{name}.yaml")
    return yaml.safe_load(path.read_text())


def _get(mapping, dotted):
    node = mapping
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# ------------------------------------------------------------------ training runs
def grid_runs(grid):
    """[(run name, T, p, kappa)] of a Table I grid configuration (table1, demo_table1)."""
    from resshift.config import load_config, table1_name, table1_settings

    return [(table1_name(grid, s, p, k), s, p, k) for s, p, k in table1_settings(load_config(grid))]


def missing_needs(run_cfg):
    """What a training run's `needs` lacks here (the VGG16 weights of LPIPS-VGG), or None."""
    if run_cfg.get("needs") == "lpips_vgg":
        from resshift.train import lpips_vgg_weights

        path = lpips_vgg_weights()
        return None if path.is_file() else f"LPIPS-VGG's VGG16 weights {path}"
    return None


def training_runs():
    """run name -> {config, set}: the config's `training` runs whose `needs` are met, plus each
    table's Table-I grid. A run left out is named once, with what it needs."""
    runs = {}
    for name, r in (config.get("training") or {}).items():
        missing = missing_needs(r)
        if missing:
            print(f"resshift-bench workflow: run {name} and its table rows left out: {missing} not found "
                  "(torchvision downloads them at first use where there is a network)", file=sys.stderr)
            continue
        runs[name] = {"config": r["config"], "set": dict(r.get("set") or {}), "validate": r.get("validate")}
    for entry in config.get("tables") or []:
        for name, *_ in grid_runs(entry["grid"]) if entry.get("grid") else []:
            runs[name] = {"config": name, "set": dict(entry.get("set") or {})}
    return runs


RUNS = training_runs()


def train_sets(run):
    sets = dict(RUNS[run]["set"])
    val = RUNS[run].get("validate")
    if val:                                     # validation PSNR every N iterations on a built set
        data = f"{RESULTS}/data/{val['dataset']}"
        sets.update({"train.validate_every": val["every"], "validation.gt": f"{data}/gt", "validation.lq": f"{data}/lq"})
    return " ".join(f"--set {shlex.quote(f'{k}={v}')}" for k, v in sorted(sets.items()))


def train_inputs(run):
    """The validation set a run reads (training: <run>: validate:), else nothing."""
    val = RUNS[run].get("validate")
    return [f"{RESULTS}/data/{val['dataset']}"] if val else []


# ------------------------------------------------------------------ tables
def table_entry(n):
    for entry in config.get("tables") or []:
        if int(entry["table"]) == int(n):
            return entry
    return {"table": int(n)}                    # the paper's table as specified in bench/tables.yaml


def table_rows(n):
    """[(method, steps)] of table n that run here (see :func:`table_not_run`)."""
    not_run = table_not_run(n)
    return [row for row in all_table_rows(n) if row not in not_run]


def table_not_run(n):
    """{(method, steps): reason} of table n's rows that cannot run here: methods declared
    unavailable, and with `offline: true` released weights that are missing. The table names
    them as not run (and planning its job says so once, see :func:`table_args`)."""
    return _table_not_run(int(n))


@functools.lru_cache(maxsize=None)
def _table_not_run(n):
    import baselines

    out = {}
    for method, steps in all_table_rows(n):
        if method.partition("@")[0] not in baselines.registry() and method.partition("@")[0] not in baselines.UNAVAILABLE:
            continue                                   # unknown: check_methods names it
        reason = baselines.why_not_runnable(method, offline=bool(config.get("offline")))
        if reason:
            out[(method, steps)] = reason
    return out


_SAID_NOT_RUN = set()


def all_table_rows(n):
    """[(method, steps)] of table n: the config's rows, its grid's runs, or the paper's rows."""
    entry = table_entry(n)
    if entry.get("rows"):
        skipped = {name for name, r in (config.get("training") or {}).items() if name not in RUNS}
        return [(r["method"], int(r["steps"])) for r in entry["rows"] if r["method"].partition("@")[2] not in skipped]
    if entry.get("grid"):
        return [(f"resshift@{name}", s) for name, s, _, _ in grid_runs(entry["grid"])]
    return [(r["method"], int(r["steps"])) for r in customised(n)["rows"]]


def table_spec_for(n):
    entry = table_entry(n)
    return customised(n, table_rows(n), entry.get("metrics"))


def dataset_map(n):
    return dict(table_entry(n).get("datasets") or {})


def table_datasets(n):
    mapping = dataset_map(n)
    return sorted({mapping.get(ds, ds) for ds, _, _ in columns(table_spec_for(n))})


def table_metric_files(n):
    return [f"{RESULTS}/metrics/{ds}/{m}-{s}.{ext}" for ds in table_datasets(n) for m, s in table_rows(n)
            for ext in ("csv", "csv.json")]


def table_restored_folders(n):
    return [f"{RESULTS}/restored/{ds}/{m}-{s}" for ds in table_datasets(n) for m, s in table_rows(n)]


def table_timing_files(n):
    if not table_spec_for(n).get("extra"):
        return []
    return [f"{RESULTS}/timing/{m}-{s}.json" for m, s in table_rows(n)]


def table_args(n):
    rows = " ".join(f"{m}:{s}" for m, s in all_table_rows(n))
    not_run = " ".join(f"{m}:{s}" for m, s in table_not_run(n))
    if table_not_run(n) and int(n) not in _SAID_NOT_RUN:          # once, when the table's job is planned
        _SAID_NOT_RUN.add(int(n))
        print(f"resshift-bench workflow: table {n}: not run here (shown as such in the table): "
              + "; ".join(f"{m}: {why}" for (m, _), why in table_not_run(n).items()), file=sys.stderr)
    mapping = " ".join(f"{k}={v}" for k, v in sorted(dataset_map(n).items()))
    metrics = table_entry(n).get("metrics")
    return (f"--rows {rows} --config-sha256 {config_sha256()}" + (f" --dataset-map {mapping}" if mapping else "")
            + (f" --metrics {','.join(metrics)}" if metrics else "") + (f" --not-run {not_run}" if not_run else ""))


def config_sha256():
    """Provenance: the effective configuration (config.yaml plus --configfile/--config), hashed."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def requested_tables():
    return [int(n) for n in config.get("targets", [])]


def metrics_for(dataset, method, steps):
    """Union of the metrics every configured or requested table reads from this file."""
    names = []
    wanted = {int(e["table"]) for e in config.get("tables") or []} | set(requested_tables())
    for n in sorted(wanted):
        mapping = dataset_map(n)
        if (method, int(steps)) not in table_rows(n):
            continue
        for ds, _, metric in columns(table_spec_for(n)):
            if mapping.get(ds, ds) == dataset and metric not in names:
                names.append(metric)
    if (config.get("figures") or {}).get("perception"):          # Fig. 6 reads MSE and a perceptual metric
        if any(path == f"{RESULTS}/metrics/{dataset}/{method}-{steps}.csv" for _, _, path in perception_points()):
            names += [m for m in ("psnr", "lpips", "niqe") if m not in names]
    return names or ["psnr", "ssim"]


# ------------------------------------------------------------------ inputs that cannot be had
def dataset_source_args(dataset):
    """--source/--prebuilt for a recipe that needs external images; fails at planning when the
    config does not say where they are."""
    recipe = _recipe(dataset)
    src = recipe.get("source") or {}
    if "packaged" in src:
        return ""
    key = src.get("config_key", f"data.sources.{dataset}")
    prebuilt = _get(config, f"data.prebuilt.{dataset}")
    if prebuilt:
        return f"--prebuilt {shlex.quote(str(prebuilt))}"
    folder = _get(config, key)
    if not folder:
        raise WorkflowError(
            f"dataset {dataset} needs {src.get('expect', 'a folder of images')} ({src.get('url', '')}): "
            f"set {key} in the config (or data.prebuilt.{dataset} for a prebuilt set)")
    return f"--source {shlex.quote(str(folder))}"


def check_methods(n):
    """Every row of table n names a registered method (a baseline module or plugin)."""
    import baselines

    known = set(baselines.registry()) | set(baselines.UNAVAILABLE)
    unknown = sorted({m for m, _ in all_table_rows(n) if m.partition("@")[0] not in known})
    if unknown:
        raise WorkflowError(f"table {n}: no registered method {', '.join(unknown)} (see `resshift-bench baselines`); "
                            f"add one (docs/adding-a-baseline.md) or list the table's rows in the config (tables: rows)")


def method_options(method, input):
    """--option flags: the config's `methods.<name>.options`, and for NAME@RUN the run's files."""
    opts = dict((config.get("methods") or {}).get(method.partition("@")[0], {}).get("options") or {})
    if "@" in method:
        opts.update(checkpoint=input.run[0], config=input.run[1])
    return " ".join(f"--option {shlex.quote(f'{k}={v}')}" for k, v in sorted(opts.items()))


def tile_mode_option(method):
    """ResShift methods split large inputs as the config's tile_mode says (default: the release's way)."""
    if not method.partition("@")[0].startswith("resshift"):
        return ""
    return f"--option tile_mode={config.get('tile_mode', 'release')}"


def run_inputs(method):
    """A method trained by this workflow reads its run's last checkpoint and configuration."""
    run = method.partition("@")[2]
    if not run:
        return []
    if run not in RUNS:
        raise WorkflowError(f"method {method}: no training run {run!r} in the config's `training` "
                            f"(or a table's grid); add training: {{{run}: {{config: NAME}}}}")
    return [f"{MODELS}/{run}/checkpoints/last.pth", f"{MODELS}/{run}/config.yaml"]


# ------------------------------------------------------------------ figures
def figure_setting(name):
    setting = (config.get("figures") or {}).get(name)
    if not setting:
        raise WorkflowError(f"figure {name}: no `figures.{name}` in the config (e.g. {{dataset: demo_sr, image: chelsea_c0}})")
    return setting


def compare_setting(dataset):
    for setting in (config.get("figures") or {}).get("compare") or []:
        if setting["dataset"] == dataset:
            return setting
    raise WorkflowError(f"figure compare_{dataset}: no entry for {dataset} in the config's figures.compare "
                        "(e.g. - {dataset: demo_sr, table: 2, image: chelsea, box: [96, 48, 64]})")


def compare_rows(dataset):
    return table_rows(compare_setting(dataset)["table"])


def compare_folders(dataset):
    return [f"{RESULTS}/restored/{dataset}/{m}-{s}" for m, s in compare_rows(dataset)]


def compare_panels(dataset, folders):
    """LABEL=FOLDER arguments, the labels as in the table (steps added for diffusion methods)."""
    from bench.tables import row_label

    pairs = []
    for (method, steps), folder in zip(compare_rows(dataset), folders):
        label = row_label(method, Path(RESULTS)) + (f"-{steps}" if steps > 0 else "")
        pairs.append(shlex.quote(f"{label}={folder}"))
    return " ".join(pairs)


def box_arg(setting):
    box = setting.get("box")
    return f"--box {','.join(map(str, box))}" if box else ""


def compare_box_arg(dataset):
    return box_arg(compare_setting(dataset))


def ablation_dataset():
    table = figure_setting("ablation")["table"]
    return table_datasets(table)[0]


def ablation_folders():
    table = figure_setting("ablation")["table"]
    return [f"{RESULTS}/restored/{ablation_dataset()}/{m}-{s}" for m, s in table_rows(table)]


def ablation_panels(folders):
    """LABEL=FOLDER with labels "T=.., p=.., κ=.." read from the Table I run names."""
    from resshift.config import TABLE1_NAME

    table = figure_setting("ablation")["table"]
    pairs = []
    for (method, steps), folder in zip(table_rows(table), folders):
        m = TABLE1_NAME.match(method.partition("@")[2])
        label = f"T={m.group(2)}, p={m.group(3)}, κ={m.group(4)}" if m else f"{method}-{steps}"
        pairs.append(shlex.quote(f"{label}={folder}"))
    return " ".join(pairs)


def perception_points():
    """(label, steps, metrics CSV) of Fig. 6: ResShift from a Table I grid's runs at each T (the
    grid's p and kappa), the LDM method at each step count."""
    cfg = figure_setting("perception")
    ds, p, kappa = cfg["dataset"], float(cfg.get("p", 0.3)), float(cfg.get("kappa", 2.0))
    runs = {(s, rp, rk): name for name, s, rp, rk in grid_runs(cfg["grid"])}
    points = [("ResShift", s, f"{RESULTS}/metrics/{ds}/resshift@{runs[(s, p, kappa)]}-{s}.csv")
              for s in cfg["steps"] if (s, p, kappa) in runs]
    points += [("LDM", s, f"{RESULTS}/metrics/{ds}/{cfg['ldm']}-{s}.csv") for s in cfg["steps"]]
    return points


def validation_runs():
    """(label, run, validation set) of the validation-curves figure; every run needs `validate`."""
    out = []
    for entry in figure_setting("validation")["runs"]:
        label, run = entry["label"], entry["run"]
        val = (RUNS.get(run) or {}).get("validate")
        if not val:
            raise WorkflowError(f"figure validation_curves: training run {run!r} has no `validate:` key in the "
                                "config's training (e.g. validate: {dataset: demo_sr_val, every: 200})")
        out.append((label, run, val["dataset"]))
    return out


def figure_targets():
    figs = config.get("figures") or {}
    names = (["schedule"] if figs.get("schedule", True) else []) + (["forward_process"] if figs.get("forward") else [])
    names += ["validation_curves"] if figs.get("validation") else []
    names += [f"compare_{c['dataset']}" for c in figs.get("compare") or []]
    return [f"{RESULTS}/figures/{n}.{ext}" for n in names for ext in ("png", "pdf")]


def has_reference(dataset):
    return _recipe(dataset).get("kind") != "folder"


for _n in requested_tables() + [int(e["table"]) for e in config.get("tables") or []]:
    for _ds in table_datasets(_n):
        _recipe(_ds)


# ------------------------------------------------------------------ restore shards
def dataset_images(dataset):
    """The test set's size as its recipe states it (select.count or source.min_images), else None."""
    recipe = _recipe(dataset)
    return _get(recipe, "select.count") or _get(recipe, "source.min_images")


def method_setting(method, key):
    return ((config.get("methods") or {}).get(method.partition("@")[0]) or {}).get(key)


def restore_shards(dataset, method):
    """The config's `methods.<name>.shards`, else enough shards to keep each within
    bench.costs.SHARD_MINUTES at the method's measured cost."""
    from bench.costs import default_shards

    n = method_setting(method, "shards")
    return int(n) if n else default_shards(method, dataset_images(dataset))


def restore_work(w):
    """Where a restore job's images accumulate: not a job output, so a killed job's images survive
    (Snakemake deletes a failed job's outputs) and its retry resumes."""
    return f"{RESULTS}/restored/.work/{w.dataset}/{w.method}-{w.steps}"


def restore_shard_markers(w):
    n = restore_shards(w.dataset, w.method)
    return [] if n == 1 else [f"{restore_work(w)}/shard-{i}of{n}.done" for i in range(1, n + 1)]


def restore_runtime(w):
    """Cluster minutes for a restore job: a gathering copy when shards did the work."""
    from bench.costs import STARTUP_MINUTES, runtime_minutes

    n = restore_shards(w.dataset, w.method)
    return STARTUP_MINUTES if n > 1 else runtime_minutes(w.method, dataset_images(w.dataset))


def shard_runtime(w):
    from bench.costs import runtime_minutes

    images = dataset_images(w.dataset)
    return runtime_minutes(w.method, -(-images // int(w.shards)) if images else None)


def batch_size_arg(method):
    n = method_setting(method, "batch_size")
    return f"--batch-size {int(n)}" if n else ""


# ------------------------------------------------------------------ weights (rule fetch_weights)
def weights_marker(method):
    """[marker] when the config allows downloads and ``method`` (not a trained NAME@RUN) has
    released files with a direct address; else []."""
    name, _, run = method.partition("@")
    if config.get("offline", False) or run:
        return []
    import baselines

    cls = baselines.registry().get(name)
    if cls is None or not [w for w in cls.weights if not (w.manual or w.is_folder)]:
        return []
    return [f"{RESULTS}/weights/{name}.fetched"]
