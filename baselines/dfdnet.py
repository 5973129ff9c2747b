"""DFDNet (Li et al., "Blind Face Restoration via Deep Multi-scale Component Dictionaries",
ECCV 2020) for Tables VI/VII: basicsr's DFDNet architecture with basicsr's conversion of the
official weights (``DFDNet_official-d1fa5650.pth``) and component dictionaries
(``DFDNet_dict_512-f79685f0.pth``), run as basicsr's ``inference_dfdnet.py`` runs a cropped face:

1. 68 landmarks of the aligned 512x512 face give four component boxes (left eye and brow, right
   eye and brow, nose, mouth): centre = mean of the component's landmarks, half side =
   max(half the larger extent, 16) pixels;
2. the network swaps each component's VGG features for the closest dictionary atom (after AdaIN)
   at four scales and decodes with spatial feature transforms; input and output in [-1, 1].

Landmarks: the release's ``test_FaceDict.py`` uses face_alignment's 68-point FAN (basicsr's
inference script dlib's 68-point predictor); here facexlib's AWing model (98 WFLW
points, ``alignment_WFLW_4HG.pth``, the LMD metric's model) mapped to the 68-point scheme by the
standard WFLW -> 300-W correspondence, so the boxes can differ from the release's by a few pixels.
Licence: CC BY-NC-SA 4.0 (the official release).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from resshift.compat import basicsr_vgg_unweighted
from resshift.errors import ResShiftError
from resshift.landmarks import ALIGNMENT_WFLW, wflw_landmarks
from resshift.weights import load_checkpoint

from .base import BASELINES, WeightFile, register, seeded
from .face import AlignedFaceRestorer
from .psfrgan import settle_spectral_norms

BASICSR_DRIVE = "https://drive.google.com/file/d/{}/view (basicsr's download_pretrained_models.py --method DFDNet)"
PART_SIZES = {"left_eye": 80, "right_eye": 80, "nose": 50, "mouth": 110}        # at 512 pixels
CHANNELS = {256: 128, 128: 256, 64: 512, 32: 512}                                # dictionary scale -> VGG channels

# WFLW 98 -> 300-W 68 landmark indices: jaw (every other point), brows (upper edges), nose, eyes, mouth
WFLW_TO_68 = (list(range(0, 33, 2)) + [33, 34, 35, 36, 37] + [42, 43, 44, 45, 46] + list(range(51, 60))
              + [60, 61, 63, 64, 65, 67] + [68, 69, 71, 72, 73, 75] + list(range(76, 96)))
PARTS_68 = {"left_eye": list(range(17, 22)) + list(range(36, 42)),
            "right_eye": list(range(22, 27)) + list(range(42, 48)),
            "nose": list(range(29, 36)), "mouth": list(range(48, 68))}


# tiny(): fixed 68 landmarks of a frontal 512x512 face (brows, eyes, nose, mouth; the jaw, which no
# component box uses, at 0), for use without the landmark model's weights
TINY_LANDMARKS68 = np.zeros((68, 2), dtype=np.float32)
TINY_LANDMARKS68[17:27] = [[150 + 21 * i, 200] for i in range(10)]
TINY_LANDMARKS68[36:48] = [[170 + 15 * i, 230] for i in range(12)]
TINY_LANDMARKS68[29:36] = [[256, 260 + 8 * i] for i in range(7)]
TINY_LANDMARKS68[48:68] = [[210 + 5 * i, 360] for i in range(20)]


def part_boxes(landmarks68: np.ndarray) -> list[torch.Tensor]:
    """(x1, y1, x2, y2) of each component (order: left eye, right eye, nose, mouth), each a (1, 4)
    int tensor: centre the mean landmark, half side max(larger extent / 2, 16)."""
    pts = np.asarray(landmarks68, dtype=np.float64)
    boxes = []
    for idx in PARTS_68.values():
        p = pts[idx]
        centre = p.mean(axis=0)
        half = max(float((p.max(axis=0) - p.min(axis=0)).max()) / 2, 16.0)
        boxes.append(torch.from_numpy(np.hstack((centre - half + 1, centre + half)).astype(int)).unsqueeze(0))
    return boxes


def random_dictionary(atoms: int = 2, seed: int = 0) -> dict:
    """A dictionary in the release's layout ({'256': {'left_eye': (atoms, 128, 40, 40), ...}, ...})."""
    g = torch.Generator().manual_seed(seed)
    return {str(scale): {part: torch.randn(atoms, ch, size * scale // 512, size * scale // 512, generator=g)
                         for part, size in PART_SIZES.items()} for scale, ch in CHANNELS.items()}


@register
class DFDNet(AlignedFaceRestorer):
    name, label = "dfdnet", "DFDNet"
    implementation = "ours"            # basicsr's network; the landmarks -> component boxes wiring is ours
    release_parity = "tests/test_parity_dfdnet.py::test_dfdnet_part_boxes_match_release"
    licence = "CC BY-NC-SA 4.0"
    needs = "facexlib's alignment_WFLW_4HG.pth (landmarks; `resshift-bench weights fetch lmd`)"
    weights = (WeightFile("DFDNet_official-d1fa5650.pth", BASICSR_DRIVE.format("1u6Sgcp8gVoy4uVTrOJKD3y9RuqH2JBAe"),
                          size="~453 MB (113.31 M fp32 parameters)", manual=True, subdir=BASELINES),
               WeightFile("DFDNet_dict_512-f79685f0.pth", BASICSR_DRIVE.format("1iH00oMsoN_1OJaEQw3zP7_wqiAYMnY79"),
                          manual=True, subdir=BASELINES))

    def load(self) -> None:
        path = self.weight_path(0)
        dict_path = Path(self.options.get("dictionary") or self.weight_path(1))
        if not dict_path.is_file():
            raise ResShiftError(f"{self.name}: dictionary file {dict_path} not found")
        with basicsr_vgg_unweighted():
            from basicsr.archs.dfdnet_arch import DFDNet as Net

            try:
                self.net = Net(64, dict_path=str(dict_path))
            except Exception as exc:  # noqa: BLE001 - an unreadable dictionary is the user's file
                raise ResShiftError(f"{self.name}: {dict_path} is not a DFDNet dictionary "
                                    f"({type(exc).__name__})") from None
        try:
            load_checkpoint(self.net, path)
        except ResShiftError as exc:
            raise ResShiftError(f"{self.name}: {path} is not basicsr's DFDNet checkpoint ({exc})") from None
        self.net = self.net.to(self.device).eval()
        self._landmarks = None

    def modules(self):
        return {"trainable": self.net}

    def landmarks68(self, face: torch.Tensor) -> np.ndarray:
        """68 landmarks (x, y) of one aligned 512x512 face in [0, 1] (facexlib AWing, mapped)."""
        if self._landmarks is None:
            if not ALIGNMENT_WFLW.present():
                raise ResShiftError(f"{self.name}: landmark model weights missing: {ALIGNMENT_WFLW.file} (expected at "
                                    f"{ALIGNMENT_WFLW.path}, from {ALIGNMENT_WFLW.url}); run `resshift-bench weights "
                                    "fetch lmd` where the network allows")
            self._landmarks = wflw_landmarks(self.device)          # the LMD metric's detector
        return self._landmarks(face[None])[0][WFLW_TO_68]

    @classmethod
    def with_random_weights(cls, folder, steps=None, device="cpu"):
        path, dict_path = cls.files_in(folder)[:2]
        torch.save(random_dictionary(), dict_path)
        with basicsr_vgg_unweighted():
            from basicsr.archs.dfdnet_arch import DFDNet as Net

            net = Net(64, dict_path=str(dict_path))
        torch.save({"params": settle_spectral_norms(net).state_dict()}, path)     # basicsr's wrapping
        return cls(steps=steps, device=device, weights=str(path), dictionary=str(dict_path))

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """basicsr's DFDNet (its size is fixed) with random weights and a 2-atom dictionary, and fixed
        landmarks (:data:`TINY_LANDMARKS68`) instead of the landmark model, which needs weights."""
        with seeded(0):
            method = cls.with_random_weights(folder, device=device)
        method.landmarks68 = lambda face: TINY_LANDMARKS68
        return method

    def restore_faces(self, x11, generator):
        outs = []
        for face in x11:                                       # the network takes one face at a time
            boxes = [b.to(self.device) for b in part_boxes(self.landmarks68((face + 1) / 2))]
            outs.append(self.net(face[None], boxes))
        return torch.cat(outs)
