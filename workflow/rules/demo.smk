# The one-image quick look (`snakemake results/demo/metrics.json`): train the tiny model and
# restore the held-out chelsea image; not part of the tables.
rule demo:
    output:
        metrics=LAYOUT.demo("metrics.json"),
        restored=LAYOUT.demo("chelsea_resshift.png"),
    params:
        out=lambda w, output: str(Path(output.metrics).parent),
        iterations=config.get("quick_demo", {}).get("iterations", 300),
        seed=SEED,
    conda:
        ENV
    log:
        LAYOUT.log("demo"),
    benchmark:
        LAYOUT.benchmark("demo")
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} resshift demo -o {params.out} --iterations {params.iterations} --seed {params.seed} > {log} 2>&1"
