"""Test-set recipes, degradations, masks, manifests, checksums and the training pipelines."""
import csv
import hashlib
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from bench import data as B
from resshift.data import degradations as D
from resshift.data.masks import MASK_KINDS, draw_mask, random_mask, render_mask
from resshift.errors import ResShiftError


def _rows(out):
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def demo_builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {name: B.build_test_set(name, out=root / name, progress=False, log=lambda m: None)
            for name in ("demo_sr", "demo_sr_val", "demo_inpaint", "demo_face")}


def test_every_recipe_loads():
    names = B.recipe_names()
    for expected in ("imagenet_test", "inpaint_imagenet_test", "inpaint_celeba_test", "celeba_test_bfr",
                     "realsr_v3", "realset80", "lfw_test", "webphoto_test", "wider_test",
                     "demo_sr", "demo_sr_val", "demo_inpaint", "demo_face"):
        assert expected in names
        recipe = B.load_recipe(expected)
        assert recipe["name"] == expected


def test_demo_sets_match_committed_checksums(demo_builds):
    for name, out in demo_builds.items():
        want = (B.RECIPES / "checksums" / f"{name}.sha256").read_text().split()
        got = B.file_checksums(out)
        assert dict(zip(want[1::2], want[0::2])) == got                  # build_test_set() also raises on mismatch
    assert len(_rows(demo_builds["demo_inpaint"])) == 36                 # 9 crops x 4 mask kinds
    assert len(_rows(demo_builds["demo_sr"])) == 25 and len(_rows(demo_builds["demo_sr_val"])) == 6
    with Image.open(demo_builds["demo_sr"] / "lq" / "chelsea_c0.png") as im:
        assert im.size == (64, 64)
    with Image.open(demo_builds["demo_face"] / "lq" / "astronaut.png") as im:
        assert im.size == (512, 512)


def test_demo_split_is_disjoint_by_source_image(demo_builds):
    """Training images, validation set and test set share no source image; every demo set draws
    from its recipe's declared part of the split, and the training images are the demo models'."""
    from resshift.config import load_config
    from resshift.demo import TRAIN_IMAGES

    def names(sources):
        return {s.split(":", 1)[1] for s in sources}

    split = B.load_recipe("demo_sr")["split"]
    train, val, test = names(split["train"]), names(split["validation"]), names(split["test"])
    assert train == set(TRAIN_IMAGES) and not (train & val or train & test or val & test)
    assert B.load_recipe("demo_sr_val")["split"] == split
    built = {name: {r["source"].split(":", 1)[1] for r in _rows(demo_builds[name])} for name in demo_builds}
    assert built["demo_sr"] == test and built["demo_sr_val"] == val
    assert not (built["demo_inpaint"] & train) and not (built["demo_face"] & set(
        load_config("demo_faceir")["data"]["images"]))
    for name in ("demo_realsr", "demo_ldm", "demo_inpaint"):          # the trainings use the default images
        assert "images" not in (load_config(name).get("data") or {})


def test_tiles_are_centre_first_non_overlapping_crops(demo_builds):
    boxes = B.tile_boxes(872, 1000, 256)                  # hubble_deep_field: a centred 3 x 3 grid
    assert len(boxes) == 9 and boxes[0] == (308, 372)     # the centre tile first
    assert sorted(boxes) == [(52 + 256 * i, 116 + 256 * j) for i in range(3) for j in range(3)]
    rows = _rows(demo_builds["demo_sr"])
    assert [r["sample"] for r in rows if r["source"].endswith("retina")] == [f"retina_c{k}" for k in range(9)]
    from resshift.demo import packaged_array

    gt = np.asarray(Image.open(demo_builds["demo_sr"] / "gt" / "hubble_deep_field_c0.png"))
    assert np.array_equal(gt, packaged_array("hubble_deep_field")[308:564, 372:628])
    with pytest.raises(ResShiftError, match="smaller than one 256x256 tile"):
        B.tile_boxes(200, 300, 256)


