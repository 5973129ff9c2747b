# Restoration and timing of one (method, steps): a registry name, or NAME@RUN for a run trained
# above. Restored images are kept (the figures read them), with meta.json beside them.
wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    method=r"[A-Za-z0-9_]+(@[A-Za-z0-9_.]+)?",
    steps=r"-?\d+",
    run=r"[A-Za-z0-9_.]+",
    shard=r"\d+",
    shards=r"\d+",


rule restore_shard:
    # one of `shards` parts of a restore job (config methods.<name>.shards, default from the
    # method's measured cost: bench/costs.py); every shard writes into the job's work folder
    input:
        data=f"{RESULTS}/data/{{dataset}}",
        run=lambda w: run_inputs(w.method),
        weights=lambda w: weights_marker(w.method),
    output:
        done=touch(f"{RESULTS}/restored/.work/{{dataset}}/{{method}}-{{steps}}/shard-{{shard}}of{{shards}}.done"),
    params:
        options=lambda w, input: method_options(w.method, input),
        batch=lambda w: batch_size_arg(w.method),
        work=restore_work,
        seed=SEED,
        device=DEVICE_ARG,
        tile_mode=lambda w: tile_mode_option(w.method),
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/restore_shard/{{dataset}}/{{method}}-{{steps}}-{{shard}}of{{shards}}.log",
    benchmark:
        f"{BENCH}/restore_shard/{{dataset}}/{{method}}-{{steps}}-{{shard}}of{{shards}}.tsv"
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
        gpu=GPU,
        runtime=shard_runtime,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} resshift-bench run {wildcards.method} --dataset {wildcards.dataset} --data {input.data} "
        "--steps {wildcards.steps} --seed {params.seed} {params.options} {params.tile_mode} {params.batch} "
        "{params.device} --shard {wildcards.shard}/{wildcards.shards} --out {params.work} > {log} 2>&1"


rule restore:
    # restores what no shard did (everything when shards is 1) in the work folder, then copies
    # the finished set to the output folder
    input:
        data=f"{RESULTS}/data/{{dataset}}",
        run=lambda w: run_inputs(w.method),
        weights=lambda w: weights_marker(w.method),
        shards=restore_shard_markers,
    output:
        folder=directory(f"{RESULTS}/restored/{{dataset}}/{{method}}-{{steps}}"),
    params:
        options=lambda w, input: method_options(w.method, input),
        batch=lambda w: batch_size_arg(w.method),
        work=restore_work,
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
        runtime=restore_runtime,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} resshift-bench run {wildcards.method} --dataset {wildcards.dataset} --data {input.data} "
        "--steps {wildcards.steps} --seed {params.seed} {params.options} {params.tile_mode} {params.batch} "
        "{params.device} --work {params.work} --out {output.folder} > {log} 2>&1"


rule time_method:
    input:
        run=lambda w: run_inputs(w.method),
        weights=lambda w: weights_marker(w.method),
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
