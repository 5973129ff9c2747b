"""Paper tables from per-image metric CSVs: ``results/table<N>.{csv,md,tex}``.

The shape of each table is data (``bench/tables.yaml``): its rows (methods, steps), columns
(dataset, subset, metric), and where the paper's numbers are (``bench/paper_tables/``). Each cell
is the mean over images with a 95% bootstrap confidence interval (set metrics such as FID are
one number). Runtime and parameter counts come from ``results/timing/<method>-<steps>.json``:
the runtime column is the batch-1 latency (its header names the device); the CSV also has the
per-image time at the throughput batch (``runtime_throughput_s``).
A row that reproduces a paper row (released weights, the paper's own test data) gets the
difference to the paper and a verdict against the stated tolerance; other rows are labelled
and never set beside the paper's numbers.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import yaml

import baselines
from resshift.errors import ResShiftError
from resshift.imageio import write_text

from .data import RECIPES
from .layout import Layout, parse_result_name, split_method
from .metrics import FID_MIN_IMAGES, get
from .timing import declared_params

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SET_METRICS = ("fid_g", "fid_f", "kid_g")
EXTRAS = ("runtime_s", "params_M", "params_frozen_M")
CSV_ONLY = {"runtime_s": "runtime_throughput_s"}      # a column shown only in the CSV, beside its extra
# Why the runtime column is the batch-1 latency (footnote of tables with a runtime column).
RUNTIME_NOTE = ("Runtime: seconds to restore one 64x64 image to 256x256 alone (batch 1), on the device in the header; "
                "the CSV also has seconds per image at the throughput batch (runtime_throughput_s). The paper's caption "
                "says only \"A100, x4 64->256\"; its figures appear to be batch-1 latencies: on an H200 we measured "
                "ResShift-15 at 0.371 s at batch 1 but 0.030 s per image at batch 64, and the paper gives 0.682 s on "
                "the slower A100, more than twenty times the batch-64 figure.")


@functools.lru_cache(maxsize=1)
def spec() -> dict:
    """The table specifications (read once; treat as read-only)."""
    return yaml.safe_load((HERE / "tables.yaml").read_text())


def table_spec(n: int) -> dict:
    tables = spec()["tables"]
    if int(n) not in tables:
        raise ResShiftError(f"no table {n}; tables: {', '.join(map(str, tables))}")
    return tables[int(n)]


def columns(t: dict) -> list[tuple[str, str | None, str]]:
    """(dataset, subset, metric) of every column, in order."""
    out = []
    for group in t["columns"]:
        for subset in group.get("subsets", [None]):
            out += [(group["dataset"], subset, m) for m in group["metrics"]]
    return out


def column_name(t: dict, dataset: str, subset: str | None, metric: str) -> str:
    multi = len(t["columns"]) > 1
    label = spec()["labels"].get(metric, metric)
    parts = ([dataset] if multi else []) + ([subset.capitalize()] if subset else []) + [label]
    return "_".join(parts)


# ----------------------------------------------------------------- paper numbers
def paper_values(n: int) -> dict[int, dict[str, float]]:
    """Row index -> {column name or extra: paper value}."""
    t = table_spec(n)
    labels = spec()["labels"]
    with open(HERE / "paper_tables" / t["paper"], newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[int, dict[str, float]] = {}
    for i, r in enumerate(t["rows"]):
        vals: dict[str, float] = {}
        if t.get("paper_layout") == "masks":
            for p in rows:
                subset = p["mask"].lower()
                metric = next((m for m, lab in labels.items() if lab == p["metric"]), p["metric"].lower())
                if p.get(r["paper"]):
                    vals[column_name(t, t["columns"][0]["dataset"], subset, metric)] = float(p[r["paper"]])
        else:
            keys = t["paper_key"]
            match = next((p for p in rows if all(_same(p[k], v) for k, v in zip(keys, r["paper"]))), None)
            if match is not None:
                for group in t["columns"]:
                    for m in group["metrics"]:
                        src = group.get("paper_prefix", "") + labels.get(m, m)
                        if match.get(src):
                            vals[column_name(t, group["dataset"], None, m)] = float(match[src])
                for extra in t.get("extra", []):
                    if match.get(extra):
                        vals[extra] = float(match[extra])
        out[i] = vals
    return out


def _same(a: str, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


# ----------------------------------------------------------------- our numbers
def bootstrap_ci(values: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean (seeded)."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def metrics_csv(results: Path, dataset: str, method: str, steps: int) -> Path:
    return Layout(results).metrics(dataset, method, steps)


def metrics_notes(path: Path) -> dict:
    """The notes ``resshift-bench metrics`` writes beside a metrics CSV (``X.csv.json``): set-level
    values and why a metric is unavailable; {} when absent."""
    notes = path.with_name(path.name + ".json")
    return json.loads(notes.read_text()) if notes.is_file() else {}


def cell(results: Path, dataset: str, subset: str | None, metric: str, method: str, steps: int) -> dict | None:
    """{mean, ci_low, ci_high, n} of one cell, or None when its metrics file or column is absent/empty."""
    path = metrics_csv(results, dataset, method, steps)
    if not path.is_file():
        return None
    if metric in SET_METRICS:
        notes = metrics_notes(path)
        value = notes.get("set", {}).get(metric)
        return None if value is None else {"mean": float(value), "ci_low": None, "ci_high": None,
                                           "n": notes.get("set_n", {}).get(metric)}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if subset and subset != "average":
        manifest = Layout(results).manifest(dataset)
        if not manifest.is_file():
            raise ResShiftError(f"{manifest}: needed to split {dataset} by mask kind; build the dataset first")
        with open(manifest, newline="") as f:
            kinds = {r["sample"]: r.get("mask_kind") or r.get("p_kind") for r in csv.DictReader(f)}
        rows = [r for r in rows if kinds.get(r["image"]) == subset]

    summary = get(metric).summary([float(r[metric]) for r in rows if r.get(metric) not in (None, "")])
    vals = summary["values"]               # IDS: pairs under 1 degree left out, as VQFR's script does
    if len(vals) == 0:
        return None
    lo, hi = bootstrap_ci(vals)
    return {"mean": float(vals.mean()), "ci_low": lo, "ci_high": hi, "n": int(len(vals)),
            "excluded": summary["excluded"]}


def definitions(results: Path, t: dict, dataset_map: dict, rows: list[dict]) -> dict[str, str]:
    """metric -> its definition as the metrics files record it (with crop_border); the registry's
    (crop_border=0) where no file is there yet. Differing definitions across files are all listed."""

    found: dict[str, list[str]] = {}
    for ds, _, metric in columns(t):
        for r in rows:
            d = metrics_notes(metrics_csv(results, dataset_map.get(ds, ds), r["method"], r["steps"])) \
                .get("definitions", {}).get(metric)
            if d and d not in found.setdefault(metric, []):
                found[metric].append(d)
        if not found.get(metric):
            found[metric] = [get(metric).describe(0)]
    return {m: " | ".join(v) for m, v in found.items()}


def warnings(table: dict) -> list[str]:
    """Footnote lines: set metrics on fewer than 2048 images, IDS pairs left out of the mean."""

    out, metric_of = [], table.get("column_metrics", {})
    for r in table["rows"]:
        for col, c in r["cells"].items():
            if not c:
                continue
            if metric_of.get(col) in SET_METRICS and c.get("n") is not None and c["n"] < FID_MIN_IMAGES:
                out.append(f"{r['label']} {col}: {c['n']} images (< {FID_MIN_IMAGES}); FID/KID are biased on small "
                           "sets, compare only at equal N")
            if c.get("excluded"):
                out.append(f"{r['label']} {col}: {c['excluded']} pair(s) under 1 degree left out of the mean "
                           f"(VQFR's rule), mean over {c['n']}")
    return out


def timing(results: Path, method: str, steps: int) -> dict:
    path = Layout(results).timing(method, steps)
    return json.loads(path.read_text()) if path.is_file() else {}


NOT_VALIDATED = "re-implementation, not validated against the release"


def release_validated(method: str) -> bool:
    """False for a registered method written here without a parity test against its release's
    output (``Restorer.validated``): a difference to the paper could be our bug, so no verdict.
    Methods outside the registry (no paper row) are not judged here."""

    try:
        return baselines.get(method).validated()
    except Exception:                       # unavailable or unknown: nothing was run by our code
        return True


def why_not_reproduction(results: Path, method: str, datasets: list[str], steps: int | None = None) -> str | None:
    """None when the row reproduces the paper's; else why it does not."""
    if split_method(method)[1]:
        return "retrained by this workflow (not the released weights)"
    if not release_validated(method):
        return NOT_VALIDATED
    if steps is not None:               # ResShift rows record their tiling; only the release's reproduces
        for ds in datasets:
            meta = Layout(results).restored_meta(ds, method, steps)
            mode = json.loads(meta.read_text()).get("tile_mode") if meta.is_file() else None
            if mode not in (None, "release"):
                return f"tile_mode {mode}, not the release's chop-and-average (set tile_mode: release)"
    for ds in datasets:
        if ds.startswith("demo_"):
            return "demo data"
        build = Layout(results).build_record(ds)
        if not build.is_file():
            return f"dataset {ds} not built"
        info = json.loads(build.read_text())
        path = RECIPES / f"{ds}.yaml"
        recipe = yaml.safe_load(path.read_text()) if path.is_file() else {}
        if recipe.get("kind") != "folder" and "prebuilt" not in info:
            return f"our own draws of {ds} (use the authors' prebuilt set to reproduce)"
    return None


