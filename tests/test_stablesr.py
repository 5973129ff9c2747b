"""StableSR: parameter counts from the release's modules; one worker process per folder.

``fixtures/stablesr/stablesr_params.json`` was produced outside the project by building the
release's own modules (github.com/IceClear/StableSR at d0e8e0df6c207e55c44e61eb111f932d6f487978,
``ldm.util.instantiate_from_config``) from ``configs/stableSRNew/v2-finetune_text_T_512.yaml`` and
``configs/autoencoder/autoencoder_kl_64x64x4_resi.yaml`` at full size, parameters on the meta
device (accelerate.init_empty_weights), and splitting them as ``sr_val_ddpm_text_T_vqganfin_old.py``
does (trainable: names with ``spade`` or ``structcond_stage_model``, plus the CFW ``fusion_layer``;
frozen: every other parameter of the diffusion model). Patched to run offline on a CPU:
pytorch_lightning, clip, kornia, taming and ldm.modules.encoders.transformer_utils are stand-in
modules (names only), torchvision's old ``functional_tensor`` path points at the new one, OpenCLIP
is built with ``pretrained=None``, and the CFW autoencoder's training loss is ``nn.Identity`` (the
script's count skips it). No weights are involved: the counts depend on shapes only.
"""
import json
import sys
from pathlib import Path

import pytest
import torch

import baselines as B
from resshift.errors import ResShiftError

FIXTURE = Path(__file__).parent / "fixtures" / "stablesr" / "stablesr_params.json"


def test_stablesr_parameter_counts_are_the_releases():
    from baselines.stablesr import STABLESR_COMMIT, STABLESR_PARAMS

    rec = json.loads(FIXTURE.read_text())
    assert rec["commit"] == STABLESR_COMMIT
    by = rec["ldm_by_top_module"]
    assert STABLESR_PARAMS == {"structcond_encoder": by["structcond_stage_model"], "unet_sft_layers": by["model(spade)"],
                               "cfw_fusion_layers": rec["cfw_fusion_layers"], "sd21_unet": by["model"],
                               "openclip_text_encoder": by["cond_stage_model"], "autoencoder": by["first_stage_model"]}
    assert rec["cfw_autoencoder_other"] == by["first_stage_model"]      # the CFW autoencoder's frozen part: same size
    params = B.get("stablesr").declared_params()
    assert params == {"trainable": rec["trainable_script"], "frozen": rec["frozen_script"]}
    assert round(by["structcond_stage_model"] / 1e6, 2) == 52.49        # the paper's trainable figure


STAND_IN = r'''
import argparse, os, time
from PIL import Image
from tqdm import trange
p = argparse.ArgumentParser()
for a in ['--config', '--ckpt', '--vqgan_ckpt', '--init-img', '--outdir', '--ddpm_steps', '--dec_w',
          '--colorfix_type', '--input_size', '--seed', '--n_samples']:
    p.add_argument(a)
o = p.parse_args()
assert o.dec_w == '0.5' and o.colorfix_type == 'adain' and o.input_size == '512'
def load(ckpt):                      # plays the release's load_model_from_config
    with open(os.environ['STANDIN_LOG'], 'a') as f:
        f.write(f'{os.getpid()} load {os.path.basename(ckpt)}\n')
    time.sleep(0.6)
load(o.vqgan_ckpt)
load(o.ckpt)
os.makedirs(o.outdir, exist_ok=True)
files = sorted(os.listdir(o.init_img))
n = int(o.n_samples)
batches = [files[i:i + n] for i in range(0, len(files), n)]
for k in trange(len(batches)):
    for f in batches[k]:
        Image.open(os.path.join(o.init_img, f)).convert('RGB').resize((32, 32)).save(
            os.path.join(o.outdir, os.path.splitext(f)[0] + '.png'))
'''


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """A StableSR checkout whose script loads two "checkpoints" (logged, 0.6 s each) and writes its
    outputs batch by batch in a trange loop, as the release's does (32x32 rather than 512x512, to
    keep the loop fast on a busy CPU; the adapter resizes either to x4); stand-in weight files."""
    from baselines.stablesr import SCRIPT

    repo = tmp_path / "StableSR"
    (repo / "scripts").mkdir(parents=True)
    (repo / SCRIPT).write_text(STAND_IN)
    weights = tmp_path / "home" / "baselines"
    weights.mkdir(parents=True)
    monkeypatch.setenv("RESSHIFT_HOME", str(tmp_path / "home"))
    for spec in B.get("stablesr").weights:
        (weights / spec.file).write_bytes(b"stand-in")
    log = tmp_path / "loads.log"
    monkeypatch.setenv("STANDIN_LOG", str(log))
    return repo, log


