"""PSFR-GAN: SPADE's equation, the release's spectral normalisation on load, the released layouts
and the parsing prior."""
import pytest
import torch
import torch.nn.functional as F

import baselines as B
from baselines.dfdnet import TINY_LANDMARKS68
from baselines.psfrgan import ParseNet, PSFRGenerator, SPADENorm, one_hot_parsing, settle_spectral_norms
from baselines.vqfr import TINY_CONFIG
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


@pytest.mark.slow
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
    gen_file = tmp_path / B.get("psfrgan").weights[0].file
    older = torch.load(gen_file, weights_only=True)
    older["to_rgb.0.weight_orig"] = torch.zeros(3, 1024, 3, 3)           # the earlier code's unused RGB heads
    torch.save(older, gen_file)
    B.load_restorer("psfrgan", weights=str(gen_file), parse_net=str(tmp_path / B.get("psfrgan").weights[1].file))
    bad = tmp_path / "bad.pth"
    torch.save({"head.0.bias": torch.zeros(3)}, bad)
    with pytest.raises(ResShiftError, match="is not the release's PSFR generator") as err:
        B.load_restorer("psfrgan", weights=str(bad), parse_net=str(tmp_path / B.get("psfrgan").weights[1].file))
    assert "\n" not in str(err.value)


def test_parsing_prior_is_the_argmax_one_hot():
    logits = torch.tensor([[[[0.1]], [[2.0]], [[-1.0]]]])
    assert one_hot_parsing(logits).flatten().tolist() == [0.0, 1.0, 0.0]
    assert settle_spectral_norms(torch.nn.Linear(2, 2)) is not None


# -- VQFR v2 -----------------------------------------------------------------------------------------------
TINY_VQFR = TINY_CONFIG                      # (moved to baselines.vqfr for tiny())


def test_vqfr_v2_layout():
    from baselines.vqfr import V2_CONFIG, VQFRv2Net

    sd = VQFRv2Net(**V2_CONFIG).state_dict()
    assert sum(v.numel() for k, v in sd.items() if "running" not in k) == 83_486_539
    assert sd["quantizer.embedding.weight"].shape == (1024, 256) and sd["feat2index.1.weight"].shape == (1024, 256)
    assert sd["main_branch.align_func_dict.Level_1.dcn.conv_offset.weight"].shape == (108, 64, 3, 3)
    assert sd["main_branch.align_func_dict.Level_16.offset_conv2.0.weight"].shape == (256, 256 + 512, 3, 3)
    assert sd["encoder.blocks.5.0.conv.weight"].shape == (256, 256, 3, 3)                 # Downsample first
    assert sd["decoder.blocks.0.1.q.weight"].shape == (512, 512, 1, 1)                    # attention at 16x16


