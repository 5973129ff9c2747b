# Figures (bench.figures) from the workflow's outputs: results/figures/<name>.{png,pdf}, in the report.
# One rule per figure, figure_<kind> (bench.plan.FIGURES); their inputs and arguments are the plan's.
for kind, name in FIGURES.items():

    rule:
        name:
            f"figure_{kind}"
        input:
            unpack(functools.partial(PLAN.figure_inputs, kind)),
        output:
            png=report(LAYOUT.figure(name, "png"), caption=f"../report/{name.removesuffix('_{dataset}')}.rst",
                       category="Figures"),
            pdf=LAYOUT.figure(name, "pdf"),
        params:
            args=functools.partial(PLAN.figure_args, kind),
            stem=lambda w, output: output.png[: -len(".png")],
        conda:
            ENV
        log:
            LAYOUT.log("figure", name),
        benchmark:
            LAYOUT.benchmark("figure", name)
        threads: 1
        resources:
            cpu_slots=1,
        shell:
            "resshift-bench figure {params.args} --out {params.stem} > {log} 2>&1"
