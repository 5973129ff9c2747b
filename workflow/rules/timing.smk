# Timing of one (method, steps) on random inputs: results/timing/<method>-<steps>.json (batch-1
# latency, throughput, memory, parameters), for the tables' runtime and parameter columns.
rule time_method:
    input:
        run=lambda w: PLAN.run_inputs(w.method),
        weights=lambda w: PLAN.weights_marker(w.method),
    output:
        record=LAYOUT.timing("{method}", "{steps}"),
    params:
        options=lambda w, input: PLAN.method_options(w.method, input.run),
        device=DEVICE_ARG,
    conda:
        ENV
    log:
        LAYOUT.log("time", RESULT),
    benchmark:
        LAYOUT.benchmark("time", RESULT)
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
        gpu=GPU,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} resshift-bench time {wildcards.method} --steps {wildcards.steps} {params.options} "
        "{params.device} --out {output.record} > {log} 2>&1"
