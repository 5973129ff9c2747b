# Test sets: datasets/<name>.yaml -> results/data/<name>/{gt,lq,mask}/*.png + manifest.csv
rule build_dataset:
    output:
        folder=directory(LAYOUT.dataset("{dataset}")),
    params:
        source=lambda w: PLAN.dataset_source_args(w.dataset),
        recipe=lambda w: PLAN.recipe(w.dataset),  # a changed recipe rebuilds the set
    conda:
        ENV
    log:
        LAYOUT.log("build_dataset", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("build_dataset", "{dataset}")
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench data build {wildcards.dataset} --out {output.folder} {params.source} > {log} 2>&1"
