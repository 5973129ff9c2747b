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


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="resshift-bench", description=__doc__)
    p.add_argument("--version", action="version", version=f"resshift-bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("weights", help="list every weight file the harness knows, and whether it is present")
    w.set_defaults(func=_weights)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, "resshift-bench")


if __name__ == "__main__":
    sys.exit(main())
