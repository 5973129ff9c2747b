"""DeepFillv2 (coarse network, dilated branch, contextual attention, refinement) against the
PyTorch port our loader targets (fixture ``tests/fixtures/baselines/deepfillv2.pt``).

The authors' release (github.com/JiahuiYu/generative_inpainting, v2.0.0) is TensorFlow 1 code
built on neuralgym and ``tf.contrib``: TensorFlow 2.21 installs from PyPI for Python 3.11, but it
has no ``tf.contrib`` and neuralgym is not on PyPI, so the release's graph could not be run here. The reference is therefore github.com/nipponjo/deepfillv2-
pytorch at commit 4899fd3, ``model/networks_tf.py``: the port whose converted files
(``states_tf_places2.pth``, ``states_tf_celebahq.pth``) are the released weights our methods load;
its TF-matching padding, resizing and contextual attention are its author's reproduction of the
TF graph, not the TF graph itself.

How the fixture was made (outside the project, /work/scratch/i23a/deepfill/make_fixture.py), the
port unpatched: ``Generator(cnum_in=5, cnum=8)`` (release 48), torch.manual_seed(0), then every
parameter redrawn from torch.Generator seed 23 (N(0, 2.25/fan_in) weights, N(0, 0.1) biases);
image (2, 3, 48, 64) U(0, 1) from it, one box mask (1 = hole) per image drawn from it among those
whose 1/8 nearest downsampling is the same in one step and in two (see below); the input prepared
as ``Generator.infer`` does (image in [-1, 1], holes zeroed, a ones channel, ones * mask), one image
per call as ``infer`` runs (the attention reads only the first mask of a batch, ``m = m[0]``, in
the port and in the TF graph alike);
recorded: stage-1 and stage-2 outputs and the composed result in [-1, 1]; and the generator's
``contextual_attention`` module alone on drawn (1, 16, 12, 16) features with the first mask, and
with an unaligned box (rows 12-29, columns 20-43). Then the one patch: the port's attention module
set to ``fuse = True`` (an attribute, no code change), and stage 2 and the attention recorded again.

Where the port and the TF release differ, and which one we follow (read from the release's
``inpaint_ops.py``/``inpaint_model.py`` at 3a53243): (1) the TF graph calls
``contextual_attention(x, x, mask_s, 3, 1, rate=2)`` whose default is ``fuse=True`` (attention
scores summed along both image axes); the port builds its module with ``fuse=False``. We follow
the release (``fuse`` defaults to 1; option ``fuse=0`` gives the port's). (2) The TF graph
(``inpaint_model.py`` at 3a53243) resizes the mask to the attention features' size
(``resize_mask_like``, nearest, align_corners) and ``contextual_attention`` resizes it again by
1/rate; the port downsamples the full-resolution mask by 8 in one step. The two pick different
rows/columns for most box positions; we follow the TF release (two steps). The fixture's masks are
those where both agree, so the whole network is compared; the unaligned box shows the difference.
"""
from pathlib import Path

import torch

import baselines as B
from baselines.deepfill import DeepFillv2Generator, contextual_attention, resize_nearest_tf

FIXTURE = Path(__file__).parent / "fixtures" / "baselines" / "deepfillv2.pt"
TOL = 1e-4       # float32 on CPU


