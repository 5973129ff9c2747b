"""Compared methods of Tables IV-VII with no adapter here yet: listed by `resshift-bench baselines`,
named as not run in the tables, refused with this reason by `resshift-bench run`."""
from .base import declare_unavailable

declare_unavailable(
    "dfdnet", "face", "DFDNet",
    "architecture not implemented here yet (component dictionaries and landmark-guided crops)",
    "github.com/csxmli2016/DFDNet (DictionaryCenter512, net_g)", "see the release")
