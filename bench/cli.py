"""``resshift-bench``: the harness command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import baselines as B
from resshift import weights as R
from resshift.download import pin_label
from resshift.errors import ResShiftError, run_cli
from resshift.imageio import list_images, write_text
from resshift.weights import cache_dir, download

from . import __version__
from . import figures as FG
from . import weights as W
from .data import load_recipe, main_build, recipe_names
from .layout import Layout
from .metrics import FID_EXTRACTOR, catalogue, evaluate, features, get, inception, reference_statistics, statistics
from .run import parse_shard, run_method
from .tables import write
from .timing import time_method, write_timing


def _key_values(items: list[str] | None, flag: str, usage: str = "KEY=VALUE", last: bool = False) -> dict[str, str]:
    """``["k=v", ...]`` of a repeatable flag -> {k: v}; a malformed item is a one-line error. With
    ``last``, the key is everything before the last '=' (figure labels may hold one)."""
    out = {}
    for item in items or []:
        key, sep, value = item.rpartition("=") if last else item.partition("=")
        if not sep or not key:
            raise ResShiftError(f"{flag} {item!r}: use {usage}")
        out[key] = value
    return out


def _weights(args) -> int:


    if args.action == "fetch":
        names = list(W.METRIC_WEIGHTS) if args.names in ([], ["all"]) else []
        for name in args.names if not names else names:
            if name in W.METRIC_WEIGHTS:
                names.append(name) if name not in names else None
            else:

                names += [w.name for w in W.for_metric(get(name).name)]
        failed = 0
        for name in dict.fromkeys(names):
            try:
                print(W.fetch(name))
            except ResShiftError as exc:
                print(f"resshift-bench: error: {exc}", file=sys.stderr)
                failed += 1
        return 2 if failed else 0

    print(f"ResShift released checkpoints (cache: {R.cache_dir()}; hash: pinned sha256, prefix in the name, or none)")
    for row in R.status():
        print(f"  {row['name']:<18} {'present' if row['present'] else 'missing':<8} [{row['pinned']}] {row['file']}  <- {row['url']}")
    print("Metric weights (where each library looks for them)")
    for w in W.METRIC_WEIGHTS.values():
        print(f"  {w.name:<18} {'present' if w.present() else 'missing':<8} [{pin_label(w.file, w.sha256)}] {w.path}  "
              f"<- {w.url}  [{', '.join(w.used_by)}]")
    return 0


def _metrics(args) -> int:
    import csv
    import io
    import json



    if args.list:
        print(catalogue())
        return 0
    if not args.pred:
        raise ResShiftError("metrics: pass --pred DIR (or --list to see the metrics)")
    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    if not args.out:
        args.out = str(Layout(args.results).metrics_of(Path(args.pred).resolve()))
    reference = None
    if args.fid_ref:

        reference = reference_statistics(args.fid_ref, args.device)
    if args.fid_stats:
        import numpy as np

        with np.load(args.fid_stats) as z:
            reference = {"mu": z["mu"], "sigma": z["sigma"], "extractor": str(z["extractor"])}
    rows, notes = evaluate(args.pred, args.ref, names, device=args.device, batch_size=args.batch_size,
                           fid_reference=reference, crop_border=args.crop_border)
    for name, reason in notes["unavailable"].items():
        print(f"resshift-bench: warning: {name} unavailable: {reason}", file=sys.stderr)
    buf = io.StringIO()
    per_image = [n for n in names if n not in notes["set"] and n not in ("fid_g", "fid_f", "kid_g")]
    writer = csv.DictWriter(buf, fieldnames=["image", *per_image], lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    write_text(buf.getvalue(), args.out)
    write_text(json.dumps(notes, indent=2) + "\n", args.out + ".json")
    for name, s in notes.get("summary", {}).items():
        if s["mean"] is not None:
            print(f"{name}: {s['mean']:.4f} (mean of {s['n']}"
                  + (f"; {s['excluded']} under 1 degree excluded)" if s["excluded"] else ")"))
    for name, value in notes["set"].items():
        print(f"{name}: {value:.4f} ({notes['set_n'][name]} images"
              + (", fewer than 2048: biased)" if notes["set_n"][name] < 2048 else ")"))
    print(f"{len(rows)} image(s) -> {args.out}")
    return 0


def _data_build(args) -> int:

    return main_build(args)


def _data_list(args) -> int:

    for name in recipe_names():
        r = load_recipe(name)
        src = "packaged images" if "packaged" in r["source"] else r["source"].get("expect", "")
        print(f"{name:<24} {r['kind']:<8} {src}")
    return 0


def _table(args) -> int:

    mapping = _key_values(args.dataset_map, "--dataset-map") or None
    rows = None
    if args.rows:
        rows = []
        for item in args.rows:
            method, sep, steps = item.rpartition(":")
            if not sep or not method or not steps.lstrip("-").isdigit():
                raise ResShiftError(f"--rows {item!r}: use METHOD:STEPS (steps -1 for a method without steps)")
            rows.append((method, int(steps)))
    metrics = [m for m in args.metrics.split(",") if m] if args.metrics else None
    not_run = {}
    if args.not_run:

        for item in args.not_run:
            method, sep, steps = item.rpartition(":")
            if not sep or not steps.lstrip("-").isdigit():
                raise ResShiftError(f"--not-run {item!r}: use METHOD:STEPS")
            not_run[(method, int(steps))] = (B.why_not_runnable(method, offline=True)
                                             or "left out by the workflow's configuration")
    for path in write(args.number, args.results, args.out, mapping, rows, metrics, args.config_sha256, not_run):
        print(path)
    return 0


def _time(args) -> int:

    options = _key_values(args.option, "--option")
    record = time_method(args.method, device=args.device, size=args.size,
                         repeats=args.repeats, warmup=args.warmup, steps=None if args.steps == -1 else args.steps,
                         models=args.models or Layout(args.results).models, options=options,
                         throughput_batch=args.throughput_batch, precision=args.precision)
    print(f"{record['method']}-{record['steps']}: {record['latency_batch1_s']} s at batch 1, "
          f"{record['throughput_s_per_image']} s/image at batch {record['throughput_batch']} "
          f"({record['input']} -> {record['output']}, {record['device_name']}, {record['precision']}, "
          f"nfe {record['nfe']}); params {record['params_trainable_M']} M trainable + {record['params_frozen_M']} M frozen")
    print(write_timing(record, args.results, args.out))
    return 0


def _figure(args) -> int:

    if args.kind == "schedule":
        fig = FG.schedule_figure()
    elif args.kind == "perception":
        series: dict = {}
        for item in args.series or []:
            head, sep, path = item.partition("=")
            label, colon, steps = head.rpartition(":")
            if not sep or not colon or not label or not steps.isdigit():
                raise ResShiftError(f"--series {item!r}: use LABEL:STEPS=METRICS_CSV")
            series.setdefault(label, {})[int(steps)] = path
        fig = FG.perception_distortion_figure(series)
    elif args.kind == "validation":
        curves = _key_values(args.curves, "--curves", "LABEL=RUN/validation.csv", last=True)
        bicubic = FG.bicubic_psnr(args.data) if args.data else None
        fig = FG.validation_curves_figure(curves, bicubic, Path(args.data).name if args.data else "")
    else:
        if not args.data or not args.image:
            raise ResShiftError(f"figure {args.kind}: pass --data (a built test set) and --image (a stem in it)")
        if args.kind == "forward":
            fig = FG.forward_process_figure(args.data, args.image)
        else:
            restored = _key_values(args.restored, "--restored", "LABEL=FOLDER", last=True)
            box = None
            if args.box:
                try:
                    box = tuple(int(v) for v in args.box.split(","))
                except ValueError:
                    box = ()
                if len(box) != 3:
                    raise ResShiftError(f"--box {args.box!r}: use X,Y,SIZE in GT pixels")
            draw = FG.ablation_grid_figure if args.kind == "ablation" else FG.compare_figure
            fig = draw(args.data, restored, args.image, box)
    for path in FG.save(fig, args.out):
        print(path)
    return 0


def _fid_stats(args) -> int:
    import numpy as np



    stats = statistics(features(list_images(args.folder), inception(args.device), device=args.device, progress=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, mu=stats["mu"], sigma=stats["sigma"], extractor=FID_EXTRACTOR, source=str(args.folder))
    print(out)
    return 0


def _baselines(args) -> int:

    if args.action == "fetch":
        failed = 0
        for name in args.names or list(B.registry()):
            for spec in B.get(name).weights:
                if spec.present():
                    continue
                if spec.is_folder or spec.manual:
                    how = f"(e.g. `git clone {spec.url} {spec.path}`)" if spec.is_folder else f"by hand to {spec.path}"
                    print(f"resshift-bench: error: {name}: {spec.file} has no direct download; get it from {spec.url} "
                          f"{how}", file=sys.stderr)
                    failed += 1
                    continue
                try:
                    download(spec.url, spec.path, sha256=spec.sha256)
                    print(spec.path)
                except ResShiftError as exc:
                    print(f"resshift-bench: error: {name}: {exc}", file=sys.stderr)
                    failed += 1
        return 2 if failed else 0

    print(f"Methods (weights cache: {cache_dir()}; [hash check]: pinned sha256, prefix in the name, or none)")
    for name, cls in B.registry().items():
        steps = ",".join(map(str, cls.steps_choices)) or "-"
        files = [f"{w.file} {'present' if w.present() else 'MISSING'} [{pin_label(w.file, w.sha256)}]"
                 for w in cls.weights] or ["no weights"]
        extra = (f"  needs {cls.needs}" if cls.needs else "") + (f"  [licence: {cls.licence}]" if cls.licence else "")
        status = "validated against release" if cls.validated() else "not validated"
        print(f"  {name:<26} {cls.task:<8} steps {steps:<8} {cls.label:<30} {status:<27} {'; '.join(files)}{extra}")
    reg = B.registry()
    for name, u in sorted(B.UNAVAILABLE.items()):
        if name not in reg:
            licence = f"; licence {u.licence}" if u.licence else ""
            print(f"  {name:<26} {u.task:<8} steps {'-':<8} {u.label:<30} NOT AVAILABLE: {u.reason} "
                  f"(release: {u.source}{licence})")
    return 0


def _run(args) -> int:

    options = _key_values(args.option, "--option")
    layout = Layout(args.results)
    data = Path(args.data) if args.data else layout.dataset(args.dataset)
    steps = None if args.steps in (None, -1) else args.steps
    out = Path(args.out) if args.out else layout.restored(args.dataset, args.method, steps or -1)
    models = args.models or layout.models

    print(run_method(args.method, data, out, steps=steps, device=args.device, seed=args.seed, options=options,
                     limit=args.limit, models=models, batch_size=args.batch_size, shard=parse_shard(args.shard),
                     work=args.work))
    return 0


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def build_parser() -> argparse.ArgumentParser:

    p = argparse.ArgumentParser(prog="resshift-bench", description=__doc__)
    p.add_argument("--version", action="version", version=f"resshift-bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("weights", help="list every weight file the harness knows (or fetch NAME|all)")
    w.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    w.add_argument("names", nargs="*", help="weight or metric names for fetch (default: all)")
    w.set_defaults(func=_weights)

    m = sub.add_parser("metrics", help="per-image metrics of a restored folder against a reference folder")
    m.add_argument("--list", action="store_true", help="print every metric: definition, direction, weights, offline")
    m.add_argument("--pred", help="restored images")
    m.add_argument("--ref", help="reference (GT) images, matched by file stem")
    m.add_argument("--metrics", default="psnr,ssim", help="comma-separated metric names")
    m.add_argument("--results", default="results", help="results folder (default: results/ here)")
    m.add_argument("--out", help="CSV (one row per image; notes in OUT.json); default "
                   "RESULTS/metrics/<dataset>/<method>-<steps>.csv from --pred's last two folder names")
    m.add_argument("--crop-border", type=int, default=0,
                   help="pixels cut from each side for PSNR/SSIM/NIQE (default 0; recorded in the definitions)")
    m.add_argument("--device", default="cuda" if _cuda() else "cpu")
    m.add_argument("--batch-size", type=int, default=16)
    m.add_argument("--fid-stats", help="reference statistics for fid_f (resshift-bench fid-stats)")
    m.add_argument("--fid-ref", help="reference folder for fid_f (e.g. FFHQ); statistics are cached")
    m.set_defaults(func=_metrics)

    d = sub.add_parser("data", help="build test sets from bench/datasets/<name>.yaml recipes")
    dsub = d.add_subparsers(dest="action", required=True)
    b = dsub.add_parser("build", help="build one test set (gt/, lq/, mask/, manifest.csv)")
    b.add_argument("recipe", help="recipe name (bench/datasets/<name>.yaml) or path")
    b.add_argument("--source", help="folder of source images (external sets)")
    b.add_argument("--prebuilt", help="folder of a prebuilt set to validate and use as is (e.g. the authors')")
    b.add_argument("--results", default="results", help="results folder (default: results/ here)")
    b.add_argument("--out", help="output folder (default RESULTS/data/<name>)")
    b.add_argument("--limit", type=int, help="only the first N samples (same bytes as in a full build)")
    b.add_argument("--workers", type=int, default=1)
    b.add_argument("--write-checksums", action="store_true", help="(maintainers) write bench/datasets/checksums/<name>.sha256")
    b.set_defaults(func=_data_build)
    dsub.add_parser("list", help="list the recipes").set_defaults(func=_data_list)

    t = sub.add_parser("table", help="build results/table<N>.{csv,md,tex} from per-image metric CSVs")
    t.add_argument("number", type=int, choices=range(1, 8))
    t.add_argument("--results", default="results")
    t.add_argument("--out", help="output folder (default: --results)")
    t.add_argument("--dataset-map", nargs="*", help="PAPER_SET=OUR_SET pairs (e.g. imagenet_test=demo_sr)")
    t.add_argument("--rows", nargs="*", metavar="METHOD:STEPS",
                   help="rows instead of the paper's (e.g. bicubic:-1 resshift@demo_t4:4); no added rows")
    t.add_argument("--metrics", help="comma-separated metrics instead of the paper's columns (e.g. psnr,ssim,niqe)")
    t.add_argument("--config-sha256", help="hash of the configuration that produced the inputs (provenance)")
    t.add_argument("--not-run", nargs="*", metavar="METHOD:STEPS",
                   help="rows shown as not run, with the reason (method unavailable, weights missing offline)")
    t.set_defaults(func=_table)

    tm = sub.add_parser("time", help="batch-1 latency, batch throughput, memory, nfe and parameters of a method")
    tm.add_argument("method")
    tm.add_argument("--device", default="cuda" if _cuda() else "cpu")
    tm.add_argument("--throughput-batch", "--batch-size", dest="throughput_batch", type=int,
                    help="images per call for the throughput column (default 64 on GPU, 4 on CPU); latency is batch 1")
    tm.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                    help="ResShift configurations' network precision (compared methods: fp32)")
    tm.add_argument("--warmup", type=int, default=1, help="untimed calls before each timed set")
    tm.add_argument("--size", type=int, default=64, help="input side (x4 SR: 64 -> 256)")
    tm.add_argument("--steps", type=int, help="sampling steps (diffusion baselines)")
    tm.add_argument("--repeats", type=int, default=3)
    tm.add_argument("--results", default="results")
    tm.add_argument("--models", help="runs trained by `resshift train`, for METHOD@RUN (default RESULTS/models)")
    tm.add_argument("--out", help="record file (default RESULTS/timing/<method>-<steps>.json)")
    tm.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="method option, e.g. checkpoint=RUN/checkpoints/last.pth")
    tm.set_defaults(func=_time)

    bl = sub.add_parser("baselines", help="list the registered methods and their weights (or fetch them)")
    bl.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    bl.add_argument("names", nargs="*")
    bl.set_defaults(func=_baselines)

    r = sub.add_parser("run", help="restore a built test set with a registered method")
    r.add_argument("method")
    r.add_argument("--dataset", required=True, help="test set name (results/data/<name>)")
    r.add_argument("--data", help="test set folder (default results/data/<dataset>)")
    r.add_argument("--steps", type=int, help="sampling steps (diffusion methods)")
    r.add_argument("--out", help="output folder (default results/restored/<dataset>/<method>-<steps>)")
    r.add_argument("--results", default="results")
    r.add_argument("--models", help="runs trained by `resshift train`, for METHOD@RUN (default RESULTS/models)")
    r.add_argument("--device", default="cuda" if _cuda() else "cpu")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--limit", type=int)
    r.add_argument("--batch-size", type=int, default=1, help="images per call for methods that batch (deterministic ones)")
    r.add_argument("--shard", metavar="I/N", help="restore only part I of N of the set (every N-th image from the I-th); "
                   "images already restored in the output folder are skipped (resume)")
    r.add_argument("--work", help="restore into this folder (kept if killed; a rerun resumes) and copy the finished set to --out")
    r.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="method option, e.g. checkpoint=runs/demo_ldm/checkpoints/last.pth")
    r.set_defaults(func=_run)

    fg = sub.add_parser("figure", help="draw a paper figure from the workflow's outputs (PNG and PDF)")
    fg.add_argument("kind", choices=["schedule", "forward", "compare", "ablation", "perception", "validation"],
                    help="schedule: Fig. 3(g)(h); forward: Fig. 3(c)(d); compare: LQ/methods/GT with zoomed crops; "
                         "ablation: Fig. 5 (one crop per Table I setting); perception: Fig. 6; validation: "
                         "validation PSNR against training iterations")
    fg.add_argument("--out", required=True, help="output path without extension (.png and .pdf are written)")
    fg.add_argument("--data", help="built test set folder (forward, compare)")
    fg.add_argument("--image", help="image stem in the test set (forward, compare)")
    fg.add_argument("--restored", nargs="*", metavar="LABEL=FOLDER", help="restored folders in panel order (compare)")
    fg.add_argument("--box", help="zoom box X,Y,SIZE in GT pixels (compare, ablation; default the centre)")
    fg.add_argument("--series", nargs="*", metavar="LABEL:STEPS=CSV",
                    help="per-image metric files, one per method and step count (perception)")
    fg.add_argument("--curves", nargs="*", metavar="LABEL=CSV",
                    help="training runs' validation.csv files (validation; --data: the validation set, for bicubic)")
    fg.set_defaults(func=_figure)

    fs = sub.add_parser("fid-stats", help="FID reference statistics of a folder (e.g. FFHQ) for fid_f")
    fs.add_argument("folder")
    fs.add_argument("--out", required=True, help=".npz with mu, sigma and the extractor's identity")
    fs.add_argument("--device", default="cuda" if _cuda() else "cpu")
    fs.set_defaults(func=_fid_stats)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, "resshift-bench")


if __name__ == "__main__":
    sys.exit(main())
