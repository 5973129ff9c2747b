"""StableSR (Wang et al.) through the authors' own release, one process per folder.

Needs: a checkout of https://github.com/IceClear/StableSR at commit ``STABLESR_COMMIT``, its
environment (``workflow/envs/stablesr.yaml``; the interpreter is passed as ``python=``), a CUDA
GPU, and the weights ``stablesr_000117.ckpt`` (6.48 GB) and ``vqgan_cfw_00011.ckpt`` (960 MB) from
huggingface.co/Iceclear/StableSR. Protocol (docs/protocol.md §4): the release's
``sr_val_ddpm_text_T_vqganfin_old.py`` resizes the 64x64 input to 512 (``--input_size 512``),
samples with ``--ddpm_steps`` 4/15/50, ``--dec_w 0.5``, AdaIN colour fix; we resize its 512 output
back to the x4 size (bicubic, antialiased). It cannot run on a machine without a GPU.

A folder is restored by ONE run of the release script (:mod:`baselines.stablesr_worker`): the
checkpoints load once, the images go through in batches of ``--n_samples`` (option ``batch``,
default 4), and runtime is the script's sampling loop timed from inside the process, start-up
and loading excluded. The release draws its noise from one seed per run (``seed_everything``), so
an image's output depends on the batch it was in, as in the release.

Parameters (:data:`STABLESR_PARAMS`): counted by building the release's modules of
``configs/stableSRNew/v2-finetune_text_T_512.yaml`` and the CFW autoencoder
(``configs/autoencoder/autoencoder_kl_64x64x4_resi.yaml``) at full size, split as the release
script splits them: trainable = the structure-condition encoder, the SFT (``spade``) layers of the
diffusion UNet and the CFW fusion layers; frozen = the Stable Diffusion 2.1 UNet, the OpenCLIP
ViT-H-14 text encoder and the autoencoder. The paper's Table II prints 52.49 + 1422.49 M: 52.49 M
is the structure-condition encoder alone (52,494,080); 1422.49 M is not any sum of the release's
modules that we found (their sums are listed in ``STABLESR_PARAMS``).
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from resshift.errors import ResShiftError
from resshift.imageio import read_image, write_image
from resshift.weights import cache_dir

from .base import BASELINES, Restorer, WeightFile, register

STABLESR_COMMIT = "d0e8e0df6c207e55c44e61eb111f932d6f487978"
HF = "https://huggingface.co/Iceclear/StableSR/resolve/main/"
SCRIPT = "scripts/sr_val_ddpm_text_T_vqganfin_old.py"
CONFIG = "configs/stableSRNew/v2-finetune_text_T_512.yaml"
WORKER = Path(__file__).resolve().parent / "stablesr_worker.py"
DEFAULT_BATCH = 4

# Parameter counts of the release's modules at STABLESR_COMMIT, built at full size from its two
# configurations (tests/fixtures/stablesr/stablesr_params.json records how; tests check these).
STABLESR_PARAMS = {
    "structcond_encoder": 52_494_080,           # EncoderUNetModelWT (structcond_stage_config)
    "unet_sft_layers": 53_020_160,              # the `spade` modules inside the UNet
    "cfw_fusion_layers": 44_393_728,            # AutoencoderKLResi decoder's fusion_layer_*
    "sd21_unet": 865_910_724,                   # UNetModelDualcondV2 without its SFT layers
    "openclip_text_encoder": 354_032_641,       # FrozenOpenCLIPEmbedder (ViT-H-14, text tower)
    "autoencoder": 83_653_863,                  # AutoencoderKL (the CFW one without fusion layers: same)
}


def stablesr_timesteps(steps: int, total: int = 1000) -> list[int]:
    """The release's respacing (``space_timesteps(1000, [steps])``: evenly spaced, rounded,
    over [0, 999]), sampled from the largest."""
    if steps <= 1:
        return [0]
    stride = (total - 1) / (steps - 1)
    return sorted({round(i * stride) for i in range(steps)}, reverse=True)


@register
class StableSR(Restorer):
    licence = "S-Lab License 1.0 (non-commercial)"
    name, task, label, sf = "stablesr", "sr", "StableSR", 4
    implementation = "maintainers"     # the authors' own script, run as a subprocess
    steps_choices, default_steps = (4, 15, 50), 15
    needs = "a CUDA GPU, the StableSR checkout and environment (workflow/envs/stablesr.yaml)"
    weights = (WeightFile("stablesr_000117.ckpt", HF + "stablesr_000117.ckpt", size="6.48 GB", subdir=BASELINES),
               WeightFile("vqgan_cfw_00011.ckpt", HF + "vqgan_cfw_00011.ckpt", size="960 MB", subdir=BASELINES))
    reports_own_timing = True                   # `last_seconds`: the sampling loop, without start-up
    params_note = ("StableSR's parameters are its release's modules split as its script splits them (trainable: "
                   "structure-condition encoder 52.49 M, SFT layers 53.02 M, CFW fusion layers 44.39 M; frozen: SD 2.1 "
                   "UNet 865.91 M, OpenCLIP text encoder 354.03 M, autoencoder 83.65 M); the paper's 52.49 M is the "
                   "encoder alone and its 1422.49 M frozen matches no sum of these.")

    def load(self) -> None:
        self.repo = Path(self.options.get("repo") or os.environ.get("STABLESR_REPO")
                         or cache_dir() / BASELINES / "StableSR")
        if not (self.repo / SCRIPT).is_file():
            raise ResShiftError(f"stablesr: no StableSR checkout at {self.repo} ({SCRIPT} missing); run `git clone "
                                f"https://github.com/IceClear/StableSR {self.repo} && git -C {self.repo} checkout "
                                f"{STABLESR_COMMIT}` and create its environment from workflow/envs/stablesr.yaml")
        self.ckpt, self.vqgan = self.weight_path(0), self.weight_path(1)
        python = self.options.get("python") or os.environ.get("STABLESR_PYTHON") or "python"
        self.python = python.split() if isinstance(python, str) else list(python)
        self.batch = int(self.options.get("batch", DEFAULT_BATCH))
        if self.batch <= 0:
            raise ResShiftError(f"stablesr: option batch={self.batch}: use a positive number of images per batch")
        self.last_seconds: float | None = None

    def timesteps(self) -> list[int]:
        return stablesr_timesteps(self.steps)

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """None: the method is the authors' script in its own environment on a GPU, with no network
        here to shrink (its adapter is tested against a stand-in script, tests/test_stablesr.py)."""
        raise ResShiftError("stablesr: no tiny() form; it runs the StableSR release's own script (a checkout, its "
                            "environment and a CUDA GPU), so there is no network here to build small")

    @classmethod
    def declared_params(cls) -> dict[str, int]:
        """Trainable and frozen counts of the release's networks (no checkout or weights needed)."""
        p = STABLESR_PARAMS
        return {"trainable": p["structcond_encoder"] + p["unet_sft_layers"] + p["cfw_fusion_layers"],
                "frozen": p["sd21_unet"] + p["openclip_text_encoder"] + p["autoencoder"]}

    def params(self) -> dict[str, int]:
        return self.declared_params()

    def script_args(self, in_dir: Path, out_dir: Path, seed: int, batch: int) -> list[str]:
        return [SCRIPT, "--config", CONFIG, "--ckpt", str(self.ckpt), "--vqgan_ckpt", str(self.vqgan),
                "--init-img", str(in_dir), "--outdir", str(out_dir), "--ddpm_steps", str(self.steps),
                "--dec_w", "0.5", "--colorfix_type", "adain", "--input_size", "512", "--seed", str(seed),
                "--n_samples", str(batch)]

    def command(self, in_dir: Path, out_dir: Path, seed: int, batch: int, timing: Path) -> list[str]:
        """The release script run once by the worker (which writes its inside timing to ``timing``)."""
        return [*self.python, str(WORKER), str(timing), *self.script_args(in_dir, out_dir, seed, batch)]

    def _run(self, in_dir: Path, out_dir: Path, seed: int, batch: int) -> dict:
        timing = out_dir.parent / "stablesr-timing.json"
        proc = subprocess.run(self.command(in_dir, out_dir, seed, batch, timing), cwd=self.repo,
                              capture_output=True, text=True)
        if proc.returncode:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ResShiftError(f"stablesr: the StableSR script failed (exit {proc.returncode}): {tail[0][:200]}")
        record = json.loads(timing.read_text()) if timing.is_file() else {}
        if not record.get("batches"):
            raise ResShiftError(f"stablesr: the StableSR script at {self.repo} ran no timed sampling loop (its "
                                f"`trange` loop over batches); check out commit {STABLESR_COMMIT}")
        return record

    def _collect(self, out_dir: Path, stem: str, size: tuple[int, int]) -> torch.Tensor:
        path = out_dir / f"{stem}.png"
        if not path.is_file():
            raise ResShiftError(f"stablesr: the StableSR script wrote no {path.name} in {out_dir}")
        img = read_image(path)[0][None]
        return F.interpolate(img, size=(size[0] * self.sf, size[1] * self.sf), mode="bicubic", antialias=True,
                             align_corners=False).clamp(0, 1)

    def restore(self, lq, mask=None, generator=None):
        """One run of the release for this batch; ``last_seconds`` is its sampling loop's time."""

        seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator)) if generator is not None else 42
        b, _, h, w = lq.shape
        with tempfile.TemporaryDirectory(prefix="stablesr-") as tmp:
            in_dir, out_dir = Path(tmp) / "in", Path(tmp) / "out"
            in_dir.mkdir()
            names = [f"{i:05d}" for i in range(b)]
            for name, img in zip(names, lq):
                write_image(img.cpu(), in_dir / f"{name}.png")
            record = self._run(in_dir, out_dir, seed, min(b, self.batch))
            outs = [self._collect(out_dir, name, (h, w)) for name in names]
        self.last_seconds = sum(x["seconds"] for x in record["batches"])
        return torch.cat(outs).to(lq.device)

    def restore_folder(self, files: list[Path], out_dir: Path, seed: int = 0) -> dict:
        """Every file in ONE run of the release (checkpoints loaded once, batches of ``batch``);
        writes ``out_dir/<stem>.png`` at x4 and returns the inside timing."""
        import shutil

        from PIL import Image


        out_dir = Path(out_dir)
        with tempfile.TemporaryDirectory(prefix="stablesr-") as tmp:
            in_dir, raw = Path(tmp) / "in", Path(tmp) / "out"
            in_dir.mkdir()
            sizes = {}
            for path in files:
                with Image.open(path) as im:
                    sizes[path.stem] = (im.height, im.width)
                shutil.copyfile(path, in_dir / path.name)
            record = self._run(in_dir, raw, seed, self.batch)
            for path in files:
                write_image(self._collect(raw, path.stem, sizes[path.stem])[0], out_dir / f"{path.stem}.png")
        images = sum(x["images"] for x in record["batches"])
        seconds = sum(x["seconds"] for x in record["batches"])
        return {"processes": 1, "batch": self.batch, "images": images, "batches": record["batches"],
                "startup_seconds": record.get("startup_seconds"),
                "seconds_per_image": seconds / images if images else None}