def added_rows(results: Path, t: dict, cols, dataset_map: dict) -> list[dict]:
    """Rows for methods that have metric CSVs for this table's datasets but no row in its
    specification (e.g. a user's baseline from a plugin): they appear after the paper's rows."""
    if not t.get("added_rows", True):
        return []
    known = {(r["method"], int(r["steps"])) for r in t["rows"]}
    found = {}
    for ds in sorted({dataset_map.get(d, d) for d, _, _ in cols}):
        folder = Layout(results).metrics_folder(ds)
        for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
            row = parse_result_name(path.stem)
            if row is None or row in known:
                continue
            found[row] = None
    return [{"method": method, "steps": steps, "paper": row_label(method, results), "paper_row": None}
            for method, steps in found]


def row_label(method: str, results: Path | None = None) -> str:
    """A row's label: the registered method's label, with ``(run)`` for workflow-trained weights.
    A trained ResShift run is "ResShiftL" only when its configuration has the LPIPS term (Eq. 11);
    a retrained LDM that predicts x_0 (``diffusion.prediction: sample``) says so."""
    name, run = split_method(method)
    label = method
    try:

        label = (baselines.UNAVAILABLE[name].label if name in baselines.UNAVAILABLE and name not in baselines.registry()
                 else baselines.get(name).label) or method
    except Exception:                       # not a registered method: keep its name
        pass
    run_config = Layout(results or ".").run_config(run)
    if run and name == "resshift" and results is not None and run_config.is_file():
        loss = (yaml.safe_load(run_config.read_text()) or {}).get("loss") or {}
        label = "ResShiftL" if float(loss.get("lpips_vgg") or 0) > 0 else "ResShift"
    if run and name == "ldm_retrained" and results is not None and run_config.is_file():
        diffusion = (yaml.safe_load(run_config.read_text()) or {}).get("diffusion") or {}
        if diffusion.get("prediction") == "sample":
            label = "LDM (x0-pred., same budget)"
    return f"{label} ({run})" if run else label


