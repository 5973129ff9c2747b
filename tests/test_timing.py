"""Timing records: batch-1 latency and batch throughput, peak memory, device, precision, network
evaluations counted with hooks; Table II's runtime column (batch 1, device in the header), the
CSV's second runtime column, and StableSR's declared parameters in the table."""
import json

import pytest
import torch

from resshift.errors import ResShiftError

FIELDS = {"latency_batch1_s", "throughput_batch", "throughput_s_per_image", "throughput_images_per_s", "seconds_all",
          "peak_memory_bytes", "peak_memory_kind", "device", "device_name", "precision", "nfe", "nfe_counts",
          "network_calls", "params_trainable_M", "params_frozen_M", "weights", "input", "output"}


def test_a_record_holds_both_runtimes_memory_device_precision_and_nfe():
    from bench.timing import time_method

    rec = time_method("resshift_tiny", size=8, repeats=2, warmup=0, throughput_batch=3)
    assert FIELDS <= set(rec)
    assert rec["device"] == "cpu" and rec["precision"] == "fp32" and rec["throughput_batch"] == 3
    assert rec["latency_batch1_s"] > 0 and rec["throughput_s_per_image"] > 0
    assert set(rec["seconds_all"]) == {"batch1", "batch3"} and all(len(v) == 2 for v in rec["seconds_all"].values())
    assert rec["latency_batch1_s"] == min(rec["seconds_all"]["batch1"]) or \
        abs(rec["latency_batch1_s"] - min(rec["seconds_all"]["batch1"])) < 1e-4
    assert rec["throughput_s_per_image"] == pytest.approx(min(rec["seconds_all"]["batch3"]) / 3, abs=1e-4)
    assert rec["seconds_per_image"] == rec["latency_batch1_s"]                       # the Table II column
    assert rec["peak_memory_kind"].startswith("cpu_process_peak_rss")
    assert all(v > 10 * 2 ** 20 for v in rec["peak_memory_bytes"].values())          # a Python process with torch
    assert rec["nfe"] == rec["steps"] == 4 and rec["network_calls"] == {"trainable": 4}   # pixel space: no autoencoder


def test_nfe_of_a_latent_resshift_counts_unet_encoder_and_decoder(monkeypatch):
    """ResShift-T in latent space: T UNet evaluations (nfe), one encode and one decode per image."""
    import bench.timing as TM

    monkeypatch.setitem(TM.RESSHIFT_METHODS, "resshift_tiny_latent", "tiny_latent")
    rec = TM.time_method("resshift_tiny_latent", size=8, repeats=1, warmup=0, throughput_batch=2)
    steps = rec["steps"]
    assert rec["network_calls"] == {"trainable": steps, "frozen_autoencoder.decoder": 1,
                                    "frozen_autoencoder.encoder": 1}
    assert rec["nfe"] == steps and "'trainable'" in rec["nfe_counts"]


def test_nfe_of_one_shot_and_network_free_baselines():
    from bench.timing import time_method

    gan = time_method("realesrgan", size=8, repeats=1, warmup=0, throughput_batch=2)
    assert gan["nfe"] == 1 and gan["network_calls"] == {"trainable": 1} and gan["precision"] == "fp32"
    bic = time_method("bicubic", size=8, repeats=1, warmup=0, throughput_batch=2)
    assert bic["nfe"] == 0 and bic["network_calls"] == {}
    with pytest.raises(ResShiftError, match="compared methods run as released"):
        time_method("bicubic", size=8, repeats=1, warmup=0, precision="bf16")


def test_network_calls_counts_forward_hooks_and_removes_them():
    from bench.timing import network_calls

    class AE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

    net, ae = torch.nn.Linear(2, 2), AE()

    def call():
        z = ae.encoder(torch.zeros(1, 2))
        for _ in range(3):
            z = net(z)
        return ae.decoder(z)

    assert network_calls({"trainable": net, "frozen_autoencoder": ae}, call) == {
        "frozen_autoencoder.decoder": 1, "frozen_autoencoder.encoder": 1, "trainable": 3}
    assert not net._forward_hooks and not ae.encoder._forward_hooks


def test_bad_timing_sizes_are_one_line():
    from bench.timing import time_method

    with pytest.raises(ResShiftError, match="batch 0"):
        time_method("resshift_tiny", size=8, repeats=1, warmup=0, throughput_batch=0)


