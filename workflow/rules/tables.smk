# Tables: metric CSVs (+ timings, restorations' meta.json and test-set manifests for provenance)
# -> results/table<N>.{csv,md,tex}; the CSV and Markdown go into `snakemake --report`.
rule table:
    input:
        metrics=lambda w: PLAN.table_metric_files(w.n),
        timing=lambda w: PLAN.table_timing_files(w.n),
        restored=lambda w: PLAN.table_restored_folders(w.n),
        data=lambda w: PLAN.table_data(w.n),
    output:
        csv=report(LAYOUT.table("{n}", "csv"), caption="../report/table.rst", category="Tables",
                   labels={"table": "{n}", "format": "csv"}),
        md=report(LAYOUT.table("{n}", "md"), caption="../report/table.rst", category="Tables",
                  labels={"table": "{n}", "format": "markdown"}),
        tex=LAYOUT.table("{n}", "tex"),
    wildcard_constraints:
        n=r"[1-7]",
    params:
        args=lambda w: PLAN.table_args(w.n),
        results=lambda w, output: str(Path(output.csv).parent),
    conda:
        ENV
    log:
        LAYOUT.log("table", "table{n}"),
    benchmark:
        LAYOUT.benchmark("table", "table{n}")
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench table {wildcards.n} --results {params.results} {params.args} > {log} 2>&1"
