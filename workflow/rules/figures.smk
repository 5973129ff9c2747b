# Figures (bench.figures) from the workflow's outputs: results/figures/<name>.{png,pdf}, in the report.
rule figure_schedule:
    output:
        png=report(f"{RESULTS}/figures/schedule.png", caption="../report/schedule.rst", category="Figures"),
        pdf=f"{RESULTS}/figures/schedule.pdf",
    params:
        stem=lambda w, output: output.png[: -len(".png")],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/figure/schedule.log",
    benchmark:
        f"{BENCH}/figure/schedule.tsv"
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench figure schedule --out {params.stem} > {log} 2>&1"


rule figure_forward:
    input:
        data=lambda w: f"{RESULTS}/data/{figure_setting('forward')['dataset']}",
    output:
        png=report(f"{RESULTS}/figures/forward_process.png", caption="../report/forward_process.rst",
                   category="Figures"),
        pdf=f"{RESULTS}/figures/forward_process.pdf",
    params:
        stem=lambda w, output: output.png[: -len(".png")],
        image=lambda w: figure_setting("forward")["image"],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/figure/forward_process.log",
    benchmark:
        f"{BENCH}/figure/forward_process.tsv"
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench figure forward --data {input.data} --image {params.image} --out {params.stem} > {log} 2>&1"


rule figure_compare:
    input:
        data=f"{RESULTS}/data/{{dataset}}",
        restored=lambda w: compare_folders(w.dataset),
    output:
        png=report(f"{RESULTS}/figures/compare_{{dataset}}.png", caption="../report/compare.rst",
                   category="Figures"),
        pdf=f"{RESULTS}/figures/compare_{{dataset}}.pdf",
    params:
        stem=lambda w, output: output.png[: -len(".png")],
        panels=lambda w, input: compare_panels(w.dataset, input.restored),
        image=lambda w: compare_setting(w.dataset)["image"],
        box=lambda w: compare_box_arg(w.dataset),
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/figure/compare_{{dataset}}.log",
    benchmark:
        f"{BENCH}/figure/compare_{{dataset}}.tsv"
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench figure compare --data {input.data} --image {params.image} --restored {params.panels} "
        "{params.box} --out {params.stem} > {log} 2>&1"


rule figure_ablation:
    input:
        data=lambda w: f"{RESULTS}/data/{ablation_dataset()}",
        restored=lambda w: ablation_folders(),
    output:
        png=report(f"{RESULTS}/figures/ablation_grid.png", caption="../report/ablation_grid.rst", category="Figures"),
        pdf=f"{RESULTS}/figures/ablation_grid.pdf",
    params:
        stem=lambda w, output: output.png[: -len(".png")],
        panels=lambda w, input: ablation_panels(input.restored),
        image=lambda w: figure_setting("ablation")["image"],
        box=lambda w: box_arg(figure_setting("ablation")),
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/figure/ablation_grid.log",
    benchmark:
        f"{BENCH}/figure/ablation_grid.tsv"
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench figure ablation --data {input.data} --image {params.image} --restored {params.panels} "
        "{params.box} --out {params.stem} > {log} 2>&1"


rule figure_perception:
    input:
        metrics=lambda w: [path for _, _, path in perception_points()],
    output:
        png=report(f"{RESULTS}/figures/perception_distortion.png", caption="../report/perception_distortion.rst",
                   category="Figures"),
        pdf=f"{RESULTS}/figures/perception_distortion.pdf",
    params:
        stem=lambda w, output: output.png[: -len(".png")],
        series=lambda w: " ".join(shlex.quote(f"{label}:{s}={path}") for label, s, path in perception_points()),
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/figure/perception_distortion.log",
    benchmark:
        f"{BENCH}/figure/perception_distortion.tsv"
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench figure perception --series {params.series} --out {params.stem} > {log} 2>&1"


rule figure_validation:
    input:
        checkpoints=lambda w: [f"{MODELS}/{run}/checkpoints/last.pth" for _, run, _ in validation_runs()],
        data=lambda w: sorted({f"{RESULTS}/data/{ds}" for _, _, ds in validation_runs()}),
    output:
        png=report(f"{RESULTS}/figures/validation_curves.png", caption="../report/validation_curves.rst",
                   category="Figures"),
        pdf=f"{RESULTS}/figures/validation_curves.pdf",
    params:
        stem=lambda w, output: output.png[: -len(".png")],
        curves=lambda w: " ".join(shlex.quote(f"{label}={MODELS}/{run}/validation.csv")
                                  for label, run, _ in validation_runs()),
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/figure/validation_curves.log",
    benchmark:
        f"{BENCH}/figure/validation_curves.tsv"
    threads: 1
    resources:
        cpu_slots=1,
    shell:
        "resshift-bench figure validation --curves {params.curves} --data {input.data[0]} --out {params.stem} > {log} 2>&1"
