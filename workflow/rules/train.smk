# Training: a configuration (packaged name or YAML) plus overrides -> results/models/<run>/
# (checkpoints/, log.csv, validation.csv, config.yaml). Several GPUs: torchrun, one process each.
rule train:
    input:
        validation=lambda w: train_inputs(w.run),
    output:
        checkpoint=f"{MODELS}/{{run}}/checkpoints/last.pth",
        config=f"{MODELS}/{{run}}/config.yaml",
    params:
        config=lambda w: RUNS[w.run]["config"],
        sets=lambda w: train_sets(w.run),
        out=lambda w, output: str(Path(output.config).parent),
        device=DEVICE_ARG,
        launcher=lambda w, resources: (
            f"torchrun --standalone --nproc_per_node={resources.gpu} $(command -v resshift)"
            if resources.gpu > 1
            else "resshift"
        ),
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/train/{{run}}.log",
    benchmark:
        f"{BENCH}/train/{{run}}.tsv"
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
        gpu=lambda w: int(config.get("train_gpus", GPU)),
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {params.launcher} train --config {params.config} --out {params.out} "
        "{params.sets} {params.device} > {log} 2>&1"
