# What the rules share: the plan of this configuration (bench/plan.py: which test sets, trained
# runs, restorations, metric files, timings and figures each requested table needs, and every
# job's arguments) and the results layout (bench/layout.py). Only Snakemake's side is here.
import functools
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError

from bench.layout import result_name
from bench.plan import FIGURES, Plan, PlanError

SEED = config.get("seed", 0)
MACHINE_CORES = os.cpu_count() or 1
THREADS = MACHINE_CORES if config.get("threads", "auto") == "auto" else int(config["threads"])
DEVICE = config.get("device", "cpu")
GPU = 1 if DEVICE.startswith("cuda") else 0
DEVICE_ARG = "" if DEVICE == "auto" else f"--device {DEVICE}"
ENV = "../../environment.yml"  # the rules' conda environment, relative to this folder
RESULT = result_name("{method}", "{steps}")  # the wildcards of a method's result: <method>-<steps>

# The wildcards of every rule (a method is a registry name or NAME@RUN, bench/layout.py).
wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    method=r"[A-Za-z0-9_]+(@[A-Za-z0-9_.]+)?",
    steps=r"-?\d+",
    run=r"[A-Za-z0-9_.]+",
    shard=r"\d+",
    shards=r"\d+",


# Local runs: jobs share this machine's cores through the `cpu_slots` resource, so `--cores 8`
# on a 2-core machine runs one 2-thread job at a time instead of four (cluster executors
# schedule on their nodes' cores instead).
if workflow.local_exec and "cpu_slots" not in workflow.global_resources:
    workflow.register_resource("cpu_slots", MACHINE_CORES)


class SnakemakePlan:
    """The plan's methods, a configuration it cannot plan raised as Snakemake's one-line WorkflowError."""

    def __init__(self, plan):
        self.plan = plan

    def __getattr__(self, name):
        attr = getattr(self.plan, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)  # keeps the signature: Snakemake passes what a function asks for
        def planned(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            except PlanError as exc:
                raise WorkflowError(str(exc)) from None

        return planned


PLAN = SnakemakePlan(Plan(config))
LAYOUT = PLAN.layout
PLAN.check()
