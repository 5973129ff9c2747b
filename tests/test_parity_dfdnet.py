"""DFDNet's wiring from 68 landmarks to the four component boxes, against the release's own
function (fixture ``tests/fixtures/baselines/dfdnet_parts.pt``).

How the fixture was made (outside the project, /work/scratch/i23a/dfdnet/make_fixture.py): the
release github.com/csxmli2016/DFDNet at commit df94970, ``test_FaceDict.get_part_location``
(extracted from the script and run as it is, except ``np.float``, removed from NumPy 1.24,
given as Python's ``float``) on 40 landmark sets: a 68-point template of an aligned 512x512 face,
scaled (every fourth set by 0.15-1.2, so some parts fall under the 16-pixel minimum half side),
shifted and jittered with numpy.random.default_rng(23), written with ``np.savetxt(fmt='%.3f')``
as the release's step 2 writes them and read back by the release's function. Recorded: the
landmarks as read and the (4, 4) integer boxes (left eye, right eye, nose, mouth; x1, y1, x2, y2).

The network is basicsr's ``DFDNet`` (the basicsr maintainers' code, loading their conversion of
the official weights); ``test_dfdnet_network_matches_release`` checks it against the release's
``UNetDictFace`` too. The landmark detector differs from the release's (the release runs
face_alignment's 68-point FAN; we map facexlib's 98-point AWing), see ``baselines/dfdnet.py``.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.dfdnet import WFLW_TO_68, part_boxes, random_dictionary
from dfdnet_stand_in import seeded_dfdnet_state

FIXTURE = Path(__file__).parent / "fixtures" / "baselines" / "dfdnet_parts.pt"


def test_dfdnet_part_boxes_match_release():
    """Exact: every box of every set equal (integers)."""
    fx = torch.load(FIXTURE, weights_only=True)
    assert len(fx["landmarks68"]) == 40
    widths = fx["boxes"][:, :, 2] - fx["boxes"][:, :, 0]
    assert (widths == 31).any() and (widths > 31).any()          # the 16-pixel minimum and the extent rule both occur
    for landmarks, expected in zip(fx["landmarks68"], fx["boxes"]):
        ours = part_boxes(landmarks.numpy())
        assert [tuple(b.shape) for b in ours] == [(1, 4)] * 4
        assert torch.equal(torch.cat(ours), expected)


def test_wflw_to_68_mapping_is_a_68_point_scheme():
    """The 98 -> 68 correspondence (ours; no release output to compare): 68 distinct WFLW indices,
    the eyes' and mouth's points in the 300-W order the boxes above rely on."""
    assert len(WFLW_TO_68) == 68 and len(set(WFLW_TO_68)) == 68 and max(WFLW_TO_68) < 98
    pts98 = np.stack([np.arange(98.0), np.zeros(98)], 1)
    mapped = pts98[WFLW_TO_68][:, 0]
    assert list(mapped[48:68]) == list(range(76, 96))               # mouth: WFLW 76-95 in order


@pytest.mark.slow
def test_dfdnet_network_matches_release(tmp_path):
    """basicsr's DFDNet against the release's ``UNetDictFace`` at full size (fixture
    ``dfdnet_net.pt``: the output only; weights, dictionary and input are regenerated from seeds).

    Made outside the project (/work/scratch/i23a/dfdnet/make_net_fixture.py): basicsr's DFDNet
    built with ``random_dictionary(atoms=2, seed=0)`` and weighted by ``seeded_dfdnet_state`` (seed
    23); its state dict renamed to the release's keys by the inverse of basicsr's
    ``scripts/model_conversion/convert_dfdnet.py`` mapping and loaded into the release's
    ``models.networks.UNetDictFace(64)`` (commit df94970, unpatched; its dictionary written as the
    release's ``DictionaryCenter512/*_center.npy`` files, a random ``weights/vgg19.pth`` for its
    unused classifier); the face (1, 3, 512, 512) U(-1, 1) from torch.Generator seed 7 and the
    release's boxes of landmark set 1 of ``dfdnet_parts.pt``; recorded ``net(face, boxes)`` in eval
    mode. Heavy: 113 M parameters at 512x512 (about 20 s of CPU). Measured max abs difference 4.0e-7.
    """
    from resshift.compat import basicsr_vgg_unweighted

    fx = torch.load(FIXTURE.with_name("dfdnet_net.pt"), weights_only=True)
    parts = torch.load(FIXTURE, weights_only=True)
    assert torch.equal(fx["boxes"], parts["boxes"][fx["landmark_set"]])
    dict_path = tmp_path / "dict.pth"
    torch.save(random_dictionary(atoms=2, seed=fx["dictionary_seed"]), dict_path)
    with basicsr_vgg_unweighted():
        from basicsr.archs.dfdnet_arch import DFDNet

        net = DFDNet(64, dict_path=str(dict_path)).eval()
    seeded_dfdnet_state(net, fx["weight_seed"])
    face = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(fx["input_seed"])) * 2 - 1
    boxes = part_boxes(parts["landmarks68"][fx["landmark_set"]].numpy())           # our wiring, as restore_faces runs it
    with torch.no_grad():
        out = net(face, boxes)
    torch.testing.assert_close(out, fx["output"], atol=1e-4, rtol=0)