def test_deepfillv2_matches_release(tmp_path):
    """Measured max abs difference (aligned masks): attention 1.5e-11, stage 1 8.9e-8, stage 2 1.5e-7 (fused and not)."""
    fx = torch.load(FIXTURE, weights_only=True)
    image, mask = fx["image"], fx["mask"]
    # contextual attention alone: the mask is given at the features' resolution (nearest, TF style)
    f = fx["ca_features"]
    mask_f = resize_nearest_tf(mask[:1], tuple(f.shape[-2:]))
    torch.testing.assert_close(contextual_attention(f, f, mask_f), fx["ca_out_fused"], atol=TOL, rtol=0)
    torch.testing.assert_close(contextual_attention(f, f, mask_f, fuse=False), fx["ca_out"], atol=TOL, rtol=0)
    # an unaligned box: the port's one-step mask keeps other patches valid than the TF release's two steps
    unaligned = fx["unaligned_mask"]
    two_step = resize_nearest_tf(resize_nearest_tf(unaligned, (12, 16)), (6, 8))
    one_step = resize_nearest_tf(unaligned, (6, 8))
    assert not torch.equal(two_step, one_step)
    ours = contextual_attention(f, f, resize_nearest_tf(unaligned, (12, 16)), fuse=False)
    assert (ours - fx["ca_out_unaligned"]).abs().max() > 0.1
    img11 = image * 2 - 1
    x = torch.cat([img11 * (1 - mask), torch.ones_like(mask), mask], dim=1)
    for fuse, key in ((False, "stage2"), (True, "stage2_fused")):
        net = DeepFillv2Generator(cnum=fx["cnum"], fuse=fuse).eval()
        net.load_state_dict(fx["G"])                 # the port's key names, strictly
        with torch.no_grad():
            stage1, stage2 = net(x, mask)
        torch.testing.assert_close(stage1, fx["stage1"], atol=TOL, rtol=0)
        torch.testing.assert_close(stage2, fx[key], atol=TOL, rtol=0)
    # the registered method, reading the port's {"G": ...} file (sizes a multiple of 8: no padding)
    path = tmp_path / "states_tf_places2.pth"
    torch.save({"G": fx["G"]}, path)
    out = B.load_restorer("deepfillv2", weights=str(path), cnum=fx["cnum"], fuse=0).restore(image * (1 - mask), mask)
    torch.testing.assert_close(out, ((fx["inpainted11"] + 1) / 2).clamp(0, 1), atol=TOL, rtol=0)
    assert B.load_restorer("deepfillv2", weights=str(path), cnum=fx["cnum"]).net.fuse      # the release's default


TF_FIXTURE = Path(__file__).parent / "fixtures" / "baselines" / "deepfillv2_tf_attention.pt"


def test_contextual_attention_matches_the_tf_release():
    """Contextual attention against the TF release itself (fixture ``deepfillv2_tf_attention.pt``).

    Made outside the project (/work/scratch/i23a/tfrelease/make_fixture.py): the release's
    ``inpaint_ops.py`` (JiahuiYu/generative_inpainting @ 3a53243) executed on TensorFlow 2.21
    (``pip install tensorflow-cpu==2.21.0``) in TF1 graph mode; patches, import lines only:
    ``tensorflow`` -> ``tensorflow.compat.v1``, ``tf.contrib``'s ``add_arg_scope`` decorator ->
    identity, neuralgym's star imports -> its ``resize`` alone (JiahuiYu/neuralgym @ 88292ad,
    extracted and run unchanged). Called as ``inpaint_model.py`` calls it: ``mask_s =
    resize_mask_like(mask, x)`` then ``contextual_attention(x, x, mask_s, 3, 1, rate=2)``, with
    ``fuse=True`` (its default) and ``fuse=False``, on (1, 12, 16, 16) N(0, 1) features
    (numpy default_rng(23)) and three box masks on a 48x64 image (one is the port fixture's
    unaligned box). Measured max abs difference: resized mask 0, attention 2.4e-7 (fused), 2.8e-6 (not).
    """
    fx = torch.load(TF_FIXTURE, weights_only=True)
    f = fx["features"]
    for i, mask in enumerate(fx["masks"]):
        mask_s = resize_nearest_tf(mask[None], tuple(f.shape[-2:]))            # resize_mask_like
        assert torch.equal(mask_s[0], fx["mask_small"][i])
        torch.testing.assert_close(contextual_attention(f, f, mask_s), fx["out_fused"][i:i + 1], atol=TOL, rtol=0)
        torch.testing.assert_close(contextual_attention(f, f, mask_s, fuse=False), fx["out_unfused"][i:i + 1],
                                   atol=TOL, rtol=0)
