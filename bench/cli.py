"""``resshift-bench``: the harness command line."""
from __future__ import annotations

import argparse
import sys

from resshift.errors import run_cli


def _weights(args) -> int:
    from resshift import weights as R

    from . import weights as W

    if args.action == "fetch":
        names = list(W.METRIC_WEIGHTS) if args.names in ([], ["all"]) else []
        for name in args.names if not names else names:
            if name in W.METRIC_WEIGHTS:
                names.append(name) if name not in names else None
            else:
                from .metrics import get

                names += [w.name for w in W.for_metric(get(name).name)]
        failed = 0
        for name in dict.fromkeys(names):
            try:
                print(W.fetch(name))
            except ResShiftError as exc:
                print(f"resshift-bench: error: {exc}", file=sys.stderr)
                failed += 1
        return 2 if failed else 0
    print(f"ResShift released checkpoints (cache: {R.cache_dir()})")
    for row in R.status():
        print(f"  {row['name']:<18} {'present' if row['present'] else 'missing':<8} {row['file']}  <- {row['url']}")
    print("Metric weights (where each library looks for them)")
    for w in W.METRIC_WEIGHTS.values():
        print(f"  {w.name:<18} {'present' if w.present() else 'missing':<8} {w.path}  <- {w.url}  "
              f"[{', '.join(w.used_by)}]")
    return 0


def _metrics(args) -> int:
    import csv
    import io
    import json

    from resshift.imageio import write_text

    from .metrics import evaluate

    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    rows, notes = evaluate(args.pred, args.ref, names, device=args.device, batch_size=args.batch_size)
    for name, reason in notes["unavailable"].items():
        print(f"resshift-bench: warning: {name} unavailable: {reason}", file=sys.stderr)
    buf = io.StringIO()
    per_image = [n for n in names if n not in notes["set"] and n not in ("fid_g", "fid_f")]
    writer = csv.DictWriter(buf, fieldnames=["image", *per_image], lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    write_text(buf.getvalue(), args.out)
    write_text(json.dumps(notes, indent=2) + "\n", args.out + ".json")
    for name, value in notes["set"].items():
        print(f"{name}: {value:.4f}")
    print(f"{len(rows)} image(s) -> {args.out}")
    return 0


def _data_build(args) -> int:
    from .data import main_build

    return main_build(args)


def _data_list(args) -> int:
    from .data import load_recipe, recipe_names

    for name in recipe_names():
        r = load_recipe(name)
        src = "packaged images" if "packaged" in r["source"] else r["source"].get("expect", "")
        print(f"{name:<24} {r['kind']:<8} {src}")
    return 0


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="resshift-bench", description=__doc__)
    p.add_argument("--version", action="version", version=f"resshift-bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("weights", help="list every weight file the harness knows (or fetch NAME|all)")
    w.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    w.add_argument("names", nargs="*", help="weight or metric names for fetch (default: all)")
    w.set_defaults(func=_weights)

    m = sub.add_parser("metrics", help="per-image metrics of a restored folder against a reference folder")
    m.add_argument("--pred", required=True, help="restored images")
    m.add_argument("--ref", help="reference (GT) images, matched by file stem")
    m.add_argument("--metrics", default="psnr,ssim", help="comma-separated metric names")
    m.add_argument("--out", required=True, help="CSV (one row per image); notes in OUT.json")
    m.add_argument("--device", default="cuda" if _cuda() else "cpu")
    m.add_argument("--batch-size", type=int, default=16)
    m.set_defaults(func=_metrics)

    d = sub.add_parser("data", help="build test sets from datasets/<name>.yaml recipes")
    dsub = d.add_subparsers(dest="action", required=True)
    b = dsub.add_parser("build", help="build one test set (gt/, lq/, mask/, manifest.csv)")
    b.add_argument("recipe", help="recipe name (datasets/<name>.yaml) or path")
    b.add_argument("--source", help="folder of source images (external sets)")
    b.add_argument("--prebuilt", help="folder of a prebuilt set to validate and use as is (e.g. the authors')")
    b.add_argument("--out", help="output folder (default results/data/<name>)")
    b.add_argument("--limit", type=int, help="only the first N samples (same bytes as in a full build)")
    b.add_argument("--workers", type=int, default=1)
    b.add_argument("--write-checksums", action="store_true", help="(maintainers) write datasets/checksums/<name>.sha256")
    b.set_defaults(func=_data_build)
    dsub.add_parser("list", help="list the recipes").set_defaults(func=_data_list)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, "resshift-bench")


if __name__ == "__main__":
    sys.exit(main())
