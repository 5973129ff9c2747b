"""Tables from fixture per-image CSVs: shape, best/second marks, verdicts, provenance; timing."""
import csv
import json

import numpy as np
import pytest

from bench import tables as T


def _metrics(results, dataset, method, steps, cols, n=20, seed=0, shift=0.0, set_values=None):
    rng = np.random.default_rng(seed)
    path = results / "metrics" / dataset / f"{method}-{steps}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", *cols])
        for i in range(n):
            w.writerow([f"img{i:03d}", *[cols[c] + shift + 0.01 * rng.standard_normal() for c in cols]])
    if set_values:
        path.with_name(path.name + ".json").write_text(json.dumps({"set": set_values}))


def _dataset(results, name, prebuilt):
    d = results / "data" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "build.json").write_text(json.dumps({"recipe": name, **({"prebuilt": "/x"} if prebuilt else {})}))
    (d / "manifest.csv").write_text("sample\n")


def test_table2_marks_verdicts_and_provenance(tmp_path):
    _dataset(tmp_path, "imagenet_test", prebuilt=True)
    # ResShiftL reproduces the paper (25.02, 0.683, 0.208) within tolerance; LDM-15 does not
    _metrics(tmp_path, "imagenet_test", "resshift", 4, {"psnr": 25.02, "ssim": 0.683, "lpips": 0.208}, n=200)
    _metrics(tmp_path, "imagenet_test", "ldm", 15, {"psnr": 24.0, "ssim": 0.60, "lpips": 0.30})
    _metrics(tmp_path, "imagenet_test", "bsrgan", -1, {"psnr": 24.42, "ssim": 0.659, "lpips": 0.259})
    (tmp_path / "timing").mkdir()
    (tmp_path / "timing" / "resshift-4.json").write_text(json.dumps(
        {"latency_batch1_s": 0.19, "throughput_s_per_image": 0.011, "throughput_batch": 64, "device_name": "NVIDIA H200",
         "seconds_per_image": 0.19, "params_trainable_M": 118.59, "params_frozen_M": 55.32}))
    restored = tmp_path / "restored" / "imagenet_test" / "resshift-4"
    restored.mkdir(parents=True)
    (restored / "meta.json").write_text(json.dumps({"weights_sha256": {"v3.pth": "abc"}, "device": "cuda:0"}))
    table = T.compute_table(2, tmp_path)
    assert table["columns"] == ["PSNR", "SSIM", "LPIPS", "runtime_s", "params_M", "params_frozen_M"]
    assert [r["label"] for r in table["rows"]][-2:] == ["ResShift 15", "ResShiftL 4"]
    row = table["rows"][-1]
    assert row["reproduction"] and row["cells"]["PSNR"]["verdict"] == "match"
    assert row["cells"]["PSNR"]["paper"] == 25.02 and abs(row["cells"]["PSNR"]["diff"]) < 0.05
    lo, hi = row["cells"]["PSNR"]["ci_low"], row["cells"]["PSNR"]["ci_high"]
    assert lo < row["cells"]["PSNR"]["mean"] < hi
    assert row["cells"]["params_M"]["mean"] == 118.59
    ldm = next(r for r in table["rows"] if r["method"] == "ldm" and r["steps"] == 15)
    assert ldm["cells"]["PSNR"]["verdict"] == "differs"
    assert table["rows"][0]["cells"]["PSNR"] is None                       # ESRGAN: no metrics file
    assert table["provenance"]["weights_sha256"] == {"resshift-4/v3.pth": "abc"} and table["provenance"]["devices"] == ["cuda:0"]
    assert "torch" in table["provenance"]["versions"] and table["provenance"]["dataset_manifests"]["imagenet_test"]
    md = T.to_markdown(table)
    assert "**25.02" in md and "<u>24.4" in md                             # best and second PSNR
    assert "**0.20" in md                                                   # LPIPS: lower is better
    tex = T.to_latex(table)
    assert r"\textbf{25.02}" in tex and r"\underline{24.42}" in tex
    paths = T.write(2, tmp_path)
    assert [p.name for p in paths] == ["table2.csv", "table2.md", "table2.tex"]
    rows = list(csv.DictReader(open(paths[0])))
    assert len(rows) == 12 and rows[-1]["PSNR_verdict"] == "match"


