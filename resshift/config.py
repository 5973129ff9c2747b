"""Configurations of the released models (``resshift/configs/*.yaml``) and builders from them."""
from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
import yaml

from . import weights as W
from .diffusion import ResShiftDiffusion
from .errors import ResShiftError
from .ldm import EpsDiffusion
from .nets import UNetSwin, VQAutoencoder
from .schedule import ResShiftSchedule

RELEASED = ("v1", "v2", "v3", "bicsr", "inpaint_imagenet", "inpaint_face", "faceir")
TASK_DEFAULT = {"realsr": "v3", "bicsr": "bicsr", "inpaint_imagenet": "inpaint_imagenet",
                "inpaint_face": "inpaint_face", "faceir": "faceir"}
RELEASED_TASKS = tuple(TASK_DEFAULT)            # tasks with a released model


def available() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("resshift.configs").iterdir() if p.name.endswith(".yaml"))


TABLE1_NAME = re.compile(r"^(demo_)?table1_T(\d+)_p([0-9.]+)_k([0-9.]+)$")


def _merge(base: dict, over: dict) -> dict:
    """Deep merge; a mapping with ``_replace: true`` replaces the base's mapping instead."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and value.get("_replace"):
            out[key] = {k: v for k, v in value.items() if k != "_replace"}
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def table1_settings(cfg: dict) -> list[tuple[int, float, float]]:
    """The (T, p, kappa) settings of Table I listed by a parameterised configuration."""
    return [(int(t), float(p), float(k)) for t, p, k in cfg.get("grid", [])]


def table1_name(prefix: str, steps: int, p: float, kappa: float) -> str:
    return f"{prefix}_T{steps}_p{p}_k{kappa}"


def _read_config(name_or_path: str | Path) -> dict:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise ResShiftError(f"{path}: configuration file not found")
        text = path.read_text()
    else:
        res = resources.files("resshift.configs").joinpath(f"{name_or_path}.yaml")
        if not res.is_file():
            raise ResShiftError(f"unknown configuration {str(name_or_path)!r}; known: {', '.join(available())} "
                                "(and table1_T<T>_p<p>_k<kappa>, demo_table1_T<T>_p<p>_k<kappa>)")
        text = res.read_text()
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ResShiftError(f"{name_or_path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(cfg, dict):
        raise ResShiftError(f"{name_or_path}: not a configuration (a YAML mapping)")
    if cfg.get("base"):                              # inherit from another configuration
        base = cfg.pop("base")
        cfg = _merge(_read_config(base), cfg)
    return cfg


def load_config(name_or_path: str | Path) -> dict:
    """A configuration by name (``v3``, ``tiny``, ``table1_T15_p0.3_k2.0``, ...) or from a YAML file.

    ``table1_T<T>_p<p>_k<kappa>`` (paper sizes) and ``demo_table1_...`` (the tiny CPU version) are
    the parameterised Table I configurations ``table1`` / ``demo_table1`` with that (T, p, kappa).
    A ``base:`` key makes a file inherit another configuration's keys (deep merge).
    """
    m = TABLE1_NAME.match(str(name_or_path))
    if m:
        cfg = _read_config(f"{m.group(1) or ''}table1")
        cfg["diffusion"].update(steps=int(m.group(2)), p=float(m.group(3)), kappa=float(m.group(4)))
        cfg["name"] = str(name_or_path)
    else:
        cfg = _read_config(name_or_path)
    for key in ("name", "task", "diffusion", "unet"):
        if key not in cfg:
            raise ResShiftError(f"{name_or_path}: configuration lacks the key {key!r}")
    return cfg


def apply_overrides(cfg: dict, overrides: list[str]) -> dict:
    """``["train.lr=1e-4", "data.hq=/data/imagenet"]`` -> a copy of ``cfg`` with those keys set
    (values read as YAML)."""
    cfg = copy.deepcopy(cfg)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ResShiftError(f"--set {item!r}: use KEY=VALUE, e.g. train.lr=1e-4")
        node = cfg
        parts = key.split(".")
        for part in parts[:-1]:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ResShiftError(f"--set {item!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(value)
    return cfg


def config_for(task: str, version: str | None = None) -> dict:
    """The released configuration for a task (``--version`` picks v1/v2/v3 for realsr)."""
    if task not in TASK_DEFAULT:
        raise ResShiftError(f"unknown task {task!r}; choose one of {', '.join(RELEASED_TASKS)}")
    if version and task != "realsr":
        raise ResShiftError(f"--version applies to realsr only (task {task} has one release)")
    return load_config(version or TASK_DEFAULT[task])


def build_schedule(cfg: dict) -> ResShiftSchedule:
    d = cfg["diffusion"]
    return ResShiftSchedule(d["steps"], d["kappa"], d.get("p", 0.3), d.get("min_noise_level", 0.2),
                            d.get("etas_end", 0.99), d.get("form", "released"))


def build_diffusion(cfg: dict):
    """ResShift's diffusion, or the eps-prediction LDM's (``diffusion.kind: eps``, resshift.ldm)."""
    d = cfg["diffusion"]
    if d.get("kind", "resshift") == "eps":
        keys = ("train_steps", "beta_start", "beta_end", "beta_schedule", "sample_steps", "eta", "sf", "latent",
                "scale_factor", "prediction")
        return EpsDiffusion(**{k: d[k] for k in keys if k in d})
    if d.get("kind", "resshift") != "resshift":
        raise ResShiftError(f"diffusion.kind {d['kind']!r}: use resshift or eps")
    return ResShiftDiffusion(build_schedule(cfg), sf=d.get("sf", 4), latent=d.get("latent", True),
                             normalize_input=d.get("normalize_input", True),
                             scale_factor=d.get("scale_factor", 1.0))


def build_unet(cfg: dict) -> UNetSwin:
    return UNetSwin(**copy.deepcopy(cfg["unet"]["params"]))


def build_autoencoder(cfg: dict) -> VQAutoencoder | None:
    ae = cfg.get("autoencoder")
    return None if not ae else VQAutoencoder(**copy.deepcopy(ae["params"]))


@dataclass
class ResShiftModel:
    """A configuration with its networks and diffusion, ready to sample."""

    config: dict
    unet: UNetSwin
    diffusion: ResShiftDiffusion
    autoencoder: VQAutoencoder | None = None
    weights: dict = field(default_factory=dict)   # provenance: file -> sha256

    @property
    def steps(self) -> int:
        """Sampling steps (T for ResShift; the DDIM steps for an eps model)."""
        return self.diffusion.sample_steps

    @property
    def sf(self) -> int:
        return self.diffusion.sf

    def to(self, device) -> "ResShiftModel":
        self.unet.to(device)
        if self.autoencoder is not None:
            self.autoencoder.to(device)
        return self

    def eval(self) -> "ResShiftModel":
        self.unet.eval()
        if self.autoencoder is not None:
            self.autoencoder.eval()
        return self

    def model_kwargs(self, lq: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
        """Network condition from the LQ image in [-1, 1] and, for inpainting, the hole mask in
        {0, 1} (1 = hole).

        The mask reaches the network in [-1, 1] (-1 known, +1 hole), normalised like the image:
        the released inpainting networks were trained and are sampled that way (the release's
        inpainting dataset and sampler both pass ``(mask - 0.5) / 0.5``).
        """
        cond = self.config["unet"].get("condition", "lq")
        kwargs = {"lq": self.diffusion.upsample(lq) if cond == "lq_upsampled" else lq}
        if self.unet.cond_mask:
            if mask is None:
                raise ResShiftError("this inpainting model needs a mask (1 = hole)")
            kwargs["mask"] = mask * 2 - 1
        return kwargs

    @property
    def size_multiple(self) -> int:
        """The LQ side must be a multiple of this for the networks (tiles too)."""
        down = self.autoencoder.downsample_factor if self.autoencoder is not None else 1
        latent_multiple = self.unet.size_multiple * down          # in HQ pixels
        return max(1, latent_multiple // self.sf)

    @property
    def pad_multiple(self) -> int:
        """Inputs are reflect-padded to a multiple of this (a multiple of :attr:`size_multiple`).

        ``inference.padding_offset: lq_size`` (the released configurations) pads as the release's
        sampler does, to a multiple of the network's ``lq_size``; an integer pads to that; absent,
        to :attr:`size_multiple`. Padding changes the result (windows and normalisation see the
        padded image), so parity with the release needs the release's multiple.
        """
        offset = (self.config.get("inference") or {}).get("padding_offset")
        if offset == "lq_size":
            offset = self.config["unet"]["params"].get("lq_size", 64)
        m = self.size_multiple
        return m if not offset else math.lcm(m, int(offset))

    @property
    def face_size(self) -> int:
        """Side of the aligned face crops a face-restoration model takes (``inference.face_size``;
        default the network's ``lq_size``, 512 for the released model)."""
        return int((self.config.get("inference") or {}).get("face_size")
                   or self.config["unet"]["params"].get("lq_size", 512))

    def restore(self, lq: torch.Tensor, mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
        """LQ batch in [0, 1] (sides a multiple of :attr:`size_multiple`) -> HQ batch in [0, 1]."""
        m = self.size_multiple
        if lq.shape[-1] % m or lq.shape[-2] % m:
            raise ResShiftError(f"input size {tuple(lq.shape[-2:])} is not a multiple of {m}; pad it first")
        lq11 = lq * 2 - 1
        kwargs = self.model_kwargs(lq11, mask)
        out = self.diffusion.sample(self.unet, lq11, autoencoder=self.autoencoder, model_kwargs=kwargs,
                                    generator=generator, progress=progress)
        out = (out + 1) / 2
        if mask is not None:                      # inpainting: keep the known pixels exactly
            out = out * mask + lq * (1 - mask)
        return out


def build_model(cfg: dict | str, checkpoint=None, autoencoder_checkpoint=None,
                allow_download: bool = True) -> ResShiftModel:
    """Build a configuration's networks and load weights.

    ``checkpoint``/``autoencoder_checkpoint``: a path, a loaded object, ``None`` (use the
    registry's released file for the configuration) or ``False`` (keep random weights).
    """

    cfg = load_config(cfg) if isinstance(cfg, str) else cfg
    unet, ae = build_unet(cfg), build_autoencoder(cfg)
    provenance: dict[str, str] = {}

    def resolve(src, key):
        if src is False:
            return None
        if src is None:
            if not key:
                raise ResShiftError(f"configuration {cfg['name']} has no released weights; pass --checkpoint")
            src = W.fetch(key, allow_download=allow_download)         # records its sha256
            provenance[src.name] = W.recorded_sha256().get(src.name, "")
        elif isinstance(src, (str, Path)):
            provenance[Path(src).name] = W.sha256_of(src) if Path(src).exists() else ""
        return src

    src = resolve(checkpoint, cfg.get("checkpoint"))
    if src is not None:
        W.load_checkpoint(unet, src)
    if ae is not None:
        src = resolve(autoencoder_checkpoint, (cfg.get("autoencoder") or {}).get("checkpoint"))
        if src is not None:
            W.load_checkpoint(ae, src)
        ae.requires_grad_(False)
    return ResShiftModel(cfg, unet, build_diffusion(cfg), ae, provenance).eval()
