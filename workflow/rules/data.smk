# Test sets: datasets/<name>.yaml -> results/data/<name>/{gt,lq,mask}/*.png + manifest.csv
rule build_dataset:
    output:
        folder=directory(f"{RESULTS}/data/{{dataset}}"),
    params:
        source=lambda w: dataset_source_args(w.dataset),
        recipe=lambda w: _recipe(w.dataset),  # a changed recipe rebuilds the set
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/build_dataset/{{dataset}}.log",
    benchmark:
        f"{BENCH}/build_dataset/{{dataset}}.tsv"
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench data build {wildcards.dataset} --out {output.folder} {params.source} > {log} 2>&1"
