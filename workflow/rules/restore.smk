# Restoration of a test set by one (method, steps): a registry name, or NAME@RUN for a run trained
# above. Restored images are kept (the figures read them), with meta.json beside them.
rule restore_shard:
    # one of `shards` parts of a restore job (config methods.<name>.shards, default from the
    # method's measured cost: bench/costs.py); every shard writes into the job's work folder
    input:
        data=LAYOUT.dataset("{dataset}"),
        run=lambda w: PLAN.run_inputs(w.method),
        weights=lambda w: PLAN.weights_marker(w.method),
    output:
        done=touch(LAYOUT.shard_done("{dataset}", "{method}", "{steps}", "{shard}", "{shards}")),
    params:
        options=lambda w, input: PLAN.method_options(w.method, input.run),
        batch=lambda w: PLAN.batch_size_arg(w.method),
        work=PLAN.restore_work,
        seed=SEED,
        device=DEVICE_ARG,
        tile_mode=lambda w: PLAN.tile_mode_option(w.method),
    conda:
        ENV
    log:
        LAYOUT.log("restore_shard", "{dataset}", f"{RESULT}-{{shard}}of{{shards}}"),
    benchmark:
        LAYOUT.benchmark("restore_shard", "{dataset}", f"{RESULT}-{{shard}}of{{shards}}")
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
        gpu=GPU,
        runtime=PLAN.shard_runtime,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} resshift-bench run {wildcards.method} --dataset {wildcards.dataset} --data {input.data} "
        "--steps {wildcards.steps} --seed {params.seed} {params.options} {params.tile_mode} {params.batch} "
        "{params.device} --shard {wildcards.shard}/{wildcards.shards} --out {params.work} > {log} 2>&1"


rule restore:
    # restores what no shard did (everything when shards is 1) in the work folder, then copies
    # the finished set to the output folder
    input:
        data=LAYOUT.dataset("{dataset}"),
        run=lambda w: PLAN.run_inputs(w.method),
        weights=lambda w: PLAN.weights_marker(w.method),
        shards=PLAN.restore_shard_markers,
    output:
        folder=directory(LAYOUT.restored("{dataset}", "{method}", "{steps}")),
    params:
        options=lambda w, input: PLAN.method_options(w.method, input.run),
        batch=lambda w: PLAN.batch_size_arg(w.method),
        work=PLAN.restore_work,
        seed=SEED,
        device=DEVICE_ARG,
        tile_mode=lambda w: PLAN.tile_mode_option(w.method),
    conda:
        ENV
    log:
        LAYOUT.log("restore", "{dataset}", RESULT),
    benchmark:
        LAYOUT.benchmark("restore", "{dataset}", RESULT)
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
        gpu=GPU,
        runtime=PLAN.restore_runtime,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} resshift-bench run {wildcards.method} --dataset {wildcards.dataset} --data {input.data} "
        "--steps {wildcards.steps} --seed {params.seed} {params.options} {params.tile_mode} {params.batch} "
        "{params.device} --work {params.work} --out {output.folder} > {log} 2>&1"
