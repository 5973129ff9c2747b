"""DASR against the release's own networks (fixture ``tests/fixtures/baselines/dasr.pt``).

How the fixture was made (outside the project, /work/scratch/i23a/dasr/make_fixture.py): the
release github.com/csjliang/DASR at commit b2269e4, its ``basicsr/archs/srresnetdynamic_arch.py``
(``MSRResNetDynamic``), ``degradation_prediction_arch.py`` (``Degradation_Predictor``) and
``arch_util.py`` (``Dynamic_conv2d``, ``ResidualBlockNoBNDynamic``) executed as they are; the only
patch: the ``ARCH_REGISTRY`` decorator and ``get_root_logger`` import replaced by stubs. Sizes:
num_feat 8, num_block 2, K = 5 experts, predictor nf 8 with 33 parameters; torch.manual_seed(0)
then every parameter redrawn from torch.Generator seed 23 (N(0, 1/fan_in) weights, N(0, 0.1)
biases; the release leaves Dynamic_conv2d's bias uninitialised), the (2, 3, 12, 12) input from
the same generator. Recorded: ``net_p(lq)`` -> (params, weights) and ``net_g(lq, weights)`` as
``SRGANDynamicModel.test`` calls them, plus ``net_g(lq, mix)`` for a second drawn mixture
``mix`` = 0.4 N(0, 1) (larger expert weights, so the experts' mixture is exercised harder).
"""
from pathlib import Path

import torch

import baselines as B
from baselines.dasr import DASRNet, DegradationPredictor

FIXTURE = Path(__file__).parent / "fixtures" / "baselines" / "dasr.pt"
TOL = 1e-4       # float32 on CPU: measured max abs difference 0.0 (predictor weights and both SR outputs)


def _load():
    return torch.load(FIXTURE, weights_only=True)


def test_dasr_matches_release(tmp_path):
    fx = _load()
    s = fx["sizes"]
    net = DASRNet(s["num_feat"], s["num_block"], s["num_models"]).eval()
    pred = DegradationPredictor(s["nf"], s["num_params"], s["num_models"]).eval()
    net.load_state_dict(fx["net_g"])                 # the release's key names, strictly
    pred.load_state_dict(fx["net_p"])
    with torch.no_grad():
        params, weights = pred(fx["lq"])
        torch.testing.assert_close(params, fx["params"], atol=TOL, rtol=0)
        torch.testing.assert_close(weights, fx["weights"], atol=TOL, rtol=0)
        torch.testing.assert_close(net(fx["lq"], fx["weights"]), fx["sr"], atol=TOL, rtol=0)
        torch.testing.assert_close(net(fx["lq"], fx["mix"]), fx["sr_mix"], atol=TOL, rtol=0)
    # the registered method, reading the release's basicsr-format files, chains the two as the release does
    g, p = tmp_path / "net_g.pth", tmp_path / "net_p.pth"
    torch.save({"params": fx["net_g"]}, g)
    torch.save({"params": fx["net_p"]}, p)
    method = B.load_restorer("dasr", weights=str(g), weights_p=str(p), num_feat=s["num_feat"], num_block=s["num_block"],
                     predictor_nf=s["nf"])
    torch.testing.assert_close(method.restore(fx["lq"]), fx["sr"].clamp(0, 1), atol=TOL, rtol=0)
