"""bench.layout: every results path (docs/design.md's data flow), and the NAME@RUN and
<method>-<steps> names."""
from pathlib import Path

from bench.layout import Layout, parse_result_name, result_name, split_method


def test_split_method():
    assert split_method("resshift@demo_t4") == ("resshift", "demo_t4")
    assert split_method("ldm_retrained@table1_T4_p0.3_k2.0") == ("ldm_retrained", "table1_T4_p0.3_k2.0")
    assert split_method("bicubic") == ("bicubic", "")


def test_result_names_round_trip():
    assert result_name("bicubic", -1) == "bicubic--1"
    assert result_name("{method}", "{steps}") == "{method}-{steps}"          # Snakemake's patterns
    for method, steps in [("bicubic", -1), ("resshift@demo_t4", 4), ("ldm_retrained@table1_T4_p0.3_k2.0", 15)]:
        assert parse_result_name(result_name(method, steps)) == (method, steps)
    assert parse_result_name("notes") is None and parse_result_name("bicubic-") is None


def test_paths_of_the_data_flow():
    L = Layout("out")
    assert L.dataset("demo_sr") == Path("out/data/demo_sr")
    assert L.manifest("demo_sr") == Path("out/data/demo_sr/manifest.csv")
    assert L.build_record("demo_sr") == Path("out/data/demo_sr/build.json")
    assert L.models == Path("out/models")
    assert L.checkpoint("demo_t4") == Path("out/models/demo_t4/checkpoints/last.pth")
    assert L.run_config("demo_t4") == Path("out/models/demo_t4/config.yaml")
    assert L.validation_curve("demo_t4") == Path("out/models/demo_t4/validation.csv")
    assert L.restored("demo_sr", "resshift@demo_t4", 4) == Path("out/restored/demo_sr/resshift@demo_t4-4")
    assert L.restored_meta("demo_sr", "bicubic", -1) == Path("out/restored/demo_sr/bicubic--1/meta.json")
    assert L.restore_work("demo_sr", "bicubic", -1) == Path("out/restored/.work/demo_sr/bicubic--1")
    assert L.shard_done("demo_sr", "bicubic", -1, 2, 3) == Path("out/restored/.work/demo_sr/bicubic--1/shard-2of3.done")
    assert L.metrics("demo_sr", "bicubic", -1) == Path("out/metrics/demo_sr/bicubic--1.csv")
    assert L.metrics_notes("demo_sr", "bicubic", -1) == Path("out/metrics/demo_sr/bicubic--1.csv.json")
    assert L.metrics_of("elsewhere/restored/demo_sr/bicubic--1") == L.metrics("demo_sr", "bicubic", -1)
    assert L.timing("resshift", 4) == Path("out/timing/resshift-4.json")
    assert L.table(2, "md") == Path("out/table2.md")
    assert L.figure("schedule", "pdf") == Path("out/figures/schedule.pdf")
    assert L.weights_fetched("realesrgan") == Path("out/weights/realesrgan.fetched")
    assert L.demo("metrics.json") == Path("out/demo/metrics.json")
    assert Layout().root == Path("results")


def test_logs_and_benchmarks_are_named_by_rule_and_job():
    L = Layout("out")
    assert L.log("demo") == Path("out/logs/demo.log")
    assert L.log("train", "demo_t4") == Path("out/logs/train/demo_t4.log")
    assert L.log("metrics", "demo_sr", "bicubic--1") == Path("out/logs/metrics/demo_sr/bicubic--1.log")
    assert L.benchmark("metrics", "demo_sr", "bicubic--1") == Path("out/benchmarks/metrics/demo_sr/bicubic--1.tsv")
    assert L.benchmark("demo") == Path("out/benchmarks/demo.tsv")


def test_wildcard_patterns_stay_patterns():
    """The workflow's rules pass Snakemake wildcards; the paths keep them as they are."""
    L = Layout("/tmp/r")
    assert str(L.restored("{dataset}", "{method}", "{steps}")) == "/tmp/r/restored/{dataset}/{method}-{steps}"
    assert str(L.table("{n}", "csv")) == "/tmp/r/table{n}.csv"
    assert (str(L.shard_done("{dataset}", "{method}", "{steps}", "{shard}", "{shards}"))
            == "/tmp/r/restored/.work/{dataset}/{method}-{steps}/shard-{shard}of{shards}.done")
