"""bench/costs.py: its seconds per image are the records of the H200 run it cites, and the shard
and runtime rules that the workflow derives from them."""
import json
from pathlib import Path

from bench import costs

ROOT = Path(__file__).resolve().parents[1]


def test_costs_are_the_measured_records():
    records = [json.loads(line) for line in (ROOT / costs.SOURCE).read_text().splitlines() if line.strip()]
    measured = {}
    for r in records:
        if r.get("check") == "inpaint_run":
            measured[r["method"]] = r["seconds"]
        elif r.get("check") == "runtime_batch1":
            measured[r["method"]] = r["s"]
        elif r.get("check") == "table2_runtime" and "seconds_per_image" in r and r["method"] not in ("resshift", "resshift_v1"):
            if r["method"] != "ldm" or r["steps"] == 15:
                measured[r["method"]] = r["seconds_per_image"]
    assert {m: s for m, (s, _) in costs.SECONDS_PER_IMAGE.items()} == measured


def test_shards_and_runtimes():
    assert costs.default_shards("repaint", 2000) == 55                 # 2000 x 98.68 s x 2 / 7200 s
    assert costs.runtime_minutes("repaint", 37) == 10 + 122
    assert costs.default_shards("bicubic", 3000) == costs.default_shards("resshift", 3000) == 1
    assert costs.default_shards("repaint", None) == 1 and costs.default_shards("repaint@run", 2000) == 55
