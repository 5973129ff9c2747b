"""StableSR (Wang et al.) through the authors' own release, run as a subprocess.

Needs: a checkout of https://github.com/IceClear/StableSR at commit ``STABLESR_COMMIT``, its
environment (``workflow/envs/stablesr.yaml``; the interpreter is passed as ``python=``), a CUDA
GPU, and the weights ``stablesr_000117.ckpt`` (6.48 GB) and ``vqgan_cfw_00011.ckpt`` (960 MB) from
huggingface.co/Iceclear/StableSR. Protocol (PROTOCOL.md section 4): the release's
``sr_val_ddpm_text_T_vqganfin_old.py`` resizes the 64x64 input to 512 (``--input_size 512``),
samples with ``--ddpm_steps`` 4/15/50, ``--dec_w 0.5``, AdaIN colour fix; we resize its 512 output
back to the x4 size (bicubic, antialiased). It cannot run on a machine without a GPU.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from resshift.errors import ResShiftError

from .base import Restorer, WeightFile, cache_root, register

STABLESR_COMMIT = "d0e8e0df6c207e55c44e61eb111f932d6f487978"
HF = "https://huggingface.co/Iceclear/StableSR/resolve/main/"
SCRIPT = "scripts/sr_val_ddpm_text_T_vqganfin_old.py"
CONFIG = "configs/stableSRNew/v2-finetune_text_T_512.yaml"


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
    weights = (WeightFile("stablesr_000117.ckpt", HF + "stablesr_000117.ckpt", size="6.48 GB"),
               WeightFile("vqgan_cfw_00011.ckpt", HF + "vqgan_cfw_00011.ckpt", size="960 MB"))

    def load(self) -> None:
        self.repo = Path(self.options.get("repo") or os.environ.get("STABLESR_REPO")
                         or cache_root() / "baselines" / "StableSR")
        if not (self.repo / SCRIPT).is_file():
            raise ResShiftError(f"stablesr: no StableSR checkout at {self.repo} ({SCRIPT} missing); run `git clone "
                                f"https://github.com/IceClear/StableSR {self.repo} && git -C {self.repo} checkout "
                                f"{STABLESR_COMMIT}` and create its environment from workflow/envs/stablesr.yaml")
        self.ckpt, self.vqgan = self.weight_path(0), self.weight_path(1)
        python = self.options.get("python") or os.environ.get("STABLESR_PYTHON") or "python"
        self.python = python.split() if isinstance(python, str) else list(python)

    def timesteps(self) -> list[int]:
        return stablesr_timesteps(self.steps)

    def command(self, in_dir: Path, out_dir: Path, seed: int, batch: int) -> list[str]:
        return [*self.python, SCRIPT, "--config", CONFIG, "--ckpt", str(self.ckpt), "--vqgan_ckpt", str(self.vqgan),
                "--init-img", str(in_dir), "--outdir", str(out_dir), "--ddpm_steps", str(self.steps),
                "--dec_w", "0.5", "--colorfix_type", "adain", "--input_size", "512", "--seed", str(seed),
                "--n_samples", str(batch)]

    def restore(self, lq, mask=None, generator=None):
        from resshift.imageio import read_image, write_image

        seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator)) if generator is not None else 42
        b, _, h, w = lq.shape
        with tempfile.TemporaryDirectory(prefix="stablesr-") as tmp:
            in_dir, out_dir = Path(tmp) / "in", Path(tmp) / "out"
            in_dir.mkdir()
            names = [f"{i:05d}" for i in range(b)]
            for name, img in zip(names, lq):
                write_image(img.cpu(), in_dir / f"{name}.png")
            cmd = self.command(in_dir, out_dir, seed, b)
            proc = subprocess.run(cmd, cwd=self.repo, capture_output=True, text=True)
            if proc.returncode:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise ResShiftError(f"stablesr: the StableSR script failed (exit {proc.returncode}): {tail[0][:200]}")
            outs = []
            for name in names:
                path = out_dir / f"{name}.png"
                if not path.is_file():
                    raise ResShiftError(f"stablesr: the StableSR script wrote no {path.name} in {out_dir}")
                img = read_image(path)[0][None]
                outs.append(F.interpolate(img, size=(h * self.sf, w * self.sf), mode="bicubic", antialias=True,
                                          align_corners=False).clamp(0, 1))
        return torch.cat(outs).to(lq.device)