def test_deformable_convolution_follows_its_offsets():
    from baselines.vqfr import DeformConvPack

    torch.manual_seed(0)
    dcn = DeformConvPack(32, groups=4)
    x, feat = torch.randn(1, 32, 6, 6), torch.randn(1, 32, 6, 6)
    with torch.no_grad():
        dcn.conv_offset.weight.zero_()
        dcn.conv_offset.bias.zero_()
        torch.testing.assert_close(dcn(x, feat), 0.5 * F.conv2d(x, dcn.weight, padding=1) + dcn.bias.view(1, -1, 1, 1),
                                   atol=1e-5, rtol=1e-5)                      # no offset, mask sigmoid(0)
        dcn.conv_offset.bias[:72] = 1.0                                       # every tap moved by (+1, +1)
        dcn.conv_offset.bias[72:] = 50.0                                      # mask ~ 1
        # out(p) = sum_k w_k x(p + k + 1), k in {-1, 0, 1}: a valid convolution of x padded after by 2
        torch.testing.assert_close(dcn(x, feat), F.conv2d(F.pad(x, (0, 2, 0, 2)), dcn.weight, dcn.bias),
                                   atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_vqfr_restores_with_the_release_wrapping(tmp_path):
    from baselines.vqfr import VQFRv2Net

    torch.manual_seed(0)
    net = VQFRv2Net(**TINY_VQFR)
    path = tmp_path / "VQFR_v2.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    method = B.load_restorer("vqfr", weights=str(path), config=TINY_VQFR)
    lq = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    out = method.restore(lq)
    with torch.no_grad():                                                     # fidelity 0: the texture decoder
        x = lq * 2 - 1
        codes = net.feat2index(net.encoder(x).flatten(2).transpose(1, 2)).argmax(-1)
        texture = net.decoder.conv_out(net.decoder.features(net.quantizer.lookup(codes))["Level_1"])
    torch.testing.assert_close(out, (texture.clamp(-1, 1) + 1) / 2, atol=1e-5, rtol=1e-5)
    assert not torch.equal(B.load_restorer("vqfr", weights=str(path), config=TINY_VQFR, fidelity=1.0).restore(lq), out)
    with pytest.raises(ResShiftError, match="is not a VQFR v2 model"):
        B.load_restorer("vqfr", weights=str(path))                                    # tiny file, full-size layout


# -- DFDNet ------------------------------------------------------------------------------------------------
def test_dfdnet_component_boxes_follow_the_landmarks():
    import numpy as np

    from baselines.dfdnet import WFLW_TO_68, part_boxes

    assert len(WFLW_TO_68) == 68 and len(set(WFLW_TO_68)) == 68 and max(WFLW_TO_68) == 95
    pts = np.zeros((68, 2))
    pts[17:22] = [[100, 200], [110, 195], [120, 190], [130, 195], [140, 200]]      # left brow
    pts[36:42] = [[105, 220], [115, 215], [125, 215], [135, 220], [125, 225], [115, 225]]
    pts[22:27], pts[42:48] = pts[17:22] + [200, 0], pts[36:42] + [200, 0]
    pts[29:36] = [[256, 250 + 5 * i] for i in range(7)]                              # nose: extent 30 -> 16
    pts[48:68] = [[206 + 5 * i, 350] for i in range(20)]                             # mouth: extent 95
    le, re, nose, mouth = part_boxes(pts)
    centre = pts[list(range(17, 22)) + list(range(36, 42))].mean(0)                # extent 40 -> half 20
    assert le.tolist() == [np.hstack((centre - 20 + 1, centre + 20)).astype(int).tolist()]
    assert (re - le).tolist() == [[200, 0, 200, 0]]
    assert nose.tolist() == [[256 - 16 + 1, 265 - 16 + 1, 256 + 16, 265 + 16]]      # the 16-pixel floor
    assert mouth.tolist() == [[int(253.5 - 47.5 + 1), int(350 - 47.5 + 1), int(253.5 + 47.5), int(350 + 47.5)]]


DFDNET_LANDMARKS = TINY_LANDMARKS68          # a frontal face's landmarks (moved to baselines.dfdnet for tiny())


@pytest.mark.slow
def test_dfdnet_loads_basicsr_files_and_restores(tmp_path, monkeypatch):
    from baselines.dfdnet import DFDNet

    torch.manual_seed(0)
    method = DFDNet.with_random_weights(tmp_path)
    assert sum(p.numel() for p in method.net.parameters()) == 113_313_987          # VGG19 part: 20.02 M
    monkeypatch.setenv("FACEXLIB_HOME", str(tmp_path / "facexlib"))
    with pytest.raises(ResShiftError, match="landmark model weights missing: alignment_WFLW_4HG.pth"):
        method.restore(torch.rand(1, 3, 512, 512))
    monkeypatch.setattr(method, "landmarks68", lambda face: DFDNET_LANDMARKS)  # the landmark model needs weights
    lq = torch.rand(2, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    out = method.restore(lq)
    assert out.shape == lq.shape and torch.isfinite(out).all()
    torch.save({"params": {"upsample4.0.bias": torch.zeros(3)}}, tmp_path / "bad.pth")
    with pytest.raises(ResShiftError, match="is not basicsr's DFDNet checkpoint") as err:
        B.load_restorer("dfdnet", weights=str(tmp_path / "bad.pth"), dictionary=str(tmp_path / DFDNet.weights[1].file))
    assert "\n" not in str(err.value)
