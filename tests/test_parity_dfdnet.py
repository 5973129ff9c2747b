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

The network itself is basicsr's ``DFDNet`` (the basicsr maintainers' code, loading their
conversion of the official weights); the landmark detector differs from the release's (the
release runs face_alignment's 68-point FAN; we map facexlib's 98-point AWing), see
``baselines/dfdnet.py``: this test covers what is ours, the landmarks -> boxes step.
"""
from pathlib import Path

import numpy as np
import torch

from baselines.dfdnet import WFLW_TO_68, part_boxes

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
