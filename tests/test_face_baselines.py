"""PSFR-GAN: SPADE's equation, the release's spectral normalisation on load, the released layouts
and the parsing prior."""
import pytest
import torch
import torch.nn.functional as F

import baselines as B
from baselines.psfrgan import ParseNet, PSFRGenerator, SPADENorm, one_hot_parsing, settle_spectral_norms
from resshift.errors import ResShiftError


def test_spade_is_instance_norm_modulated_by_the_prior():
    torch.manual_seed(0)
    norm = SPADENorm(4, 22, hidden=8)
    x, ref = torch.randn(2, 4, 8, 8) * 3 + 1, torch.randn(2, 22, 16, 16)
    mu, var = x.mean(dim=(2, 3), keepdim=True), x.var(dim=(2, 3), keepdim=True, unbiased=False)
    r = F.interpolate(ref, (8, 8), mode="bicubic", align_corners=False)
    act = F.leaky_relu(norm.conv1[0](r), 0.2)
    ref_out = (x - mu) / torch.sqrt(var + 1e-5) * norm.gamma_conv(act) + norm.beta_conv(act)
    torch.testing.assert_close(norm(x, ref), ref_out, atol=1e-5, rtol=1e-5)


def test_released_layouts_and_spectral_norm_on_load(tmp_path):
    gen, parse = PSFRGenerator(), ParseNet()
    assert sum(p.numel() for p in gen.parameters()) == 45_956_995
    assert sum(p.numel() for p in parse.parameters()) == 21_303_254
    sd = gen.state_dict()
    assert sd["const_input"].shape == (1, 1024, 16, 16) and sd["img_out.weight_orig"].shape == (3, 32, 3, 3)
    assert "body.4.2.norm_1.gamma_conv.weight_u" in sd and "head.1.conv_0.weight_v" in sd
    psd = parse.state_dict()
    assert psd["out_mask_conv.conv2d.weight"].shape == (19, 64, 3, 3)
    assert psd["encoder.4.conv1.norm.norm.running_var"].shape == (256,)
    assert "body.0.shortcut_func.conv2d.weight" not in psd                   # identity shortcuts
    torch.manual_seed(1)
    method = B.get("psfrgan").with_random_weights(tmp_path)
    conv = method.generator.head[0]
    w = conv.weight_orig.flatten(1)
    sigma = conv.weight_u @ (w @ conv.weight_v)                               # u^T W v with the saved vectors
    x = torch.randn(1, 1024, 4, 4)
    with torch.no_grad():                                     # eval: no power iteration, the saved u and v
        torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight_orig / sigma, conv.bias, padding=1),
                                   atol=1e-5, rtol=1e-4)
    assert 0.95 < float(sigma / torch.linalg.matrix_norm(w, ord=2)) <= 1 + 1e-5        # ~ the largest singular value
    bad = tmp_path / "bad.pth"
    torch.save({"head.0.bias": torch.zeros(3)}, bad)
    with pytest.raises(ResShiftError, match="is not the release's PSFR generator") as err:
        B.build("psfrgan", weights=str(bad), parse_net=str(tmp_path / B.get("psfrgan").weights[1].file))
    assert "\n" not in str(err.value)


def test_parsing_prior_is_the_argmax_one_hot():
    logits = torch.tensor([[[[0.1]], [[2.0]], [[-1.0]]]])
    assert one_hot_parsing(logits).flatten().tolist() == [0.0, 1.0, 0.0]
    assert settle_spectral_norms(torch.nn.Linear(2, 2)) is not None