def table_spec_with(n: int, rows: list[tuple[str, int]] | None = None, metrics: list[str] | None = None,
               results: Path | None = None) -> dict:
    """Table ``n``'s specification with its rows and/or every column group's metrics replaced
    (the workflow's demo tables). Explicit rows switch added rows off."""
    import copy

    t = copy.deepcopy(table_spec(n))
    if metrics:
        for group in t["columns"]:
            group["metrics"] = list(metrics)
    if rows is not None:
        by_key = {(r["method"], int(r["steps"])): i for i, r in enumerate(t["rows"])}
        t["rows"] = [{"method": m, "steps": int(s), "paper": row_label(m, results), "paper_row": by_key.get((m, int(s)))}
                     for m, s in rows]
        t["added_rows"] = False
    return t



def unavailable_reason(results: Path, dataset: str, metric: str, method: str, steps: int) -> str | None:
    """Why ``metric`` is empty in a metrics file (recorded by ``resshift-bench metrics``), if it is."""
    return metrics_notes(metrics_csv(results, dataset, method, steps)).get("unavailable", {}).get(metric)


# How a paper test set is named in the tables' titles (to say which set a stand-in replaces).
DATASET_TITLES = {"imagenet_test": "ImageNet-Test", "realsr_v3": "RealSR-V3", "realset80": "RealSet80",
                  "inpaint_imagenet_test": "ImageNet", "inpaint_celeba_test": "CelebA-HQ",
                  "celeba_test_bfr": "CelebA-Test"}


