# Per-image metrics of one restoration: results/metrics/<dataset>/<method>-<steps>.csv, and beside
# it .csv.json with each unavailable metric's reason. The metric list is a parameter: adding a
# metric to a table re-runs this job and the table only.
rule metrics:
    input:
        pred=LAYOUT.restored("{dataset}", "{method}", "{steps}"),
        data=LAYOUT.dataset("{dataset}"),
    output:
        csv=LAYOUT.metrics("{dataset}", "{method}", "{steps}"),
        notes=LAYOUT.metrics_notes("{dataset}", "{method}", "{steps}"),
    params:
        metrics=lambda w: ",".join(PLAN.metrics_for(w.dataset, w.method, w.steps)),
        ref=lambda w, input: f"--ref {input.data}/gt" if PLAN.has_reference(w.dataset) else "",
        fid=lambda w: " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted((config.get("fid") or {}).items())),
        device=DEVICE_ARG,
        crop=f"--crop-border {int(config['crop_border'])}" if config.get("crop_border") else "",
    conda:
        ENV
    log:
        LAYOUT.log("metrics", "{dataset}", RESULT),
    benchmark:
        LAYOUT.benchmark("metrics", "{dataset}", RESULT)
    threads: THREADS
    resources:
        cpu_slots=lambda w, threads: threads,
        gpu=GPU,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} resshift-bench metrics --pred {input.pred} {params.ref} --metrics {params.metrics} "
        "{params.fid} {params.crop} --out {output.csv} {params.device} > {log} 2>&1"
