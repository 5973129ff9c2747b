# Restoration and timing of one (method, steps): a registry name, or NAME@RUN for a run trained
# above. Restored images are kept (the figures read them), with meta.json beside them.
wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    method=r"[A-Za-z0-9_]+(@[A-Za-z0-9_.]+)?",
    steps=r"-?\d+",
    run=r"[A-Za-z0-9_.]+",


rule restore:
    input:
        data=f"{RESULTS}/data/{{dataset}}",
        run=lambda w: run_inputs(w.method),
    output:
        folder=directory(f"{RESULTS}/restored/{{dataset}}/{{method}}-{{steps}}"),
    params:
        options=lambda w, input: method_options(w.method, input),
        seed=SEED,
        device=DEVICE_ARG,
        tile_mode=lambda w: tile_mode_option(w.method),
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/restore/{{dataset}}/{{method}}-{{steps}}.log",
    benchmark:
        f"{BENCH}/restore/{{dataset}}/{{method}}-{{steps}}.tsv"
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
        gpu=GPU,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} resshift-bench run {wildcards.method} --dataset {wildcards.dataset} --data {input.data} "
        "--steps {wildcards.steps} --seed {params.seed} {params.options} {params.tile_mode} {params.device} "
        "--out {output.folder} > {log} 2>&1"


rule time_method:
    input:
        run=lambda w: run_inputs(w.method),
    output:
        record=f"{RESULTS}/timing/{{method}}-{{steps}}.json",
    params:
        options=lambda w, input: method_options(w.method, input),
        device=DEVICE_ARG,
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/time/{{method}}-{{steps}}.log",
    benchmark:
        f"{BENCH}/time/{{method}}-{{steps}}.tsv"
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
        gpu=GPU,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} resshift-bench time {wildcards.method} --steps {wildcards.steps} {params.options} "
        "{params.device} --out {output.record} > {log} 2>&1"