def title(results: Path, t: dict, dataset_map: dict) -> str:
    """The specification's title with every paper test set that ``dataset_map`` replaces named as
    the set actually used: "x4 SR on demo_sr, 25 crops (standing in for ImageNet-Test)" (the
    count from the built set's manifest; crops when its recipe cuts tiles)."""
    text = t["title"]
    for paper_ds in dict.fromkeys(d for d, _, _ in columns(t)):
        real = dataset_map.get(paper_ds, paper_ds)
        if real == paper_ds:
            continue
        used = real
        manifest = Layout(results).manifest(real)
        if manifest.is_file():
            with open(manifest, newline="") as f:
                rows = list(csv.DictReader(f))
            unit = "crops" if any(r.get("tile") for r in rows) else "images"
            used = f"{real}, {len(rows)} {unit}"
        label = DATASET_TITLES.get(paper_ds, paper_ds)
        if label in text:
            text = text.replace(label, f"{used} (standing in for {label})", 1)
        else:
            text += f" (on {used}, standing in for {label})"
    return text


def compute_table(n: int, results: str | Path = "results", dataset_map: dict | None = None,
          rows: list[tuple[str, int]] | None = None, metrics: list[str] | None = None,
          config_sha256: str | None = None, not_run: dict[tuple[str, int], str] | None = None) -> dict:
    """The table as rows of cells plus provenance (a dict ready to render). ``rows``/``metrics``
    replace the specification's (see :func:`table_spec_with`); ``config_sha256`` is the hash of the
    configuration that produced the inputs (the workflow's; default: config/config.yaml's file).
    ``not_run`` maps rows that were not run here (method unavailable, weights missing offline)
    to the reason, printed in the table instead of numbers."""
    not_run = dict(not_run or {})
    results = Path(results)
    t = table_spec_with(n, rows, metrics, results)
    tol = spec()["tolerances"]
    dataset_map = dataset_map or {}
    paper = paper_values(n)
    cols = columns(t)
    out_rows, timings = [], []
    for i, r in enumerate(t["rows"] + added_rows(results, t, cols, dataset_map)):
        method, steps = r["method"], int(r["steps"])
        datasets = [dataset_map.get(d, d) for d, _, _ in cols]
        why_not = why_not_reproduction(results, method, sorted(set(datasets)), steps)
        row = {"label": r["paper"] if isinstance(r["paper"], str) else " ".join(map(str, r["paper"])).strip(),
               "method": method, "steps": steps, "reproduction": why_not is None, "note": why_not or "", "cells": {},
               "unavailable": {}, "not_run": not_run.get((method, steps), "")}
        if row["not_run"]:
            row.update(reproduction=False, note="", cells={c: None for c in [column_name(t, *k) for k in cols]
                                                          + list(t.get("extra", []))})
            out_rows.append(row)
            continue
        paper_row = paper.get(r.get("paper_row", i), {})
        for (ds, subset, metric), real_ds in zip(cols, datasets):
            name = column_name(t, ds, subset, metric)
            c = cell(results, real_ds, subset, metric, method, steps)
            if c is None:
                reason = unavailable_reason(results, real_ds, metric, method, steps)
                if reason:
                    row["unavailable"][name] = f"{metric}: {reason}"
            if c is not None and why_not is None and name in paper_row:
                c["paper"] = paper_row[name]
                c["diff"] = c["mean"] - paper_row[name]
                c["verdict"] = "match" if abs(c["diff"]) <= tol.get(metric, float("inf")) else "differs"
            row["cells"][name] = c
        tm = timing(results, method, steps)
        if t.get("extra"):                                  # counts a method declares without a run

            tm = {**declared_params(method), **tm}
        timings.append(tm)
        for extra in t.get("extra", []) + [CSV_ONLY[e] for e in t.get("extra", []) if e in CSV_ONLY]:
            v = {"runtime_s": tm.get("latency_batch1_s"), "runtime_throughput_s": tm.get("throughput_s_per_image"),
                 "params_M": tm.get("params_trainable_M"), "params_frozen_M": tm.get("params_frozen_M")}[extra]
            row["cells"][extra] = None if v is None else {"mean": float(v), "ci_low": None, "ci_high": None, "n": None}
        out_rows.append(row)
    names = [column_name(t, *c) for c in cols] + list(t.get("extra", []))
    lower = {column_name(t, *c): _lower_better(c[2]) for c in cols}
    lower.update({"runtime_s": True, "params_M": True, "params_frozen_M": True})
    defs = definitions(results, t, dataset_map, out_rows)
    csv_only = [CSV_ONLY[e] for e in t.get("extra", []) if e in CSV_ONLY]
    return {"table": int(n), "title": title(results, t, dataset_map), "columns": names, "lower_better": lower, "rows": out_rows,
            "definitions": {spec()["labels"].get(m, m): d for m, d in defs.items()},
            "column_metrics": {column_name(t, *c): c[2] for c in cols},
            "csv_only": csv_only, "labels": extra_labels(t.get("extra", []), timings),
            "params_notes": sorted({tm["params_note"] for tm in timings if tm.get("params_note")}),
            "paper": {i: v for i, v in paper.items()}, "provenance": provenance(results, t, out_rows, dataset_map, config_sha256)}


