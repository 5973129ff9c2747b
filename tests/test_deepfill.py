"""DeepFillv2: TF's padding and resizing, contextual attention against a loop over its definition
(Yu et al. 2018, Sec. 3.2), the converted files' layout and the known pixels."""
import itertools

import pytest
import torch
import torch.nn.functional as F

import baselines as B
from baselines.deepfill import DeepFillv2Generator, contextual_attention, resize_nearest_tf, same_pad
from resshift.errors import ResShiftError


def test_same_padding_is_tensorflows():
    x = torch.ones(1, 1, 8, 8)
    assert same_pad(x, 3, stride=2).shape[-2:] == (9, 9)                  # 0 before, 1 after
    assert same_pad(x, 3, stride=2)[0, 0, :, -1].sum() == 0 and same_pad(x, 3, stride=2)[0, 0, 0].sum() == 8
    assert same_pad(x, 5).shape[-2:] == (12, 12)
    assert same_pad(x, 3, rate=16).shape[-2:] == (40, 40)
    assert same_pad(x, 4, stride=2).shape[-2:] == (10, 10)


def test_resize_is_tf_nearest_with_align_corners():
    x = torch.arange(8.0).view(1, 1, 1, 8)
    assert resize_nearest_tf(x, (1, 4)).flatten().tolist() == [0, 2, 5, 7]       # round(i * 7 / 3)
    assert resize_nearest_tf(torch.arange(4.0).view(1, 1, 1, 4), (1, 8)).flatten().tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def _naive_attention(feat, mask, fuse):
    """Contextual attention with loops: patches, cosine scores, diagonal fusion on the flattened
    (foreground, background) score matrix along both axes, masked softmax, patch pasting."""
    c, h, w = feat.shape[1:]
    small = resize_nearest_tf(feat, (h // 2, w // 2))[0]
    ms = resize_nearest_tf(mask, (h // 2, w // 2))[0, 0]
    sh, sw = small.shape[-2:]
    pad = F.pad(small, (1, 1, 1, 1))
    mpad = F.pad(ms, (1, 1, 1, 1))
    locs = list(itertools.product(range(sh), range(sw)))
    patch = {q: pad[:, q[0]:q[0] + 3, q[1]:q[1] + 3] for q in locs}
    valid = {q: float(mpad[q[0]:q[0] + 3, q[1]:q[1] + 3].sum() == 0) for q in locs}
    S = torch.zeros(len(locs), len(locs))                   # rows: foreground, columns: background (row-major)
    for i, p in enumerate(locs):
        for j, q in enumerate(locs):
            w_q = patch[q]
            S[i, j] = (patch[p] * w_q).sum() / max(float(w_q.pow(2).sum().sqrt()), 1e-4)
    if fuse:
        def diag(M):
            out = torch.zeros_like(M)
            for i, j in itertools.product(range(M.shape[0]), range(M.shape[1])):
                out[i, j] = sum(M[i + d, j + d] for d in (-1, 0, 1)
                                if 0 <= i + d < M.shape[0] and 0 <= j + d < M.shape[1])
            return out
        S = diag(S)
        col = [locs.index((y, x)) for x in range(sw) for y in range(sh)]        # column-major order
        T = diag(S[col][:, col])
        S = torch.zeros_like(S)
        S[torch.tensor(col)[:, None], torch.tensor(col)[None, :]] = T
    v = torch.tensor([valid[q] for q in locs])
    A = torch.softmax(S * v * 10, dim=1) * v
    bpad = F.pad(feat[0], (1, 1, 1, 1))
    raw = {q: bpad[:, 2 * q[0]:2 * q[0] + 4, 2 * q[1]:2 * q[1] + 4] for q in locs}
    out = torch.zeros(c, h + 2, w + 2)                       # pasted at stride 2, 1 pixel cropped each side
    for i, p in enumerate(locs):
        for j, q in enumerate(locs):
            out[:, 2 * p[0]:2 * p[0] + 4, 2 * p[1]:2 * p[1] + 4] += A[i, j] * raw[q]
    return (out[:, 1:-1, 1:-1] / 4).unsqueeze(0)


@pytest.mark.parametrize("fuse", [False, True])
def test_contextual_attention_follows_its_definition(fuse):
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(1, 2, 8, 12, generator=g)
    mask = torch.zeros(1, 1, 8, 12)
    mask[..., 2:6, 3:8] = 1
    ours = contextual_attention(feat, feat, mask, fuse=fuse)
    torch.testing.assert_close(ours, _naive_attention(feat, mask, fuse), atol=1e-5, rtol=1e-5)


def test_generator_layout_and_known_pixels(tmp_path):
    net = DeepFillv2Generator()
    assert sum(p.numel() for p in net.parameters()) == 4_052_478            # the released generator, 4.05 M
    sd = net.state_dict()
    assert sd["conv13_upsample.conv.conv.weight"].shape == (96, 96, 3, 3)
    assert sd["conv17.conv.weight"].shape == (3, 12, 3, 3) and sd["pmconv6.conv.weight"].shape == (192, 96, 3, 3)
    torch.manual_seed(0)
    method = B.get("deepfillv2_face").with_random_weights(tmp_path)
    gt = torch.rand(1, 3, 36, 40, generator=torch.Generator().manual_seed(1))          # padded to 40x40 inside
    mask = torch.zeros(1, 1, 36, 40)
    mask[..., 4:20, 10:30] = 1
    out = method(gt * (1 - mask), mask=mask)
    assert out.shape == gt.shape and torch.equal(out * (1 - mask), gt * (1 - mask))
    bad = tmp_path / "bad.pth"
    torch.save({"G": {"conv1.conv.weight": torch.zeros(1)}}, bad)
    with pytest.raises(ResShiftError, match="not a converted DeepFillv2 generator") as err:
        B.load_restorer("deepfillv2", weights=str(bad))
    assert "\n" not in str(err.value)
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(ResShiftError, match="cannot be read as a torch checkpoint"):
        B.load_restorer("deepfillv2", weights=str(tmp_path / "text.pth"))
