"""DASR (Liang, Zeng, Zhang, ECCV 2022): a degradation predictor mixes K expert convolutions into
one SRResNet per image. 8.06 M parameters in all (Table II): the SR network (MSRResNet, 16
residual blocks, 64 features, every convolution held as 5 experts) 7,587,855 and the predictor
468,143.

Released files (``net_g.pth``, ``net_p.pth``, basicsr format) are in the authors' Google Drive /
OneDrive folders linked from github.com/csjliang/DASR (experiments/README.md), which have no
direct-download address: download them by hand into the cache folder. Layout and key names are
the release's (``MSRResNetDynamic``/``Degradation_Predictor``, 33 degradation parameters, K = 5);
this module is our own implementation of that layout.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from resshift.errors import ResShiftError
from resshift.weights import load_checkpoint

from .base import BASELINES, Restorer, WeightFile, register, seeded

DASR_FOLDER = "https://drive.google.com/drive/folders/18TuFlx5Fp9W9dDHQ-LyNFae5vakpjGq-"


class ExpertConv2d(nn.Module):
    """A 3x3 convolution with K expert kernels; each sample uses sum_k w_k * kernel_k (and bias)."""

    def __init__(self, cin: int, cout: int, experts: int, kernel: int = 3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(experts, cout, cin, kernel, kernel) * (2.0 / (cin * kernel ** 2)) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(experts, cout))
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k = self.weight.shape[0]
        weight = (mix @ self.weight.reshape(k, -1)).reshape(b * self.weight.shape[1], *self.weight.shape[2:])
        bias = (mix @ self.bias).reshape(-1)
        out = F.conv2d(x.reshape(1, b * c, h, w), weight, bias, padding=self.padding, groups=b)   # one group per image
        return out.reshape(b, -1, *out.shape[-2:])


class ExpertResBlock(nn.Module):
    def __init__(self, ch: int, experts: int):
        super().__init__()
        self.conv1 = ExpertConv2d(ch, ch, experts)
        self.conv2 = ExpertConv2d(ch, ch, experts)

    def forward(self, x, mix):
        return x + self.conv2(F.relu(self.conv1(x, mix)), mix)


class DASRNet(nn.Module):
    """The x4 SR network (release name MSRResNetDynamic): bilinear upsampling plus a residual."""

    def __init__(self, num_feat: int = 64, num_block: int = 16, experts: int = 5):
        super().__init__()
        self.conv_first = ExpertConv2d(3, num_feat, experts)
        self.body = nn.ModuleList(ExpertResBlock(num_feat, experts) for _ in range(num_block))
        self.upconv1 = ExpertConv2d(num_feat, num_feat * 4, experts)
        self.upconv2 = ExpertConv2d(num_feat, num_feat * 4, experts)
        self.conv_hr = ExpertConv2d(num_feat, num_feat, experts)
        self.conv_last = ExpertConv2d(num_feat, 3, experts)

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.1)                      # noqa: E731
        h = act(self.conv_first(x, mix))
        for block in self.body:
            h = block(h, mix)
        h = act(F.pixel_shuffle(self.upconv1(h, mix), 2))
        h = act(F.pixel_shuffle(self.upconv2(h, mix), 2))
        h = self.conv_last(act(self.conv_hr(h, mix)), mix)
        return h + F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)


class DegradationPredictor(nn.Module):
    """Six 5x5 convolutions (one stride 2) -> global average of 33 degradation parameters ->
    two linear layers -> K expert weights (used as they are, no softmax, as in the release)."""

    def __init__(self, nf: int = 64, num_params: int = 33, experts: int = 5):
        super().__init__()
        chans = [3, nf, nf, nf, nf, nf, num_params]
        layers: list[nn.Module] = []
        for i in range(6):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 5, stride=2 if i == 3 else 1, padding=2), nn.LeakyReLU(0.2)]
        self.ConvNet = nn.Sequential(*layers)
        self.MappingNet = nn.Sequential(nn.Linear(num_params, 15), nn.Linear(15, experts))

    def forward(self, x):
        params = self.ConvNet(x).mean(dim=(2, 3))
        return params, self.MappingNet(params)


@register
class DASR(Restorer):
    name, task, label, sf = "dasr", "sr", "DASR", 4
    batchable = True
    implementation = "ours"
    release_parity = "tests/test_parity_dasr.py::test_dasr_matches_release"
    licence = "Apache-2.0"
    weights = (WeightFile("DASR_net_g.pth", DASR_FOLDER, size="30 MB; its net_g.pth, saved as DASR_net_g.pth",
                          manual=True, subdir=BASELINES),
               WeightFile("DASR_net_p.pth", DASR_FOLDER, size="2 MB; its net_p.pth, saved as DASR_net_p.pth",
                          manual=True, subdir=BASELINES))
    needs = "its two files downloaded by hand (a Google Drive folder, no direct address)"

    def load(self) -> None:
        g_path = self.weight_path(0)
        p_path = Path(self.options["weights_p"]) if self.options.get("weights_p") else self.weight_path(1)
        # options num_feat / num_block / predictor_nf build smaller networks (parity tests); defaults: the release's
        size = lambda key, default: int(self.options.get(key, default))      # noqa: E731
        self.net = DASRNet(size("num_feat", 64), size("num_block", 16)).to(self.device).eval()
        self.predictor = DegradationPredictor(size("predictor_nf", 64)).to(self.device).eval()
        for module, path, what in ((self.net, g_path, "net_g"), (self.predictor, p_path, "net_p")):
            try:
                load_checkpoint(module, path)                 # bare, params or params_ema state dicts
            except ResShiftError as exc:
                raise ResShiftError(f"dasr: {path} does not hold DASR's {what} ({exc})") from None

    def modules(self):
        return {"trainable": self.net, "trainable_predictor": self.predictor}

    @classmethod
    def with_random_weights(cls, folder, steps=None, device="cpu"):
        g, p = cls.files_in(folder)[:2]
        torch.save({"params": DASRNet().state_dict()}, g)
        torch.save({"params": DegradationPredictor().state_dict()}, p)
        return cls(steps=steps, device=device, weights=str(g), weights_p=str(p))

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """The release's files (bare state dicts) at 8 features, 1 block, an 8-wide predictor."""
        g, p = cls.files_in(folder)[:2]
        with seeded(0):
            torch.save(DASRNet(8, 1).state_dict(), g)
            torch.save(DegradationPredictor(8).state_dict(), p)
        return cls(device=device, weights=str(g), weights_p=str(p), num_feat=8, num_block=1, predictor_nf=8)

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        x = lq.to(self.device)
        _, mix = self.predictor(x)
        return self.net(x, mix).clamp(0, 1)
