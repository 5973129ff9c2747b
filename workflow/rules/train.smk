# Training: a configuration (packaged name or YAML) plus overrides -> results/models/<run>/
# (checkpoints/, log.csv, validation.csv, config.yaml). Several GPUs: torchrun, one process each.
rule train:
    input:
        validation=lambda w: PLAN.train_inputs(w.run),
    output:
        checkpoint=LAYOUT.checkpoint("{run}"),
        config=LAYOUT.run_config("{run}"),
    params:
        config=lambda w: PLAN.train_config(w.run),
        sets=lambda w: PLAN.train_sets(w.run),
        out=lambda w, output: str(Path(output.config).parent),
        device=DEVICE_ARG,
        launcher=lambda w, resources: (
            f"torchrun --standalone --nproc_per_node={resources.gpu} $(command -v resshift)"
            if resources.gpu > 1
            else "resshift"
        ),
    conda:
        ENV
    log:
        LAYOUT.log("train", "{run}"),
    benchmark:
        LAYOUT.benchmark("train", "{run}")
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
        gpu=lambda w: int(config.get("train_gpus", GPU)),
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {params.launcher} train --config {params.config} --out {params.out} "
        "{params.sets} {params.device} > {log} 2>&1"
