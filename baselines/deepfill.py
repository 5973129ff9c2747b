"""DeepFillv2 (Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019) for
Tables IV/V: the authors' released TensorFlow models (Places2; CelebA-HQ), as converted to
PyTorch state dicts by github.com/nipponjo/deepfillv2-pytorch (``states_tf_places2.pth``,
``states_tf_celebahq.pth``: ``{"G": state_dict}`` with that port's ``networks_tf`` key names).

The network is written here from the paper and the official TF code (v2.0.0): a coarse
gated-convolution network, then a refinement network with a dilated-convolution branch and a
contextual-attention branch (Yu et al. 2018, "Generative Image Inpainting with Contextual
Attention", Sec. 3.2). TF's numerics are kept: "SAME" padding (asymmetric for stride 2),
nearest-neighbour resizing with ``align_corners=True``, attention-score fusion (``fuse=True``)
and patch normalisation ``w / max(||w||, 1e-4)``. Input: the image in [-1, 1] with holes zeroed,
a channel of ones and the mask (1 = hole); sizes are padded (reflect) to a multiple of 8.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .base import BASELINES, SingleNetworkRestorer, WeightFile, register, seeded

DRIVE = "https://drive.google.com/uc?export=download&id="
CNUM = 48                                  # the released models' base width


def same_pad(x: torch.Tensor, k: int, stride: int = 1, rate: int = 1) -> torch.Tensor:
    """TensorFlow's "SAME" zero padding (the extra pixel, if any, on the bottom/right)."""
    span = (k - 1) * rate + 1
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((-(size // -stride) - 1) * stride + span - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def resize_nearest_tf(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TF1 ``resize_nearest_neighbor(..., align_corners=True)``: source index
    ``round(i * (in - 1) / (out - 1))`` (neuralgym's ``resize``, as DeepFill calls it)."""
    out = x
    for dim, n_out in ((-2, size[0]), (-1, size[1])):
        n_in = out.shape[dim]
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        idx = torch.floor(torch.arange(n_out, dtype=torch.float64) * scale + 0.5).clamp(max=n_in - 1).long()
        out = out.index_select(dim, idx.to(out.device))
    return out


class GatedConv(nn.Module):
    """Gated convolution (DeepFillv2 Eq. 1): features act(W_f x) * sigmoid(W_g x) from one conv
    with 2*cout outputs; the RGB output layers (cout 3, no activation) are plain convolutions."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, rate: int = 1, act: str | None = "elu"):
        super().__init__()
        self.cout, self.k, self.stride, self.rate = cout, k, stride, rate
        self.act = {"elu": F.elu, "relu": F.relu, None: None}[act]
        self.gated = cout != 3 and act is not None
        self.conv = nn.Conv2d(cin, 2 * cout if self.gated else cout, k, stride, dilation=rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(same_pad(x, self.k, self.stride, self.rate))
        if not self.gated:
            return x
        feat, gate = x.split(self.cout, dim=1)
        return self.act(feat) * torch.sigmoid(gate)


class GatedUpConv(nn.Module):
    """x2 nearest upsampling then a gated 3x3 convolution (``gen_deconv``)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = GatedConv(cin, cout, 3)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def contextual_attention(f: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, ksize: int = 3, rate: int = 2,
                         fuse_k: int = 3, softmax_scale: float = 10.0, fuse: bool = True) -> torch.Tensor:
    """Contextual attention (Yu et al. 2018, Sec. 3.2) for one image: foreground features ``f``
    attend to background patches of ``b`` (matched at 1/``rate`` resolution by cosine similarity,
    Eq. 1; scores fused along both image axes; softmax over the valid patches, scaled by 10) and
    are rebuilt from the full-resolution ``2*rate`` patches by transposed convolution.
    ``mask`` (1, 1, h, w) at the features' resolution, 1 = hole; patches touching a hole are invalid."""
    _, c, h, w = b.shape
    k_raw = 2 * rate
    raw = F.unfold(same_pad(b, k_raw, rate), k_raw, stride=rate)                 # (1, C*k*k, L)
    raw = raw[0].t().reshape(-1, c, k_raw, k_raw)                               # (L, C, k, k)
    small = (int(h / rate), int(w / rate))
    fs, bs, ms = (resize_nearest_tf(t, small) for t in (f, b, mask))
    patches = F.unfold(same_pad(bs, ksize), ksize)[0].t().reshape(-1, c, ksize, ksize)
    norm = patches.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt().clamp(min=1e-4)
    score = F.conv2d(same_pad(fs, ksize), patches / norm)                       # (1, L, fh, fw)
    fh, fw = score.shape[-2:]
    bh, bw = bs.shape[-2:]
    if fuse:                                  # sum scores along matching diagonals, then the other axis
        eye = torch.eye(fuse_k, dtype=score.dtype, device=score.device).view(1, 1, fuse_k, fuse_k)
        grid = score[0].reshape(bh * bw, fh * fw).t().reshape(1, 1, fh * fw, bh * bw)
        grid = F.conv2d(same_pad(grid, fuse_k), eye)
        grid = grid.view(fh, fw, bh, bw).permute(1, 0, 3, 2).reshape(1, 1, fw * fh, bw * bh)
        grid = F.conv2d(same_pad(grid, fuse_k), eye)
        grid = grid.view(fw, fh, bw, bh).permute(1, 0, 3, 2).reshape(fh * fw, bh * bw)
        score = grid.t().reshape(1, bh * bw, fh, fw)
    valid = (F.unfold(same_pad(ms, ksize), ksize)[0].mean(dim=0) == 0).to(score.dtype).view(1, -1, 1, 1)
    attn = torch.softmax(score * valid * softmax_scale, dim=1) * valid
    return F.conv_transpose2d(attn, raw, stride=rate, padding=1) / 4.0


class DeepFillv2Generator(nn.Module):
    """The released generator (``cnum`` 48, 5 input channels), key names of the converted files."""

    def __init__(self, cnum_in: int = 5, cnum: int = CNUM, fuse: bool = True):
        super().__init__()
        c, self.fuse = cnum, fuse
        g = GatedConv
        # stage 1: coarse network
        self.conv1 = g(cnum_in, c // 2, 5)
        self.conv2_downsample, self.conv3 = g(c // 2, c, 3, 2), g(c, c, 3)
        self.conv4_downsample, self.conv5 = g(c, 2 * c, 3, 2), g(2 * c, 2 * c, 3)
        self.conv6 = g(2 * c, 2 * c, 3)
        self.conv7_atrous, self.conv8_atrous = g(2 * c, 2 * c, 3, rate=2), g(2 * c, 2 * c, 3, rate=4)
        self.conv9_atrous, self.conv10_atrous = g(2 * c, 2 * c, 3, rate=8), g(2 * c, 2 * c, 3, rate=16)
        self.conv11, self.conv12 = g(2 * c, 2 * c, 3), g(2 * c, 2 * c, 3)
        self.conv13_upsample, self.conv14 = GatedUpConv(2 * c, c), g(c, c, 3)
        self.conv15_upsample, self.conv16 = GatedUpConv(c, c // 2), g(c // 2, c // 4, 3)
        self.conv17 = g(c // 4, 3, 3, act=None)
        # stage 2, dilated-convolution branch
        self.xconv1 = g(3, c // 2, 5)
        self.xconv2_downsample, self.xconv3 = g(c // 2, c // 2, 3, 2), g(c // 2, c, 3)
        self.xconv4_downsample, self.xconv5 = g(c, c, 3, 2), g(c, 2 * c, 3)
        self.xconv6 = g(2 * c, 2 * c, 3)
        self.xconv7_atrous, self.xconv8_atrous = g(2 * c, 2 * c, 3, rate=2), g(2 * c, 2 * c, 3, rate=4)
        self.xconv9_atrous, self.xconv10_atrous = g(2 * c, 2 * c, 3, rate=8), g(2 * c, 2 * c, 3, rate=16)
        # stage 2, contextual-attention branch
        self.pmconv1 = g(3, c // 2, 5)
        self.pmconv2_downsample, self.pmconv3 = g(c // 2, c // 2, 3, 2), g(c // 2, c, 3)
        self.pmconv4_downsample, self.pmconv5 = g(c, 2 * c, 3, 2), g(2 * c, 2 * c, 3)
        self.pmconv6 = g(2 * c, 2 * c, 3, act="relu")
        self.pmconv9, self.pmconv10 = g(2 * c, 2 * c, 3), g(2 * c, 2 * c, 3)
        # stage 2, merged
        self.allconv11, self.allconv12 = g(4 * c, 2 * c, 3), g(2 * c, 2 * c, 3)
        self.allconv13_upsample, self.allconv14 = GatedUpConv(2 * c, c), g(c, c, 3)
        self.allconv15_upsample, self.allconv16 = GatedUpConv(c, c // 2), g(c // 2, c // 4, 3)
        self.allconv17 = g(c // 4, 3, 3, act=None)

    def _run(self, x, *names):
        for name in names:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 5, H, W) = [image * (1 - mask) in [-1, 1], ones, mask]; returns (coarse, refined)."""
        coarse = torch.tanh(self._run(x, "conv1", "conv2_downsample", "conv3", "conv4_downsample", "conv5", "conv6",
                                      "conv7_atrous", "conv8_atrous", "conv9_atrous", "conv10_atrous", "conv11",
                                      "conv12", "conv13_upsample", "conv14", "conv15_upsample", "conv16", "conv17"))
        xnow = coarse * mask + x[:, :3] * (1 - mask)
        hallu = self._run(xnow, "xconv1", "xconv2_downsample", "xconv3", "xconv4_downsample", "xconv5", "xconv6",
                          "xconv7_atrous", "xconv8_atrous", "xconv9_atrous", "xconv10_atrous")
        pm = self._run(xnow, "pmconv1", "pmconv2_downsample", "pmconv3", "pmconv4_downsample", "pmconv5", "pmconv6")
        mask_s = resize_nearest_tf(mask, tuple(pm.shape[-2:]))
        pm = torch.cat([contextual_attention(pm[i:i + 1], pm[i:i + 1], mask_s[i:i + 1], fuse=self.fuse)
                        for i in range(len(pm))])
        pm = self._run(pm, "pmconv9", "pmconv10")
        out = self._run(torch.cat([hallu, pm], dim=1), "allconv11", "allconv12", "allconv13_upsample", "allconv14",
                        "allconv15_upsample", "allconv16", "allconv17")
        return coarse, torch.tanh(out)


class DeepFillv2Base(SingleNetworkRestorer):
    task, sf, label = "inpaint", 1, "DeepFillv2"
    implementation = "ours"
    # the whole network against nipponjo's PyTorch port (the TF1 generator cannot run here), the
    # contextual attention also against the TF release itself (test_contextual_attention_matches_the_tf_release);
    # where the port departs from the TF code (fuse=False, one-step mask resize) we follow the TF code
    release_parity = "tests/test_parity_deepfill.py::test_deepfillv2_matches_release"
    licence = "CC BY-NC 4.0 (the authors' models; converted by nipponjo/deepfillv2-pytorch)"
    wrapper, network_kind = "G", "a converted DeepFillv2 generator"     # the files: {"G": ..., "D": ...}
    pad_multiple = 8                   # reflect-padded (image and mask) to a multiple of 8

    @classmethod
    def build_network(cls, options):
        # option cnum: a smaller width (parity tests); the released models use 48
        return DeepFillv2Generator(cnum=int(options.get("cnum", CNUM)), fuse=bool(int(options.get("fuse", 1))))

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """The port's {"G": ...} layout at width 8 (option ``cnum``)."""
        path = Path(folder) / cls.weights[0].file
        path.parent.mkdir(parents=True, exist_ok=True)
        with seeded(0):
            torch.save({"G": cls.build_network({"cnum": 8}).state_dict()}, path)
        return cls(device=device, weights=str(path), cnum=8)

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        lq, mask = lq.to(self.device), (mask.to(self.device) > 0.5).float()
        img = (lq * 2 - 1) * (1 - mask)
        ones = torch.ones_like(mask)
        _, out = self.net(torch.cat([img, ones, ones * mask], dim=1), mask)
        out = (out + 1) / 2
        return (mask * out + (1 - mask) * lq).clamp(0, 1)


@register
class DeepFillv2(DeepFillv2Base):
    name = "deepfillv2"
    weights = (WeightFile("states_tf_places2.pth", DRIVE + "1tvdQRmkphJK7FYveNAKSMWC6K09hJoyt",
                          size="~16 MB (4.05 M fp32 parameters)", subdir=BASELINES),)


@register
class DeepFillv2Face(DeepFillv2Base):
    name = "deepfillv2_face"
    weights = (WeightFile("states_tf_celebahq.pth", DRIVE + "1fTQVSKWwWcKYnmeemxKWImhVtFQpESmm",
                          size="~16 MB (4.05 M fp32 parameters)", subdir=BASELINES),)
