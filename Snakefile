# resshift-bench workflow entry. `snakemake --cores 2` runs the embedded demo (config/config.yaml).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")
RESULTS = config["results_dir"]


include: "workflow/rules/demo.smk"


rule all:
    default_target: True
    input:
        f"{RESULTS}/demo/metrics.json",
