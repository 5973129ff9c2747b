# resshift-bench workflow. `snakemake --cores 2` builds the tables in `targets` of
# config/config.yaml (the embedded demo: packaged images, tiny models, CPU);
# `snakemake --configfile config/paper.yaml --profile profiles/slurm` runs the paper protocol.
# Data flow (docs/design.md): build_dataset -> train -> restore/time_method -> metrics -> table.
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(os.path.dirname(workflow.main_snakefile), "config", "config.yaml")


include: "workflow/rules/validate.smk"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/restore.smk"
include: "workflow/rules/timing.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/demo.smk"


rule all:
    default_target: True
    input:
        [LAYOUT.table(n, ext) for n in PLAN.requested_tables() for ext in ("csv", "md", "tex")],
        PLAN.figure_targets(),
