"""Compared methods of Tables IV-VII with no adapter here yet: listed by `resshift-bench baselines`,
named as not run in the tables, refused with this reason by `resshift-bench run`."""
from .base import declare_unavailable

declare_unavailable(
    "deepfillv2_face", "inpaint", "DeepFillv2",
    "architecture not implemented here yet (the CelebA-HQ model of the PyTorch port)",
    "github.com/nipponjo/deepfillv2-pytorch (states_pt_celebahq.pth)", "CC BY-NC 4.0 (port)")
declare_unavailable(
    "vqfr", "face", "VQFR",
    "architecture not implemented here yet (its parallel decoder needs deformable convolutions)",
    "github.com/TencentARC/VQFR/releases/download/v2.0.0/VQFR_v2.pth", "see the release")
declare_unavailable(
    "dfdnet", "face", "DFDNet",
    "architecture not implemented here yet (component dictionaries and landmark-guided crops)",
    "github.com/csxmli2016/DFDNet (DictionaryCenter512, net_g)", "see the release")