def test_rows_that_are_not_reproductions_get_no_paper_value(tmp_path):
    _dataset(tmp_path, "imagenet_test", prebuilt=False)                    # our own draws
    _metrics(tmp_path, "imagenet_test", "resshift", 4, {"psnr": 25.02, "ssim": 0.683, "lpips": 0.208})
    table = T.compute_table(2, tmp_path)
    row = table["rows"][-1]
    assert not row["reproduction"] and "prebuilt" in row["note"]
    assert "paper" not in row["cells"]["PSNR"]
    _metrics(tmp_path, "demo_sr", "resshift", 4, {"psnr": 21.0, "ssim": 0.5, "lpips": 0.4})
    demo = T.compute_table(2, tmp_path, dataset_map={"imagenet_test": "demo_sr"})
    assert demo["rows"][-1]["note"] == "demo data" and demo["rows"][-1]["cells"]["PSNR"]["mean"] == pytest.approx(21, abs=0.01)
    run = T.compute_table(1, tmp_path)
    assert all("retrained" in r["note"] for r in run["rows"])


def test_inpainting_table_per_mask_kind(tmp_path):
    d = tmp_path / "data" / "inpaint_imagenet_test"
    d.mkdir(parents=True)
    (d / "build.json").write_text(json.dumps({"prebuilt": "/x"}))
    kinds = ["box", "irregular", "expand", "half"]
    with open(d / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sample", "mask_kind"])
        for i in range(40):
            w.writerow([f"img{i:03d}", kinds[i // 10]])
    path = tmp_path / "metrics" / "inpaint_imagenet_test" / "lama--1.csv"
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "lpips", "clipiqa"])
        for i in range(40):
            w.writerow([f"img{i:03d}", 0.1 * (i // 10 + 1), 0.4])
    table = T.compute_table(4, tmp_path)
    assert table["columns"][:2] == ["Box_LPIPS", "Box_CLIPIQA"] and table["columns"][-1] == "Average_CLIPIQA"
    lama = next(r for r in table["rows"] if r["method"] == "lama")
    assert lama["cells"]["Box_LPIPS"]["mean"] == pytest.approx(0.1)
    assert lama["cells"]["Half_LPIPS"]["mean"] == pytest.approx(0.4)
    assert lama["cells"]["Average_LPIPS"]["mean"] == pytest.approx(0.25)
    assert lama["cells"]["Box_LPIPS"]["paper"] == 0.1158                   # LaMa's paper value


def test_paper_values_of_every_table_load():
    for n in range(1, 8):
        values = T.paper_values(n)
        assert any(values.values()), n
    assert T.paper_values(6)[7]["FID-G"] == 17.84
    assert T.paper_values(3)[11]["realset80_MUSIQ"] == 61.017


def test_timing_record_counts_parameters(tmp_path):
    from bench.timing import time_method, write_timing

    rec = time_method("resshift_tiny", size=8, repeats=1, warmup=0, throughput_batch=2)
    assert rec["throughput_batch"] == 2 and rec["output"] == "32x32" and rec["latency_batch1_s"] > 0
    assert rec["params_trainable_M"] > 0 and rec["params_frozen_M"] == 0
    assert json.loads(write_timing(rec, tmp_path).read_text())["method"] == "resshift_tiny"


def test_a_new_method_joins_the_comparison_tables_but_not_the_ablation(tmp_path):
    _dataset(tmp_path, "imagenet_test", prebuilt=True)
    _metrics(tmp_path, "imagenet_test", "my_sr", -1, {"psnr": 23.5, "ssim": 0.6, "lpips": 0.3})
    _metrics(tmp_path, "imagenet_test", "bicubic", -1, {"psnr": 22.0, "ssim": 0.55, "lpips": 0.5})
    rows = T.compute_table(2, tmp_path)["rows"]
    added = [r for r in rows if r["method"] in ("my_sr", "bicubic")]
    assert [(r["label"], r["steps"]) for r in added] == [("Bicubic", -1), ("my_sr", -1)]
    assert added[1]["cells"]["PSNR"]["mean"] == pytest.approx(23.5, abs=0.01) and "paper" not in added[1]["cells"]["PSNR"]
    assert not any(r["method"] == "my_sr" for r in T.compute_table(1, tmp_path)["rows"])


def test_config_rows_and_metrics_replace_the_paper_columns_and_unavailable_metrics_say_why(tmp_path):
    """The workflow's demo table: its own rows (trained runs), extra metrics, and an empty metric
    column carries the reason the metrics command recorded."""
    _metrics(tmp_path, "demo_sr", "bicubic", -1, {"psnr": 27.3, "ssim": 0.70, "niqe": 7.0})
    _metrics(tmp_path, "demo_sr", "resshift@demo_t4", 4, {"psnr": 27.6, "ssim": 0.72, "niqe": 6.0})
    _metrics(tmp_path, "demo_sr", "someone_else", -1, {"psnr": 30.0, "ssim": 0.9, "niqe": 3.0})
    for method, steps in (("bicubic", -1), ("resshift@demo_t4", 4)):
        notes = tmp_path / "metrics" / "demo_sr" / f"{method}-{steps}.csv.json"
        notes.write_text(json.dumps({"unavailable": {"lpips": "weights missing: alex.pth"}, "set": {}}))
    rows = [("bicubic", -1), ("resshift@demo_t4", 4)]
    (tmp_path / "models" / "demo_t4").mkdir(parents=True)
    (tmp_path / "models" / "demo_t4" / "config.yaml").write_text("loss: {mse: 1.0, lpips_vgg: 0.0}\n")
    table = T.compute_table(2, tmp_path, {"imagenet_test": "demo_sr"}, rows=rows, metrics=["psnr", "ssim", "lpips", "niqe"])
    assert [(r["method"], r["steps"]) for r in table["rows"]] == rows           # no added rows
    assert table["columns"][:4] == ["PSNR", "SSIM", "LPIPS", "NIQE"]
    assert table["lower_better"]["NIQE"] and not table["lower_better"]["PSNR"]
    assert table["rows"][1]["label"] == "ResShift (demo_t4)" and table["rows"][1]["note"].startswith("retrained")
    assert table["rows"][1]["cells"]["PSNR"]["mean"] == pytest.approx(27.6, abs=0.01)
    assert table["rows"][0]["cells"]["LPIPS"] is None
    assert table["rows"][0]["unavailable"]["LPIPS"] == "lpips: weights missing: alex.pth"
    csv_text = T.to_csv(table)
    assert "LPIPS_unavailable" in csv_text.splitlines()[0] and "lpips: weights missing: alex.pth" in csv_text
    md = T.to_markdown(table)
    assert "n/a‡" in md and "‡ unavailable: lpips: weights missing: alex.pth." in md
    assert "| ResShift (demo_t4)† | 4 | **27.60" in md
    # the title names the set used and its size (crops: its recipe cuts tiles); the .tex keeps
    # the title and the footnotes
    assert table["title"] == "x4 SR on demo_sr (standing in for ImageNet-Test)"      # no built set: no count
    assert md.startswith("### Table 2: x4 SR on demo_sr (standing in for ImageNet-Test)")
    (tmp_path / "data" / "demo_sr").mkdir(parents=True)
    with open(tmp_path / "data" / "demo_sr" / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows([["sample", "source", "tile"]] + [[f"a_c{k}", "skimage:a", f"0,{k},256"] for k in range(3)])
    table = T.compute_table(2, tmp_path, {"imagenet_test": "demo_sr"}, rows=rows, metrics=["psnr", "ssim", "lpips", "niqe"])
    assert table["title"] == "x4 SR on demo_sr, 3 crops (standing in for ImageNet-Test)"
    tex = T.to_latex(table)
    assert tex.startswith("% Table 2: x4 SR on demo_sr, 3 crops (standing in for ImageNet-Test)")
    assert "Table 2: x4 SR on demo\\_sr, 3 crops (standing in for ImageNet-Test). Bold: best" in tex
    assert r"$^\dagger$ not a reproduction" in tex and r"$^\ddagger$ unavailable: lpips: weights missing" in tex
    # a retrained LDM predicting x_0 is labelled so
    (tmp_path / "models" / "demo_ldm").mkdir(parents=True)
    (tmp_path / "models" / "demo_ldm" / "config.yaml").write_text("diffusion: {kind: eps, prediction: sample}\n")
    assert T.row_label("ldm_retrained@demo_ldm", tmp_path) == "LDM (x0-pred., same budget) (demo_ldm)"
    (tmp_path / "models" / "demo_ldm" / "config.yaml").write_text("diffusion: {kind: eps}\n")
    assert T.row_label("ldm_retrained@demo_ldm", tmp_path) == "LDM (retrained, same budget) (demo_ldm)"


def test_rows_not_run_here_are_named_with_the_reason(tmp_path, monkeypatch):
    """A paper row that cannot run here (no adapter; weights missing offline) stays in the table
    as "not run" with its reason, without numbers, ranks or a paper comparison."""
    import baselines

    monkeypatch.setenv("RESSHIFT_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(baselines.UNAVAILABLE, "closedface", baselines.base.Unavailable(
        "closedface", "face", "ClosedFace", "code not released", "example.org/closedface"))
    _metrics(tmp_path, "demo_face", "lq_input", -1, {"psnr": 18.7, "ssim": 0.57})
    rows = [("lq_input", -1), ("closedface", -1), ("gfpgan", -1)]
    not_run = {(m, s): baselines.why_not_runnable(m, offline=True) for m, s in rows[1:]}
    assert not_run[("closedface", -1)] == "not available: code not released (release: example.org/closedface)"
    assert not_run[("gfpgan", -1)] == ("weights missing offline: GFPGANv1.3.pth "
                                       "(https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.3.pth)")
    assert baselines.why_not_runnable("gfpgan", offline=False) is None
    assert baselines.why_not_runnable("lq_input", offline=True) is None
    table = T.compute_table(6, tmp_path, {"celeba_test_bfr": "demo_face"}, rows=rows, metrics=["psnr", "ssim"],
                    not_run=not_run)
    assert [r["label"] for r in table["rows"]] == ["LQ input", "ClosedFace", "GFPGAN"]
    assert all(c is None for c in table["rows"][2]["cells"].values())
    assert table["rows"][0]["cells"]["PSNR"]["mean"] == pytest.approx(18.7, abs=0.01)
    md = T.to_markdown(table)
    assert "| ClosedFace§ |  | not run§ |" in md and "§ GFPGAN (gfpgan) not run: weights missing offline: GFPGANv1.3.pth" in md
    assert "**18.70" in md                                        # ranks only among the rows that ran
    header, *lines = T.to_csv(table).splitlines()
    assert "not_run" in header.split(",") and "not available" in lines[1]


def test_face_table_states_definitions_ids_exclusions_and_small_fid_sets(tmp_path):
    """Table VI gains LPIPS-VGG; each metric's definition (with the crop_border the metrics file
    recorded) is printed under the table; IDS leaves pairs under 1 degree out and says how many;
    FID on fewer than 2048 images carries a warning."""
    _dataset(tmp_path, "celeba_test_bfr", prebuilt=True)
    cols = {"psnr": 21.0, "ssim": 0.6, "lpips": 0.3, "lpips_vgg": 0.35, "ids": 40.0, "lmd": 3.0}
    _metrics(tmp_path, "celeba_test_bfr", "vqfr", -1, cols, n=30, set_values={"fid_f": 25.0, "fid_g": 30.0})
    path = tmp_path / "metrics" / "celeba_test_bfr" / "vqfr--1.csv"
    rows = list(csv.DictReader(path.read_text().splitlines()))
    rows[0]["ids"], rows[1]["ids"] = "0.4", "0.9"                           # two near-identical pairs
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    notes = {"set": {"fid_f": 25.0, "fid_g": 30.0}, "set_n": {"fid_f": 30, "fid_g": 30},
             "definitions": {"psnr": "basicsr calculate_psnr, Y of YCbCr (BT.601), 8-bit (= psnr_y), crop_border=4"}}
    path.with_name(path.name + ".json").write_text(json.dumps(notes))
    table = T.compute_table(6, tmp_path)
    assert "LPIPS-VGG" in table["columns"]
    row = next(r for r in table["rows"] if r["method"] == "vqfr")
    ids = row["cells"]["IDS"]
    assert ids["n"] == 28 and ids["excluded"] == 2
    assert ids["mean"] == pytest.approx(np.mean([float(r["ids"]) for r in rows[2:]]))
    assert row["cells"]["FID-G"]["n"] == 30
    md = T.to_markdown(table)
    assert "PSNR: basicsr calculate_psnr, Y of YCbCr (BT.601), 8-bit (= psnr_y), crop_border=4." in md
    assert "LPIPS-VGG: lpips package LPIPS(net='vgg')" in md and "IDS: VQFR calculate_cos_dist.py" in md
    assert "VQFR IDS: 2 pair(s) under 1 degree left out of the mean (VQFR's rule), mean over 28" in md
    assert "VQFR FID-G: 30 images (< 2048)" in md and "VQFR FID-F: 30 images (< 2048)" in md
    assert "% warning: VQFR FID-G: 30 images" in T.to_latex(table)