def _images(folder: Path, n: int, side: int = 16) -> list[Path]:
    from resshift.imageio import write_image

    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        write_image(torch.rand(3, side, side, generator=g), folder / f"img{i:02d}.png")
    return sorted(folder.glob("*.png"))


def test_stablesr_worker_loads_the_checkpoints_once_for_a_whole_folder(stand_in, tmp_path):
    from bench.run import run_method

    repo, log = stand_in
    data = tmp_path / "set"
    _images(data / "lq", 5)
    out = run_method("stablesr", data, tmp_path / "out", steps=4, progress=False,
                     options={"repo": str(repo), "python": sys.executable, "batch": 2})
    loads = log.read_text().splitlines()
    assert len(loads) == 2 and len({line.split()[0] for line in loads}) == 1      # one process, each file once
    assert sorted(line.split()[2] for line in loads) == ["stablesr_000117.ckpt", "vqgan_cfw_00011.ckpt"]
    assert sorted(p.name for p in out.glob("img*.png")) == [f"img{i:02d}.png" for i in range(5)]
    from resshift.imageio import read_image

    assert read_image(out / "img00.png")[0].shape == (3, 64, 64)                   # resized to x4 of 16
    meta = json.loads((out / "meta.json").read_text())
    timing = meta["inside_timing"]
    assert timing["processes"] == 1 and [b["images"] for b in timing["batches"]] == [2, 2, 1]
    assert timing["startup_seconds"] >= 1.2                                          # the two loads, apart
    assert sum(b["seconds"] for b in timing["batches"]) < timing["startup_seconds"]   # runtime without them
    assert meta["params"] == B.get("stablesr").declared_params()


def test_stablesr_restore_reports_its_inside_time_and_params(stand_in):
    from baselines.stablesr import SCRIPT, WORKER

    repo, log = stand_in
    method = B.load_restorer("stablesr", steps=4, repo=str(repo), python=sys.executable, batch=3)
    cmd = method.command(Path("IN"), Path("OUT"), 9, 3, Path("T.json"))
    assert cmd[:4] == [sys.executable, str(WORKER), "T.json", SCRIPT] and cmd[cmd.index("--ddpm_steps") + 1] == "4"
    lq = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = method.restore(lq, generator=torch.Generator().manual_seed(1))
    assert out.shape == (3, 3, 64, 64) and 0 <= out.min() and out.max() <= 1
    assert 0 < method.last_seconds < 1.2 and len(log.read_text().splitlines()) == 2
    assert method.params()["trainable"] > 0 and method.params()["frozen"] > 0
    with pytest.raises(ResShiftError, match="batch=0"):
        B.load_restorer("stablesr", steps=4, repo=str(repo), python=sys.executable, batch=0)
    bad = B.load_restorer("stablesr", steps=4, repo=str(repo), python=sys.executable)
    bad.python = [sys.executable, "-c", "import sys; sys.stderr.write('CUDA unavailable'); sys.exit(3)"]
    with pytest.raises(ResShiftError, match="exit 3.*CUDA unavailable"):
        bad.restore(lq)


@pytest.mark.slow
def test_stablesr_timing_uses_the_workers_clock_and_declared_counts(stand_in):
    """`resshift-bench time stablesr`: runtime is the release's sampling loop as the worker timed
    it (each call starts a process that sleeps 1.2 s loading; none of that is counted)."""
    from bench.timing import time_method

    repo, log = stand_in
    rec = time_method("stablesr", steps=4, size=16, repeats=1, warmup=0, throughput_batch=2,
                      options={"repo": str(repo), "python": sys.executable, "batch": 2})
    assert rec["timing_clock"].startswith("the method's own") and rec["latency_batch1_s"] < 1.2
    assert rec["nfe"] == 4 and rec["nfe_counts"].startswith("declared") and rec["network_calls"] == {}
    assert (rec["params_trainable_M"], rec["params_frozen_M"]) == (149.91, 1303.6)
    assert rec["output"] == "64x64" and len(log.read_text().splitlines()) == 2 * 3    # 3 calls, 2 loads each
