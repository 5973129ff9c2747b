# Tables: metric CSVs (+ timings, restorations' meta.json and test-set manifests for provenance)
# -> results/table<N>.{csv,md,tex}; the CSV and Markdown go into `snakemake --report`.
rule table:
    input:
        metrics=lambda w: table_metric_files(w.n),
        timing=lambda w: table_timing_files(w.n),
        restored=lambda w: table_restored_folders(w.n),
        data=lambda w: [f"{RESULTS}/data/{ds}" for ds in table_datasets(w.n)],
    output:
        csv=report(f"{RESULTS}/table{{n}}.csv", caption="../report/table.rst", category="Tables",
                   labels={"table": "{n}", "format": "csv"}),
        md=report(f"{RESULTS}/table{{n}}.md", caption="../report/table.rst", category="Tables",
                  labels={"table": "{n}", "format": "markdown"}),
        tex=f"{RESULTS}/table{{n}}.tex",
    wildcard_constraints:
        n=r"[1-7]",
    params:
        args=lambda w: table_args(w.n),
        results=lambda w, output: str(Path(output.csv).parent),
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/table/table{{n}}.log",
    benchmark:
        f"{BENCH}/table/table{{n}}.tsv"
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench table {wildcards.n} --results {params.results} {params.args} > {log} 2>&1"