def test_manifest_parameters_rebuild_the_lq_bytes(demo_builds):
    for name in ("demo_sr", "demo_face", "demo_inpaint"):
        recipe = B.load_recipe(name)
        for row in _rows(demo_builds[name]):
            lq = B.reapply(recipe, row)
            assert hashlib.sha256(B.png_bytes(lq)).hexdigest() == row["sha256_lq"], (name, row["sample"])


@pytest.mark.slow
def test_worker_count_and_limit_do_not_change_bytes(demo_builds, tmp_path):
    two = B.build_test_set("demo_inpaint", out=tmp_path / "two", workers=2, progress=False, log=lambda m: None)
    assert B.file_checksums(two) == B.file_checksums(demo_builds["demo_inpaint"])
    first = B.build_test_set("demo_sr", out=tmp_path / "first", limit=2, progress=False, log=lambda m: None)
    full = B.file_checksums(demo_builds["demo_sr"])
    assert all(full[k] == v for k, v in B.file_checksums(first).items()) and len(B.file_checksums(first)) == 4


def test_rerun_verifies_and_does_nothing(tmp_path):
    logs = []
    out = B.build_test_set("demo_face", out=tmp_path / "f", progress=False, log=logs.append)
    stamp = (out / "lq" / "astronaut.png").stat().st_mtime_ns
    B.build_test_set("demo_face", out=out, progress=False, log=logs.append)
    assert "up to date" in logs[-1] and (out / "lq" / "astronaut.png").stat().st_mtime_ns == stamp
    (out / "lq" / "astronaut.png").write_bytes(b"tampered")
    B.build_test_set("demo_face", out=out, progress=False, log=logs.append)
    assert any("differ" in m for m in logs)
    assert B.verify(out)[1] == []


def test_sr_parameters_stay_in_recipe_ranges():
    cfg = B.load_recipe("imagenet_test")["degradation"]
    kinds, noises = set(), set()
    for i in range(2000):
        p = D.draw_realesrgan_first_order(np.random.default_rng(i), cfg)
        kinds.add(p["kernel"])
        noises.add(p["noise"])
        if p["kernel"] == "sinc":
            assert math.pi / 3 <= p["sinc_cutoff"] <= math.pi
        else:
            assert 0.2 <= p["sigma_x"] <= 0.8 and 0.2 <= p["sigma_y"] <= 0.8
        assert 0.5 <= p["resize_scale"] <= 1.5 and p["resize_mode"] in D.INTERP_MODES
        if p["noise"] == "gaussian":
            assert 1 <= p["noise_sigma"] <= 15
        else:
            assert 0.05 <= p["noise_scale"] <= 0.3
        assert 70 <= p["jpeg_quality"] <= 95 and 80 <= p["final_jpeg_quality"] <= 100
    assert kinds == {"iso", "aniso", "sinc"} and noises == {"gaussian", "poisson"}
    gt = np.random.default_rng(0).random((256, 256, 3)).astype(np.float32)
    lq = D.apply_realesrgan_first_order(gt, D.draw_realesrgan_first_order(np.random.default_rng(1), cfg), cfg)
    assert lq.shape == (64, 64, 3) and lq.dtype == np.uint8


def test_face_parameters_stay_in_recipe_ranges():
    cfg = B.load_recipe("celeba_test_bfr")["degradation"]
    for i in range(1000):
        p = D.draw_face_test(np.random.default_rng(i), cfg)
        assert 4 <= p["sigma_x"] <= 16 and 4 <= p["sigma_y"] <= 16 and 0 <= p["theta"] <= math.pi
        assert 1 <= p["downscale"] <= 32 and 1 <= p["noise_sigma"] <= 20 and 30 <= p["jpeg_quality"] <= 70


