"""``resshift-bench``: the harness command line."""
from __future__ import annotations

import argparse
import sys

from resshift.errors import run_cli


def _weights(args) -> int:
    from resshift import weights as W

    print("ResShift released checkpoints (cache: %s)" % W.cache_dir())
    for row in W.status():
        print(f"  {row['name']:<18} {'present' if row['present'] else 'missing':<8} {row['file']}  <- {row['url']}")
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


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="resshift-bench", description=__doc__)
    p.add_argument("--version", action="version", version=f"resshift-bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("weights", help="list every weight file the harness knows, and whether it is present")
    w.set_defaults(func=_weights)

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
