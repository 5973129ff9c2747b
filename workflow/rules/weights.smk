# With `offline: false`, a method's released weights are downloaded by a job of their own before
# any job that needs them (one download per method, not one per restore/timing job). It runs on
# the submitting host (localrules): cluster nodes often have no network. The download path is
# resshift.download (Hub files through huggingface_hub, resume, pinned/prefix hash checks).
wildcard_constraints:
    weights_of=r"[A-Za-z0-9_]+",


localrules:
    fetch_weights,


rule fetch_weights:
    output:
        touch(LAYOUT.weights_fetched("{weights_of}")),
    conda:
        ENV
    log:
        LAYOUT.log("fetch_weights", "{weights_of}"),
    shell:
        "resshift-bench baselines fetch {wildcards.weights_of} > {log} 2>&1"
