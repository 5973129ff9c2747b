"""bench.plan without Snakemake: what the workflow plans for the demo (config/config.yaml), the
paper protocol (config/paper.yaml) and the CI's configuration (tests/fixtures/workflow/ci.yaml),
each read the way the Snakefile reads it (config.yaml, then the --configfile on top)."""
from types import SimpleNamespace

import pytest
import yaml
from snakemake.utils import update_config
from test_workflow import FIXTURES, ROOT

from bench.costs import STARTUP_MINUTES
from bench.layout import Layout
from bench.plan import FIGURES, Plan, PlanError


def read_config(*overrides: dict, results) -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for override in overrides:
        update_config(config, override)
    config["results_dir"] = str(results)
    return config


@pytest.fixture
def plan_of(tmp_path, monkeypatch):
    """plan_of(*overrides) -> (Plan, notes it printed); no VGG16 weights cached (demo_l4 left out)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def make(*overrides):
        notes = []
        return Plan(read_config(*overrides, results=tmp_path / "results"), say=notes.append), notes

    return make


def paper() -> dict:
    return yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())


def ci() -> dict:
    return yaml.safe_load((FIXTURES / "ci.yaml").read_text())


def w(**wildcards):
    return SimpleNamespace(**wildcards)


def test_demo_runs_rows_and_files(plan_of, tmp_path):
    plan, notes = plan_of()
    L = Layout(tmp_path / "results")
    vgg16 = tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert notes == [(f"run demo_l4 and its table rows left out: LPIPS-VGG's VGG16 weights {vgg16} not found "
                      "(torchvision downloads them at first use where there is a network)")]
    assert {"demo_t4", "demo_t15", "demo_ldm", "demo_inpaint_t4", "demo_face_t4"} <= set(plan.runs)
    assert "demo_l4" not in plan.runs and len([r for r in plan.runs if r.startswith("demo_table1_")]) == 13
    assert plan.requested_tables() == [2] and plan.configured_tables() == [2, 4, 6, 1]
    assert plan.table_rows(2) == [("bicubic", -1), ("resshift@demo_t15", 15), ("resshift@demo_t4", 4),
                                  ("ldm_retrained@demo_ldm", 15), ("ldm_retrained@demo_ldm", 4)]
    assert plan.table_datasets(2) == ["demo_sr"] and plan.dataset_map(2) == {"imagenet_test": "demo_sr"}
    assert plan.table_data(2) == [str(L.dataset("demo_sr"))]
    assert plan.table_metric_files(2)[:2] == [str(L.metrics("demo_sr", "bicubic", -1)),
                                              str(L.metrics_notes("demo_sr", "bicubic", -1))]
    assert len(plan.table_metric_files(2)) == 10
    assert plan.table_restored_folders(2)[2] == str(L.restored("demo_sr", "resshift@demo_t4", 4))
    assert plan.table_timing_files(2) == [str(L.timing(m, s)) for m, s in plan.table_rows(2)]
    assert plan.metrics_for("demo_sr", "resshift@demo_t4", "4") == ["psnr", "ssim", "lpips", "niqe"]
    assert plan.metrics_for("demo_sr_val", "bicubic", "-1") == ["psnr", "ssim"]      # no table reads it


def test_demo_training_arguments(plan_of, tmp_path):
    plan, _ = plan_of()
    data = Layout(tmp_path / "results").dataset("demo_sr_val")
    assert plan.train_config("demo_t15") == "demo_realsr"
    assert plan.train_sets("demo_t15") == "--set diffusion.steps=15"
    assert plan.train_sets("demo_t4") == (f"--set train.validate_every=200 --set validation.gt={data}/gt "
                                          f"--set validation.lq={data}/lq")
    assert plan.train_inputs("demo_t4") == [str(data)] and plan.train_inputs("demo_t15") == []
    assert plan.train_config("demo_table1_T4_p0.3_k2.0") == "demo_table1_T4_p0.3_k2.0"
    assert plan.train_sets("demo_table1_T4_p0.3_k2.0") == "--set train.iterations=400"


def test_demo_figures(plan_of, tmp_path):
    plan, _ = plan_of()
    L = Layout(tmp_path / "results")
    assert plan.figure_targets() == [str(L.figure(name, ext)) for name in
                                     ("schedule", "forward_process", "validation_curves", "compare_demo_sr")
                                     for ext in ("png", "pdf")]
    compare = plan.figure_inputs("compare", w(dataset="demo_sr"))
    assert compare["data"] == str(L.dataset("demo_sr")) and len(compare["restored"]) == 5
    args = plan.figure_args("compare", w(dataset="demo_sr"))
    assert args.startswith(f"compare --data {L.dataset('demo_sr')} --image chelsea_c0 --restored Bicubic=")
    assert f" (demo_t4)-4={L.restored('demo_sr', 'resshift@demo_t4', 4)}' " in args        # the table's label
    assert args.endswith(" --box 96,48,64")
    assert plan.figure_inputs("validation", w()) == {
        "checkpoints": [str(L.checkpoint("demo_t4")), str(L.checkpoint("demo_ldm"))],
        "data": [str(L.dataset("demo_sr_val"))]}
    assert plan.figure_args("validation", w()) == (
        f"validation --curves ResShift-4={L.validation_curve('demo_t4')} "
        f"'LDM-15 (x0-pred.)={L.validation_curve('demo_ldm')}' --data {L.dataset('demo_sr_val')}")
    assert plan.figure_args("schedule", w()) == "schedule" and plan.figure_inputs("schedule", w()) == {}
    assert plan.figure_args("forward", w()) == f"forward --data {L.dataset('demo_sr')} --image chelsea_c0"
    assert plan.ablation_dataset() == "demo_sr" and len(plan.ablation_folders()) == 13
    assert plan.figure_args("ablation", w()).count("'T=") == 13
    perception = plan.perception_points()
    assert [(label, steps) for label, steps, _ in perception] == (
        [("ResShift", s) for s in (4, 10, 15, 30, 50)] + [("LDM", s) for s in (4, 10, 15, 30, 50)])
    assert perception[0][2] == str(L.metrics("demo_sr", "resshift@demo_table1_T4_p0.3_k2.0", 4))
    assert set(FIGURES) == {"schedule", "forward", "compare", "ablation", "perception", "validation"}


def test_ci_restore_shards_and_options(plan_of, tmp_path):
    plan, _ = plan_of(ci())
    L = Layout(tmp_path / "results")
    job = w(dataset="demo_sr_val", method="bicubic", steps="-1")
    assert plan.restore_shards("demo_sr_val", "bicubic") == 2
    assert plan.restore_shard_markers(job) == [str(L.shard_done("demo_sr_val", "bicubic", "-1", i, 2)) for i in (1, 2)]
    assert plan.restore_work(job) == str(L.restore_work("demo_sr_val", "bicubic", "-1"))
    assert plan.restore_runtime(job) == STARTUP_MINUTES
    assert plan.batch_size_arg("bicubic") == "--batch-size 2" and plan.batch_size_arg("resshift@ci_t4") == ""
    run_files = plan.run_inputs("resshift@ci_t4")
    assert run_files == [str(L.checkpoint("ci_t4")), str(L.run_config("ci_t4"))] and plan.run_inputs("bicubic") == []
    assert plan.method_options("resshift@ci_t4", run_files) == (f"--option checkpoint={run_files[0]} "
                                                                f"--option config={run_files[1]}")
    assert plan.tile_mode_option("resshift@ci_t4") == "--option tile_mode=release"
    assert plan.tile_mode_option("bicubic") == ""
    assert plan.weights_marker("bicubic") == [] and plan.weights_marker("realesrgan") == []     # offline
    args = plan.table_args(2)
    assert args.startswith("--rows bicubic:-1 resshift@ci_t4:4 ldm_retrained@ci_ldm:4 --config-sha256 ")
    assert args.endswith(" --dataset-map imagenet_test=demo_sr_val --metrics psnr,ssim,lpips,niqe")


def test_ci_unknown_run_and_figure_settings_are_one_line(plan_of):
    plan, _ = plan_of(ci())
    with pytest.raises(PlanError, match=r"^method resshift@nope: no training run 'nope' in the config's `training` "
                                        r"\(or a table's grid\); add training: \{nope: \{config: NAME\}\}$"):
        plan.run_inputs("resshift@nope")
    with pytest.raises(PlanError, match="^figure compare_demo_sr: no entry for demo_sr in the config's figures.compare"):
        plan.compare_setting("demo_sr")
    plan, _ = plan_of(ci(), {"figures": {"validation": {"runs": [{"run": "ci_t15", "label": "x"}]}}})
    with pytest.raises(PlanError, match="^figure validation_curves: training run 'ci_t15' has no `validate:` key"):
        plan.validation_runs()


def test_paper_plan(plan_of, tmp_path):
    plan, _ = plan_of(paper())
    L = Layout(tmp_path / "results")
    plan.check()
    tables = plan.requested_tables()
    assert tables == [1, 2, 3, 4, 5, 6, 7]
    datasets = sorted({ds for n in tables for ds in plan.table_datasets(n)})
    assert len(datasets) == 9 and "imagenet_test" in datasets                       # build_dataset jobs
    trained = {m.partition("@")[2] for n in tables for m, _ in plan.table_rows(n) if "@" in m}
    assert len(trained) == 13 and all(run in plan.runs for run in trained)          # the Table I grid
    restorations = {(ds, m, s) for n in tables for ds in plan.table_datasets(n) for m, s in plan.table_rows(n)}
    assert len(restorations) > 40 and len({f for n in tables for f in plan.table_metric_files(n)}) == 2 * len(restorations)
    assert plan.table_rows(2)[-2:] == [("resshift_v1", 15), ("resshift", 4)] and plan.table_not_run(2) == {}
    assert plan.dataset_source_args("imagenet_test") == "--source /data/imagenet/val"
    assert plan.dataset_source_args("demo_sr") == ""
    assert plan.weights_marker("realesrgan") == [str(L.weights_fetched("realesrgan"))]
    assert plan.weights_marker("resshift@table1_T4_p0.3_k2.0") == []
    assert plan.restore_shards("imagenet_test", "repaint") > 1                       # from the measured cost
    assert plan.method_options("stablesr", []) == "--option python=/opt/conda/envs/stablesr/bin/python --option repo=/opt/StableSR"
    assert plan.figure_targets() == [str(L.figure("schedule", "png")), str(L.figure("schedule", "pdf"))]


def test_paper_offline_rows_are_not_run_and_said_once(plan_of, monkeypatch, tmp_path):
    monkeypatch.setenv("RESSHIFT_HOME", str(tmp_path / "empty_cache"))
    plan, notes = plan_of(paper(), {"offline": True, "targets": [2]})
    not_run = plan.table_not_run(2)
    assert ("realesrgan", -1) in not_run and "RealESRGAN_x4plus.pth" in not_run[("realesrgan", -1)]
    assert plan.table_rows(2) == [row for row in plan.all_table_rows(2) if row not in not_run]
    assert "--not-run " in plan.table_args(2) and "realesrgan:-1" in plan.table_args(2).split("--not-run ")[1]
    plan.table_args(2)
    assert [n for n in notes if n.startswith("table 2: not run here")] == [notes[-1]]


def test_configuration_errors(plan_of):
    plan, _ = plan_of(paper(), {"data": {"sources": {"imagenet_val": None}}})
    with pytest.raises(PlanError, match=r"^dataset imagenet_test needs .*: set data.sources.imagenet_val in the config "
                                        r"\(or data.prebuilt.imagenet_test for a prebuilt set\)$"):
        plan.dataset_source_args("imagenet_test")
    plan, _ = plan_of(paper(), {"data": {"prebuilt": {"imagenet_test": "/data/authors"}}})
    assert plan.dataset_source_args("imagenet_test") == "--prebuilt /data/authors"
    unknown = {"tables": [{"table": 2, "rows": [{"method": "no_such_method", "steps": -1}]}], "targets": [2]}
    plan, _ = plan_of(paper(), unknown)
    with pytest.raises(PlanError, match="^table 2: no registered method no_such_method "):
        plan.check()
    plan, _ = plan_of(ci(), {"tables": [{"table": 2, "datasets": {"imagenet_test": "nope_set"}}]})
    with pytest.raises(PlanError, match="^config: dataset 'nope_set' has no recipe bench/datasets/nope_set.yaml$"):
        plan.check()
    plan, _ = plan_of(ci(), {"figures": {"ablation": None}})
    with pytest.raises(PlanError, match=r"^figure ablation: no `figures.ablation` in the config"):
        plan.ablation_folders()
