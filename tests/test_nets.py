import pytest
import torch
import yaml

from resshift.nets import UNetSwin, VQAutoencoder
from resshift.nets.swin import SwinBlock

NETWORKS = {
    "unet_realsr_v3": (UNetSwin, 118_593_583),
    "unet_inpaint": (UNetSwin, None),
    "unet_faceir": (UNetSwin, None),
    "vq_f4": (VQAutoencoder, 55_322_782),
    "vq_f8_face": (VQAutoencoder, 77_009_115),
}


def _listing(path):
    rows = [line.rstrip("\n").split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    return {key: [int(v) for v in shape.strip("[]").split(",") if v.strip()] for key, shape in rows}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_state_dict_matches_official_listing(name, official_state_dicts):
    cls, count = NETWORKS[name]
    root = official_state_dicts
    params = yaml.safe_load((root / f"{name}.params.yaml").read_text())
    net = cls(**params)
    expected = _listing(root / f"{name}.tsv")
    got = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert sorted(set(expected) - set(got)) == []          # nothing missing
    assert sorted(set(got) - set(expected)) == []          # nothing extra
    for key, shape in expected.items():
        assert got[key] == shape, key
    if count is not None:
        assert sum(p.numel() for p in net.parameters()) == count
    # a state dict in the official layout loads strictly
    net.load_state_dict({k: torch.zeros(s) if "index" not in k else net.state_dict()[k]
                         for k, s in expected.items()}, strict=True)


def test_unet_reproduces_release_outputs(release_outputs):
    ref = release_outputs["unet"]
    net = UNetSwin(**ref["params"])
    net.load_state_dict(ref["state_dict"], strict=True)
    net.eval()
    with torch.no_grad():
        out = net(ref["x"], ref["t"], lq=ref["lq"])
        out2 = net(ref["x2"], ref["t2"], lq=ref["lq2"])        # a second resolution
    torch.testing.assert_close(out, ref["out"], rtol=0, atol=1e-5)
    torch.testing.assert_close(out2, ref["out2"], rtol=0, atol=1e-5)


def test_fresh_attention_masks_equal_released_buffers(release_outputs):
    """The shifted-window masks we build equal the buffers saved by the released code."""
    ref = release_outputs["unet"]
    fresh = UNetSwin(**ref["params"]).state_dict()
    keys = [k for k in ref["state_dict"] if k.endswith("attn_mask") or k.endswith("relative_position_index")]
    assert keys
    for key in keys:
        assert torch.equal(fresh[key], ref["state_dict"][key]), key


def test_vq_reproduces_release_outputs(release_outputs):
    ref = release_outputs["vq"]
    vq = VQAutoencoder(**ref["params"])
    vq.load_state_dict(ref["state_dict"], strict=True)
    vq.eval()
    with torch.no_grad():
        z = vq.encode(ref["img"])
        rec = vq.decode(ref["z"])
    torch.testing.assert_close(z, ref["z"], rtol=0, atol=1e-5)
    torch.testing.assert_close(rec, ref["rec"], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_sr_unet_accepts_any_multiple_of_64(official_state_dicts):
    params = yaml.safe_load((official_state_dicts / "unet_realsr_v3.params.yaml").read_text())
    net = UNetSwin(**params).eval()
    assert net.size_multiple == 64
    x = torch.randn(1, 3, 64, 128)                 # not the 64x64 training size
    with torch.no_grad():
        out = net(x, torch.tensor([3]), lq=torch.randn(1, 3, 64, 128))
    assert out.shape == (1, 3, 64, 128) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="multiple of 64"):
        net(torch.randn(1, 3, 64, 96), torch.tensor([0]), lq=torch.randn(1, 3, 64, 96))


def test_inpaint_and_face_conditioning(official_state_dicts):
    root = official_state_dicts
    small = dict(model_channels=32, swin_embed_dim=32, num_head_channels=16, channel_mult=[1, 2],
                 num_res_blocks=[1, 1], attention_resolutions=[16], window_size=4, image_size=16)
    p = {**yaml.safe_load((root / "unet_inpaint.params.yaml").read_text()), **small, "lq_size": 64}
    net = UNetSwin(**p).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 16, 16), torch.tensor([1]), lq=torch.randn(1, 3, 64, 64),
                  mask=torch.ones(1, 1, 64, 64))
    assert out.shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="mask"):
        net(torch.randn(1, 3, 16, 16), torch.tensor([1]), lq=torch.randn(1, 3, 64, 64))
    p = {**yaml.safe_load((root / "unet_faceir.params.yaml").read_text()), **small, "lq_size": 128}
    net = UNetSwin(**p).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 8, 16, 16), torch.tensor([0]), lq=torch.randn(1, 3, 128, 128))
    assert out.shape == (1, 8, 16, 16)


def test_swin_window_clamps_to_small_maps():
    block = SwinBlock(32, resolution=4, num_heads=2, window=8, shift=4, mlp_ratio=2)
    assert block.window == 4 and block.shift == 0 and block.attn_mask is None


def test_vq_decode_quantises():
    torch.manual_seed(0)
    vq = VQAutoencoder(ddconfig=dict(double_z=False, z_channels=3, resolution=32, in_channels=3, out_ch=3, ch=32,
                                     ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[], dropout=0.0),
                       n_embed=16, embed_dim=3).eval()
    z = torch.randn(1, 3, 16, 16)
    zq = vq.quantize(z)
    codes = vq.quantize.embedding.weight
    assert all(any(torch.allclose(v, c, atol=1e-6) for c in codes) for v in zq.permute(0, 2, 3, 1).reshape(-1, 3))
    with torch.no_grad():
        torch.testing.assert_close(vq.decode(z), vq.decode(zq, quantize=False))


def test_space_to_depth_folds_pixels_and_starts_at_the_skip():
    """space_to_depth s: the network sees s x s blocks as channels (1/s resolution) and returns the
    full-size image; with output_skip its untrained output is the condition itself."""
    from resshift.nets import UNetSwin

    torch.manual_seed(0)
    net = UNetSwin(image_size=32, in_channels=3, model_channels=32, out_channels=3, num_res_blocks=[1, 1],
                   attention_resolutions=[4], channel_mult=[1, 2], num_head_channels=16, swin_embed_dim=32,
                   window_size=4, cond_lq=True, lq_size=32, output_skip=True, space_to_depth=4)
    assert net.size_multiple == 32 and net.input_blocks[0][0].in_channels == 2 * 3 * 16
    x, lq = torch.randn(2, 3, 64, 32), torch.randn(2, 3, 64, 32)
    out = net(x, torch.tensor([0, 3]), lq=lq)
    assert out.shape == (2, 3, 64, 32) and torch.equal(out, lq)
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    assert not torch.equal(net(x, torch.tensor([0, 3]), lq=lq), lq)
    with pytest.raises(ValueError, match="space_to_depth 3"):
        UNetSwin(image_size=32, in_channels=3, model_channels=32, out_channels=3, num_res_blocks=1,
                 attention_resolutions=[], channel_mult=[1], num_head_channels=16, swin_embed_dim=32,
                 space_to_depth=3)
