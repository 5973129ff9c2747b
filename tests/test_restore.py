"""`resshift restore`: every task end to end on tiny released-format checkpoints, input kinds,
bad input, determinism across batches."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from resshift.cli import main
from resshift.config import RELEASED_TASKS, load_config
from tiny_models import save_tiny_task

SIZES = {"realsr": (13, 20), "bicsr": (16, 16), "inpaint_imagenet": (36, 40), "inpaint_face": (40, 40),
         "faceir": (96, 96)}


@pytest.fixture(scope="module")
def tiny_tasks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_tasks")
    return {task: save_tiny_task(task, folder / task) for task in RELEASED_TASKS}


def _args(tiny_tasks, task):
    cfg, unet, ae = tiny_tasks[task]
    return ["--task", task, "--config", str(cfg), "--checkpoint", str(unet), "--autoencoder", str(ae)]


def _rgb(path, h, w, seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    shape = {"RGB": (h, w, 3), "RGBA": (h, w, 4), "L": (h, w)}[mode]
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    return path


def _mask(path, h, w, seed=1, scale=255):
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    m[h // 4: h // 2, w // 4: 3 * w // 4] = scale
    m[rng.random((h, w)) < 0.05] = scale
    Image.fromarray(m).save(path)
    return path


@pytest.mark.parametrize("task", RELEASED_TASKS)
def test_each_task_end_to_end(tmp_path, tiny_tasks, task):
    h, w = SIZES[task]
    src = _rgb(tmp_path / "photo.png", h, w)
    out = tmp_path / "out"
    extra = []
    if task.startswith("inpaint"):
        extra = ["--mask", str(_mask(tmp_path / "photo_mask.png", h, w))]
    assert main(["restore", "-i", str(src), "-o", str(out), *_args(tiny_tasks, task), "--seed", "5", *extra]) == 0
    with Image.open(out / "photo.png") as im:
        res = np.asarray(im.convert("RGB"))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["task"] == task and meta["steps"] == 4 and meta["seed"] == 5
    assert set(meta["weights_sha256"]) == {f"tiny_{task}_unet.pth", f"tiny_{task}_vq.pth"}
    if task in ("realsr", "bicsr"):
        assert res.shape == (4 * h, 4 * w, 3)
    elif task == "faceir":        # aligned crops are resized to the network's face size (its lq_size; 512 released)
        face = load_config(str(tiny_tasks[task][0]))["unet"]["params"]["lq_size"]
        assert res.shape == (face, face, 3) and meta["images"][0]["resized_to"] == [face, face]
    else:
        assert res.shape == (h, w, 3)
        known = np.asarray(Image.open(tmp_path / "photo_mask.png")) == 0
        src_arr = np.asarray(Image.open(src))
        assert np.array_equal(res[known], src_arr[known])       # known pixels pasted back exactly


def test_tensor_api_matches_files(tmp_path, tiny_tasks):
    import resshift

    cfg, unet, ae = tiny_tasks["realsr"]
    src = _rgb(tmp_path / "a.png", 16, 16)
    report = resshift.restore(str(src), "realsr", config=str(cfg), checkpoint=str(unet), autoencoder=str(ae),
                              progress=False, seed=1)
    x = torch.from_numpy(np.array(Image.open(src))).permute(2, 0, 1).float() / 255
    model = resshift.build_model(str(cfg), checkpoint=str(unet), autoencoder_checkpoint=str(ae))
    # the tensor path names images by index; the file path by stem: same stem, same noise
    report_t = resshift.restore(x[None].repeat(1, 1, 1, 1), model=model, progress=False, seed=1)
    assert report_t.shape == (1, 3, 64, 64)
    assert report.outputs["a"].shape == (3, 64, 64)


def test_same_bytes_alone_and_in_batch(tmp_path, tiny_tasks):
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(["a", "b", "c"]):
        _rgb(src / f"{name}.png", 16, 24, seed=i)
    _rgb(src / "d.png", 8, 8, seed=9)                       # another size: its own batch
    assert main(["restore", "-i", str(src), "-o", str(tmp_path / "batch"), *_args(tiny_tasks, "realsr"),
                 "--batch-size", "3"]) == 0
    assert main(["restore", "-i", str(src / "b.png"), "-o", str(tmp_path / "alone"),
                 *_args(tiny_tasks, "realsr")]) == 0
    assert (tmp_path / "batch" / "b.png").read_bytes() == (tmp_path / "alone" / "b.png").read_bytes()
    assert (tmp_path / "batch" / "a.png").read_bytes() != (tmp_path / "batch" / "b.png").read_bytes()
    meta = json.loads((tmp_path / "batch" / "meta.json").read_text())
    assert meta["batch_size"] == 3 and len(meta["images"]) == 4


def test_input_kinds(tmp_path, tiny_tasks):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(src / "deep.png"), rng.integers(0, 65536, (12, 10, 3), dtype=np.uint16))
    Image.fromarray(rng.integers(0, 65536, (8, 8), dtype=np.uint16)).save(src / "deepgray.png")
    _rgb(src / "gray.png", 8, 12, mode="L")
    rgba = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:4, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(src / "alpha.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).convert("CMYK").save(src / "cmyk.jpg")
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).convert("P").save(src / "palette.png")
    im = Image.fromarray(rng.integers(0, 256, (8, 16, 3), dtype=np.uint8))       # 16 wide, 8 high
    exif = im.getexif()
    exif[0x0112] = 6                                                            # rotate 90 cw on display
    im.save(src / "rotated.jpg", exif=exif)
    out = tmp_path / "out"
    assert main(["restore", "-i", str(src), "-o", str(out), *_args(tiny_tasks, "realsr")]) == 0

    deep = cv2.imread(str(out / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (48, 40, 3)
    with Image.open(out / "deepgray.png") as im:
        assert im.mode.startswith("I") and im.size == (32, 32)
    with Image.open(out / "gray.png") as im:
        assert im.mode == "L" and im.size == (48, 32)
    with Image.open(out / "alpha.png") as im:
        assert im.mode == "RGBA" and im.size == (32, 32)
        alpha = np.asarray(im)[..., 3]
        assert alpha[:12].max() <= 8 and alpha[20:].min() >= 247           # upscaled alpha kept aside
    with Image.open(out / "cmyk.png") as im:
        assert im.mode == "RGB" and im.size == (32, 32)
    with Image.open(out / "palette.png") as im:
        assert im.mode == "RGB"
    with Image.open(out / "rotated.png") as im:
        assert im.size == (32, 64)                                           # EXIF orientation applied


def _run_main(args, capsys):
    rc = main(args)
    err = capsys.readouterr().err
    return rc, [line for line in err.splitlines() if line.startswith("resshift: error")], err


def test_bad_inputs(tmp_path, tiny_tasks, capsys):
    realsr, inpaint = _args(tiny_tasks, "realsr"), _args(tiny_tasks, "inpaint_imagenet")
    good = _rgb(tmp_path / "good.png", 36, 40)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    text = tmp_path / "notes.png"
    text.write_text("not an image\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    small = _rgb(tmp_path / "small.png", 4, 30)
    small_mask = _mask(tmp_path / "small_mask.png", 4, 30)
    wrong_size = _mask(tmp_path / "wrong_size.png", 20, 20)
    gray_values = tmp_path / "gray_values.png"
    Image.fromarray(np.full((36, 40), 128, np.uint8)).save(gray_values)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = str(tmp_path / "o")
    cases = [
        (["-i", str(truncated), "-o", out, *realsr], "truncated.png: cannot be read as an image"),
        (["-i", str(text), "-o", out, *realsr], "notes.png: cannot be read as an image"),
        (["-i", str(empty), "-o", out, *realsr], "folder holds no images"),
        (["-i", str(good), "-o", out, *inpaint, "--mask", str(wrong_size)], "mask is 20x20 but its image is 40x36"),
        (["-i", str(good), "-o", out, *inpaint, "--mask", str(gray_values)], "mask values must be 0/1 or 0/255"),
        (["-i", str(good), "-o", str(blocker / "sub"), *realsr], "output folder is not writable"),
        (["-i", str(good), "-o", out, *realsr, "--tile", "12"], "--tile 12: must be a multiple of 8"),
        (["-i", str(good), "-o", out, *realsr, "--tile", "16", "--tile-overlap", "16"], "less than --tile 16"),
        (["-i", str(good), "-o", out, *realsr, "--precision", "fp16"], "fp16 needs --device cuda"),
        (["-i", str(good), "-o", out, *realsr, "--steps", "15"], "trained with 4 steps"),
    ]
    for args, needle in cases:
        rc, lines, err = _run_main(["restore", *args], capsys)
        assert rc == 2, (args, err)
        assert len(lines) == 1 and needle in lines[0], (needle, err)
    zero = tmp_path / "zero.png"
    zero.write_bytes(b"")
    rc, lines, err = _run_main(["restore", "-i", str(zero), "-o", out, *realsr], capsys)
    assert rc == 2 and len(lines) == 1 and "zero.png: cannot be read as an image" in lines[0], err
    # Images smaller than the padding multiple are padded by repeated reflection and cropped back.
    rc, lines, err = _run_main(["restore", "-i", str(small), "-o", out, *inpaint, "--mask", str(small_mask)], capsys)
    assert rc == 0, err
    assert Image.open(Path(out) / "small.png").size == (30, 4)
    tiny_sr = _rgb(tmp_path / "tiny_sr.png", 12, 20)
    rc, lines, err = _run_main(["restore", "-i", str(tiny_sr), "-o", out, *realsr], capsys)
    assert rc == 0, err
    assert Image.open(Path(out) / "tiny_sr.png").size == (80, 48)
    mask01 = _mask(tmp_path / "mask01.png", 36, 40, scale=1)               # 0/1 masks are fine too
    rc, lines, err = _run_main(["restore", "-i", str(good), "-o", out, *inpaint, "--mask", str(mask01)], capsys)
    assert rc == 0, err


def test_unwritable_folder_by_permission(tmp_path, tiny_tasks, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:                                   # root writes anyway: refuse as the OS would
        import tempfile

        real = tempfile.mkstemp

        def denied(*a, dir=None, **k):
            if dir is not None and os.path.samefile(dir, locked):
                raise PermissionError(13, "Permission denied", str(dir))
            return real(*a, dir=dir, **k)

        monkeypatch.setattr(tempfile, "mkstemp", denied)
    good = _rgb(tmp_path / "good.png", 8, 8)
    rc, lines, _ = _run_main(["restore", "-i", str(good), "-o", str(locked), *_args(tiny_tasks, "realsr")], capsys)
    assert rc == 2 and "not writable" in lines[0]


def test_corrupt_file_in_folder_does_not_stop_the_others(tmp_path, tiny_tasks, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _rgb(src / "a.png", 8, 8)
    (src / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _rgb(src / "c.png", 8, 12, seed=3)
    out = tmp_path / "out"
    rc, lines, _ = _run_main(["restore", "-i", str(src), "-o", str(out), *_args(tiny_tasks, "realsr")], capsys)
    assert rc == 2 and len(lines) == 1 and "b.png" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png", "meta.json"]
    assert json.loads((out / "meta.json").read_text())["errors"] == [lines[0][len("resshift: error: "):]]


def test_interrupted_write_leaves_no_partial_png(tmp_path, monkeypatch):
    from resshift.imageio import write_image

    def failing_save(self, fp, *a, **k):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        write_image(torch.rand(3, 8, 8), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_cli_subprocess_reports_one_line(tmp_path, tiny_tasks):
    """The installed entry point: a folder with a bad file exits 2 with one line, no traceback."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    _rgb(src / "ok.png", 8, 8)
    env = {**os.environ, "RESSHIFT_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "resshift.cli", "restore", "-i", str(src), "-o", str(tmp_path / "o"),
                           *_args(tiny_tasks, "realsr")], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("resshift: error")]
    assert len(lines) == 1 and "bad.jpg" in lines[0]
    assert (tmp_path / "o" / "ok.png").exists()