def test_masks_have_their_coverage():
    """Shapes and bounds of every kind at the recipes' settings (the release's generators'
    meanings; coverage against the release itself: tests/test_release_masks.py)."""
    cfg = B.load_recipe("inpaint_imagenet_test")["masks"]["settings"]
    cover = {k: [] for k in MASK_KINDS}
    for i in range(200):
        for kind in MASK_KINDS:
            p = draw_mask(kind, np.random.default_rng(i), 256, 256, cfg.get(kind))
            m = render_mask(p, 256, 256)
            assert set(np.unique(m)) <= {0, 1}
            cover[kind].append(m.mean())
            if kind == "box":
                assert 1 <= len(p["boxes"]) <= 4
                for top, left, bh, bw in p["boxes"]:
                    assert 30 <= bh <= 150 and 30 <= bw <= 150
                    assert top >= 10 and left >= 10 and top + bh <= 246 and left + bw <= 246
                assert m[:10].sum() == 0 and m[:, -10:].sum() == 0
            if kind == "irregular":
                assert 1 <= len(p["strokes"]) <= 6
    assert all(c == 0.5 for c in cover["half"])
    assert all(c == 0.75 for c in cover["expand"])                   # masking_percent 0.5 masks 75 %
    assert 0.01 < np.mean(cover["box"]) < 0.5 and min(cover["box"]) > 0
    assert 0.05 < np.mean(cover["irregular"]) < 0.9 and min(cover["irregular"]) > 0
    assert 0.03 <= min(cover["outpaint"]) and max(cover["outpaint"]) < 0.95


def test_inpaint_groups_of_500():
    recipe = B.load_recipe("inpaint_imagenet_test")
    rows = B.plan(recipe, [f"/x/{i:05d}.JPEG" for i in range(2000)])
    kinds = [r["mask_kind"] for r in rows]
    assert [kinds.count(k) for k in ("box", "irregular", "expand", "half")] == [500] * 4


def test_selection_is_a_rule_on_names_not_layout(tmp_path):
    recipe = {**B.load_recipe("imagenet_test"), "select": {"method": "sha256", "count": 3000, "seed": 10000}}
    names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 5001)]
    flat = B.select(recipe, [f"/a/{n}" for n in names])
    nested = B.select(recipe, [f"/b/{i % 7}/sub/{n}" for i, n in enumerate(names)][::-1])
    assert [p.rsplit("/", 1)[1] for p in flat] == [p.rsplit("/", 1)[1] for p in nested]
    assert len(flat) == 3000