def test_time_cli_writes_both_runtime_columns(tmp_path, capsys):
    from bench.cli import main

    assert main(["time", "resshift_tiny", "--size", "8", "--throughput-batch", "2", "--repeats", "1", "--warmup", "0",
                 "--device", "cpu", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "at batch 1" in out and "at batch 2" in out and "nfe 4" in out
    rec = json.loads((tmp_path / "timing" / "resshift_tiny-4.json").read_text())
    assert FIELDS <= set(rec)


def _table2(tmp_path, timing: dict | None):
    import bench.tables as T

    if timing is not None:
        (tmp_path / "timing").mkdir()
        (tmp_path / "timing" / "resshift-4.json").write_text(json.dumps(timing))
    return T.compute_table(2, tmp_path)


def test_table2_shows_batch1_latency_names_the_device_and_keeps_throughput_in_the_csv(tmp_path):
    import bench.tables as T

    table = _table2(tmp_path, {"latency_batch1_s": 0.186, "throughput_s_per_image": 0.011, "throughput_batch": 64,
                               "device_name": "NVIDIA H200", "params_trainable_M": 118.59, "params_frozen_M": 55.32})
    row = next(r for r in table["rows"] if r["method"] == "resshift")
    assert row["cells"]["runtime_s"]["mean"] == 0.186 and row["cells"]["runtime_throughput_s"]["mean"] == 0.011
    assert "runtime_throughput_s" not in table["columns"]
    md = T.to_markdown(table)
    header = md.splitlines()[2]
    assert "Runtime (s, NVIDIA H200, batch 1)" in header and "batch 64" not in header
    assert "0.1860" in md and "0.0110" not in md
    assert "appear to be batch-1 latencies" in md and "0.682" in md
    csv_header = T.to_csv(table).splitlines()[0].split(",")
    assert "runtime_s" in csv_header and "runtime_throughput_s" in csv_header
    assert "Runtime (s, NVIDIA H200, batch 1)" in T.to_latex(table)
    # on the CPU the header names the threads the timing ran with, as recorded
    labels = T.extra_labels(["runtime_s"], [{"device_name": "cpu", "threads": 1, "throughput_batch": 64}])
    assert labels["runtime_s"] == "Runtime (s, CPU, 1 thread, batch 1)"
    labels = T.extra_labels(["runtime_s"], [{"device_name": "cpu", "threads": 4}])
    assert labels["runtime_s"] == "Runtime (s, CPU, 4 threads, batch 1)"


def test_stablesr_rows_show_its_release_parameters_not_zero(tmp_path):
    """Without any timing record, Table II's StableSR rows carry the counts of its release's
    modules (tests/test_stablesr.py checks them against the release); never 0."""
    table = _table2(tmp_path, None)
    rows = [r for r in table["rows"] if r["method"] == "stablesr"]
    assert len(rows) == 2
    for r in rows:
        assert r["cells"]["params_M"]["mean"] == 149.91 and r["cells"]["params_frozen_M"]["mean"] == 1303.6
        assert r["cells"]["runtime_s"] is None                          # not timed: no runtime invented
    import bench.tables as T

    assert "the paper's 52.49 M is the encoder alone" in T.to_markdown(table)


def test_gpu_check_quick_prints_both_runtime_columns_on_the_cpu(monkeypatch, capsys):
    """benchmarks/gpu_check.py's Table II check, on the CPU fallback (two cheap methods)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check_under_test", path)
    gc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gc)
    monkeypatch.setattr(gc, "DEV", "cpu")
    monkeypatch.setattr(gc, "LQ_SIDE", 8)
    monkeypatch.setattr(gc, "TABLE2_CASES", [("resshift_tiny", None), ("bicubic", None)])
    gc.table2_runtimes(quick=True)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["method"] for x in lines] == ["resshift_tiny", "bicubic"]
    for x in lines:
        assert x["check"] == "table2_runtime" and "error" not in x
        assert x["latency_batch1_s"] > 0 and x["throughput_s_per_image"] > 0 and x["throughput_batch"] == 2
        assert x["device"] == "cpu" and x["input"] == "8x8" and "nfe" in x and x["peak_memory_bytes"]
