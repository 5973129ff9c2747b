# The CPU demo: train the tiny pixel-space ResShift on packaged images, restore a held-out one.
rule demo:
    output:
        metrics=f"{RESULTS}/demo/metrics.json",
        restored=f"{RESULTS}/demo/chelsea_resshift.png",
    log:
        f"{RESULTS}/logs/demo.log",
    benchmark:
        f"{RESULTS}/benchmarks/demo.tsv"
    threads: config.get("threads", 2)
    params:
        iterations=config["demo"]["iterations"],
        batch_size=config["demo"]["batch_size"],
        seed=config["demo"]["seed"],
    shell:
        "OMP_NUM_THREADS={threads} resshift demo -o {RESULTS}/demo --iterations {params.iterations} "
        "--batch-size {params.batch_size} --seed {params.seed} > {log} 2>&1"