def extra_labels(extras: list[str], timings: list[dict]) -> dict[str, str]:
    """Headers of the extra columns; the runtime ones name the device(s), the torch threads and the
    batch, as the timing records say (e.g. "Runtime (s, CPU, 1 thread, batch 1)")."""
    labels = {e: spec()["labels"].get(e, e) for e in extras}
    if "runtime_s" in extras:
        devices = sorted({("CPU" if tm["device_name"] == "cpu" else tm["device_name"]) for tm in timings
                          if tm.get("device_name")}) or ["device not recorded"]
        threads = sorted({int(tm["threads"]) for tm in timings if tm.get("threads") and tm.get("device_name") == "cpu"})
        batches = sorted({tm["throughput_batch"] for tm in timings if tm.get("throughput_batch")})
        where = ", ".join(devices)
        if threads:
            where += f", {'/'.join(map(str, threads))} thread{'s' if threads != [1] else ''}"
        labels["runtime_s"] = f"Runtime (s, {where}, batch 1)"
        labels["runtime_throughput_s"] = (f"Runtime (s/image, batch {'/'.join(map(str, batches)) or '?'}, {where})")
    return labels


def _lower_better(metric: str) -> bool:

    return get(metric).lower_better


def provenance(results: Path, t: dict, rows: list[dict], dataset_map: dict, config_sha256: str | None = None) -> dict:
    import importlib.metadata as md

    def sha(path: Path) -> str | None:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    datasets = sorted({dataset_map.get(g["dataset"], g["dataset"]) for g in t["columns"]})
    weights, devices, tile_modes = {}, set(), {}
    for r in rows:
        for ds in datasets:
            meta = Layout(results).restored_meta(ds, r["method"], r["steps"])
            if meta.is_file():
                m = json.loads(meta.read_text())
                weights.update({f"{r['method']}-{r['steps']}/{k}": v for k, v in (m.get("weights_sha256") or {}).items()})
                devices.add(m.get("device", ""))
                if m.get("tile_mode"):
                    tile_modes[f"{r['method']}-{r['steps']}"] = m["tile_mode"]
    versions = {}
    for pkg in ("torch", "basicsr", "pyiqa", "torch-fidelity", "facexlib", "lpips", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {"git_commit": commit or "unknown", "config_sha256": config_sha256 or sha(ROOT / "config" / "config.yaml"),
            "dataset_manifests": {d: sha(Layout(results).manifest(d)) for d in datasets},
            "weights_sha256": weights, "devices": sorted(d for d in devices if d), "versions": versions,
            **({"tile_modes": tile_modes} if tile_modes else {})}


# ----------------------------------------------------------------- rendering
def _ranks(table: dict) -> dict[str, dict[int, int]]:
    """Column -> {row index: 1 (best) or 2 (second)} among rows with a value."""
    out = {}
    for col in table["columns"]:
        vals = [(i, r["cells"].get(col)["mean"]) for i, r in enumerate(table["rows"]) if r["cells"].get(col)]
        if not vals:
            continue
        order = sorted({v for _, v in vals}, reverse=not table["lower_better"].get(col, False))
        out[col] = {i: order.index(v) + 1 for i, v in vals if order.index(v) < 2}
    return out


def _fmt(v: float | None, col: str) -> str:
    if v is None:
        return ""
    digits = 2 if any(k in col for k in ("PSNR", "FID", "MUSIQ", "IDS", "LMD", "NIQE", "params")) else 4
    return f"{v:.{digits}f}"


def to_csv(table: dict) -> str:
    import io

    fields = ["method", "steps", "label", "reproduction", "note", "not_run"]
    columns = table["columns"] + table.get("csv_only", [])
    for col in columns:
        fields += [col, f"{col}_ci_low", f"{col}_ci_high", f"{col}_n", f"{col}_paper", f"{col}_diff", f"{col}_verdict",
                   f"{col}_unavailable"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in table["rows"]:
        row = {k: r.get(k, "") for k in ("method", "steps", "label", "reproduction", "note", "not_run")}
        for col in columns:
            c = r["cells"].get(col) or {}
            row.update({col: c.get("mean"), f"{col}_ci_low": c.get("ci_low"), f"{col}_ci_high": c.get("ci_high"),
                        f"{col}_n": c.get("n"), f"{col}_paper": c.get("paper"), f"{col}_diff": c.get("diff"),
                        f"{col}_verdict": c.get("verdict"), f"{col}_unavailable": r.get("unavailable", {}).get(col)})
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def footnotes(table: dict, interval: str = "Parentheses: 95% bootstrap interval. ") -> str:
    """The notes under a table (markers †, ‡, §; the runtime and parameter notes), one paragraph."""
    return ("Bold: best, underlined: second. " + interval
            + "† not a reproduction of the paper's row (no paper value shown): "
            + "; ".join(sorted({f"{r['label']}: {r['note']}" for r in table["rows"] if r["note"]}))
            + "".join(f" ‡ unavailable: {why}." for why in sorted({w for r in table["rows"]
                                                                  for w in r.get("unavailable", {}).values()}))
            + "".join(f" § {r['label']} ({r['method']}) not run: {r['not_run']}." for r in table["rows"]
                      if r.get("not_run"))
            + (" " + RUNTIME_NOTE if "runtime_s" in table["columns"] else "")
            + "".join(f" {note}" for note in table.get("params_notes", [])))


def to_markdown(table: dict) -> str:
    ranks = _ranks(table)
    arrows = {c: (" ↓" if table["lower_better"].get(c) else " ↑") for c in table["columns"]}
    lines = [f"### Table {table['table']}: {table['title']}", "",
             "| Method | Steps | " + " | ".join(table.get("labels", {}).get(c, c) + arrows[c] for c in table["columns"])
             + " |",
             "|---|---|" + "---|" * len(table["columns"])]
    for i, r in enumerate(table["rows"]):
        cells = []
        for col in table["columns"]:
            c = r["cells"].get(col)
            text = _fmt(c["mean"] if c else None, col)
            if c is None and col in r.get("unavailable", {}):
                text = "n/a‡"
            if c and c.get("ci_low") is not None and c.get("ci_low") == c.get("ci_low"):
                text += f" ({_fmt(c['ci_low'], col)}–{_fmt(c['ci_high'], col)})"
            rank = ranks.get(col, {}).get(i)
            text = f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text
            if c and c.get("paper") is not None:
                text += f" [paper {_fmt(c['paper'], col)}, {c['verdict']}]"
            cells.append(text)
        steps = "" if r["steps"] < 0 else str(r["steps"])
        label = r["label"] + ("§" if r.get("not_run") else "" if r["reproduction"] else "†")
        if r.get("not_run"):
            cells = ["not run§"] + [""] * (len(cells) - 1)
        lines.append(f"| {label} | {steps} | " + " | ".join(cells) + " |")
    lines += ["", footnotes(table), ""]
    lines += [f"{m}: {d}." for m, d in table.get("definitions", {}).items()]
    lines += [f"Warning: {w}." for w in warnings(table)]
    lines += ["", "Provenance: " + json.dumps(table["provenance"], sort_keys=True)]
    return "\n".join(lines) + "\n"


def to_latex(table: dict) -> str:
    ranks = _ranks(table)
    esc = (lambda s: s.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&").replace("#", r"\#"))
    lines = [f"% Table {table['table']}: {table['title']}", r"\begin{tabular}{ll" + "c" * len(table["columns"]) + "}", r"\toprule",
             "Method & Steps & " + " & ".join(esc(table.get("labels", {}).get(c, c))
                                             + (r" $\downarrow$" if table["lower_better"].get(c) else r" $\uparrow$")
                                             for c in table["columns"]) + r" \\", r"\midrule"]
    for i, r in enumerate(table["rows"]):
        cells = []
        for col in table["columns"]:
            c = r["cells"].get(col)
            text = _fmt(c["mean"] if c else None, col) or ("n/a" if col in r.get("unavailable", {}) else "--")
            rank = ranks.get(col, {}).get(i)
            cells.append(rf"\textbf{{{text}}}" if rank == 1 else rf"\underline{{{text}}}" if rank == 2 else text)
        dagger = r"$^\S$" if r.get("not_run") else "" if r["reproduction"] else r"$^\dagger$"
        steps = "" if r["steps"] < 0 else str(r["steps"])
        lines.append(f"{esc(r['label'])}{dagger} & {steps} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", "",
              r"\noindent\footnotesize Table " + f"{table['table']}: " + esc(table["title"]) + r". "
              + esc(footnotes(table, "")).replace("†", r"$^\dagger$").replace("‡", r"$^\ddagger$")
              .replace("§", r"\S{}")]
    lines += [f"% {m}: {d}" for m, d in table.get("definitions", {}).items()]
    lines += [f"% warning: {w}" for w in warnings(table)]
    lines += [f"% provenance: {json.dumps(table['provenance'], sort_keys=True)}"]
    return "\n".join(lines) + "\n"


def write(n: int, results: str | Path = "results", out_dir: str | Path | None = None,
          dataset_map: dict | None = None, rows: list[tuple[str, int]] | None = None,
          metrics: list[str] | None = None, config_sha256: str | None = None,
          not_run: dict[tuple[str, int], str] | None = None) -> list[Path]:

    table = compute_table(n, results, dataset_map, rows, metrics, config_sha256, not_run)
    out = Layout(out_dir or results)
    return [write_text(to_csv(table), out.table(n, "csv")),
            write_text(to_markdown(table), out.table(n, "md")),
            write_text(to_latex(table), out.table(n, "tex"))]