def test_external_source_errors_and_corrupt_images(tmp_path):
    with pytest.raises(ResShiftError, match="data.sources.imagenet_val"):
        B.build_test_set("imagenet_test", out=tmp_path / "o", progress=False)
    few = tmp_path / "few"
    few.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(few / "a.png")
    with pytest.raises(ResShiftError, match="holds 1 images, fewer than 3000"):
        B.build_test_set("imagenet_test", source=few, out=tmp_path / "o", progress=False)
    with pytest.raises(ResShiftError, match="no such folder"):
        B.build_test_set("realset80", source=tmp_path / "missing", out=tmp_path / "o", progress=False)
    recipe = {**B.load_recipe("realset80"), "source": {"min_images": 2, "expect": "photos"}}
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(few / "b.png")
    (few / "c.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    warnings = []
    out = B.build_test_set(recipe, source=few, out=tmp_path / "real", progress=False, log=warnings.append)
    rows = {r["sample"]: r for r in _rows(out)}
    assert rows["c"]["status"].startswith("skipped") and rows["a"]["status"] == "ok"
    assert any("c.jpg" in w for w in warnings) and (out / "lq" / "b.png").is_file()


def test_prebuilt_set_is_validated_and_used_as_is(tmp_path):
    recipe = {**B.load_recipe("imagenet_test")}
    recipe["prebuilt"] = {**recipe["prebuilt"], "count": 2}
    pre = tmp_path / "pre"
    for part, size in (("gt", 256), ("lq", 64)):
        (pre / part).mkdir(parents=True)
        for name in ("x", "y"):
            Image.fromarray(np.full((size, size, 3), 9, np.uint8)).save(pre / part / f"{name}.png")
    out = B.import_prebuilt(recipe, pre, tmp_path / "out", log=lambda m: None)
    assert (out / "lq" / "x.png").read_bytes() == (pre / "lq" / "x.png").read_bytes()
    assert B.verify(out) == (4, [])
    (pre / "lq" / "y.png").rename(pre / "lq" / "z.png")
    with pytest.raises(ResShiftError, match="do not match"):
        B.import_prebuilt(recipe, pre, tmp_path / "out2")


def test_cli_data_build_and_list(tmp_path, capsys):
    from bench.cli import main

    assert main(["data", "list"]) == 0
    assert "imagenet_test" in capsys.readouterr().out
    assert main(["data", "build", "imagenet_test", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--source" in err and "image-net.org" in err


def test_training_pipelines_on_a_batch():
    from resshift.data.training import RealESRGANDegradation, face_degradation

    hq = torch.rand(3, 3, 64, 64)
    deg = RealESRGANDegradation()
    lq = deg(hq, np.random.default_rng(0))
    assert lq.shape == (3, 3, 16, 16) and lq.min() >= 0 and lq.max() <= 1
    assert torch.equal(lq, deg(hq, np.random.default_rng(0)))                 # seeded per call
    face = face_degradation(np.random.default_rng(0).random((64, 64, 3)).astype(np.float32), np.random.default_rng(1))
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    m, p = random_mask(np.random.default_rng(0), 64, 64,
                       cfg={"box": {"margin": 2, "size": [8, 20]}, "irregular": {"max_len": 30, "max_width": 10}})
    assert m.shape == (64, 64) and p["kind"] in MASK_KINDS
    assert json.dumps(p)                                                        # parameters are recordable


@pytest.mark.slow
def test_manifest_parameters_in_range_over_many_samples(tmp_path):
    """Build 150 samples of an imagenet_test-style set from a folder and check every drawn
    parameter in manifest.csv against the recipe."""
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(150):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(src / f"val_{i:04d}.png")
    recipe = B.load_recipe("imagenet_test")
    recipe["select"] = {"method": "release", "layout": "as_is", "count": 150, "seed": 10000}
    recipe["gt"] = {"resize_short": 32, "crop": 32}
    cfg = recipe["degradation"]
    out = B.build_test_set(recipe, source=src, out=tmp_path / "out", progress=False, log=lambda m: None)
    rows = _rows(out)
    assert len(rows) == 150 and len({r["seed"] for r in rows}) == 150          # one seed per sample
    for r in rows:
        assert int(r["p_kernel_size"]) in cfg["kernel_range"]
        if r["p_kernel"] == "sinc":
            assert math.pi / 3 <= float(r["p_sinc_cutoff"]) <= math.pi
        else:
            assert r["p_kernel"] in cfg["kernel_list"]
            assert all(cfg["blur_sigma"][0] <= float(r[k]) <= cfg["blur_sigma"][1] for k in ("p_sigma_x", "p_sigma_y"))
        assert cfg["resize_range"][0] <= float(r["p_resize_scale"]) <= cfg["resize_range"][1]
        if r["p_noise"] == "gaussian":
            assert cfg["noise_range"][0] <= float(r["p_noise_sigma"]) <= cfg["noise_range"][1]
        else:
            assert cfg["poisson_scale_range"][0] <= float(r["p_noise_scale"]) <= cfg["poisson_scale_range"][1]
        assert cfg["jpeg_range"][0] <= float(r["p_jpeg_quality"]) <= cfg["jpeg_range"][1]
        assert cfg["final_jpeg_range"][0] <= float(r["p_final_jpeg_quality"]) <= cfg["final_jpeg_range"][1]
    kinds = [r["p_kernel"] for r in rows]
    assert 0.35 < kinds.count("iso") / len(kinds) < 0.75                         # iso/aniso 0.6/0.4 after sinc 0.1
    with Image.open(out / "lq" / f"{rows[0]['sample']}.png") as im:
        assert im.size == (8, 8)
