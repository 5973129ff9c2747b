"""End-to-end parity of ``resshift.restore`` with the authors' released sampler.

Fixtures (``tests/fixtures/release_pipeline/<task>.pt``, see the README there) were produced by
running the release's own ``sampler.py: ResShiftSampler.inference`` (github zsyOAOA/ResShift,
branch ``journal``; the ``_size2`` runs at its commit 3ce1d81) on CPU, float32, on PNG inputs, with each task's released
configuration whose network sizes were shrunk and whose weights are seeded random values (the
diffusion settings are the configurations' own). Every ``torch.randn``/``randn_like`` draw of the
sampler came from ``torch.Generator('cpu').manual_seed(0)`` and was recorded in draw order:
the prior noise, then one per step t = T-1 .. 0 (the last one is multiplied by zero). The only
patches to the release: ``.cuda()`` returns the object itself, checkpoints load with
``map_location='cpu'``, the unused ``loguru`` / ``datapipe.datasets`` imports are stubbed, and the
random draws are taken from (and recorded off) the seeded generator.

``<task>.pt`` comes from the release run in the project's shared reference set (one network size
per task); ``<task>_size2.pt`` from a second run made for this project with other sizes
(``tests/fixtures/release_pipeline/README.md`` lists both).

We build our model from ``load_config(<task>)`` with only ``unet.params`` / ``autoencoder.params``
replaced by the fixture's sizes, load the release state dicts from files, feed the recorded draws
through the ``noise`` hook, and compare. Measured: against the ``_size2`` runs (made on this
project's CPU machine) our chain is bit-identical to the release (max diff 0; chain states
rebuilt from the network inputs carry a 4.8e-7 rescaling round-off); against the shared-set
entries (made on another CPU, whose convolutions round differently: the release's own encoder
output differs by 2.2e-6 here) outputs within 3.9e-6, chain states and x0 predictions within
1.9e-5. Asserted: 1e-4 (the issue's bound). Sensitivity check made when choosing the ``_size2``
weights: a relative 2e-6 perturbation of every network input moves outputs and states by at
most 7.9e-5.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import resshift
from resshift.config import build_model, load_config

FIXTURES = Path(__file__).parent / "fixtures" / "release_pipeline"
TOL = 1e-4                          # max abs, [0, 1] scale for images; chain states in latent units
TASK_CONFIG = {"realsr_v3": "v3", "bicsr": "bicsr", "inpaint_imagenet": "inpaint_imagenet",
               "inpaint_face": "inpaint_face", "faceir": "faceir"}
SIZES = ["", "_size2"]


def load_entry(name: str) -> dict:
    path = FIXTURES / f"{name}.pt"
    if not path.exists():
        pytest.fail(f"missing fixture {path}")
    entry = torch.load(path, weights_only=True)
    for part in ("unet", "autoencoder"):        # weights kept in their own file (files stay < 5 MB)
        if f"state_dict_{part}_file" in entry:
            entry[f"state_dict_{part}"] = torch.load(FIXTURES / entry[f"state_dict_{part}_file"], weights_only=True)
    if "weights_from" in entry:                 # chopped run: same networks as another entry
        base = torch.load(FIXTURES / f"{entry['weights_from']}.pt", weights_only=True)
        entry["state_dict_unet"] = base["state_dict_unet"]
        entry["state_dict_autoencoder"] = base["state_dict_autoencoder"]
    return entry


def model_for(entry: dict, config: str, tmp_path: Path):
    """Our model from the task's configuration with the fixture's network sizes and weights,
    the weights read from files written in the release's format."""
    cfg = load_config(config)
    cfg["unet"]["params"] = copy.deepcopy(entry["params_unet"])
    cfg["autoencoder"]["params"] = copy.deepcopy(entry["params_autoencoder"])
    unet_file, ae_file = tmp_path / "unet.pth", tmp_path / "autoencoder.pth"
    torch.save({"state_dict": entry["state_dict_unet"]}, unet_file)      # release checkpoints wrap it
    torch.save({"state_dict": entry["state_dict_autoencoder"]}, ae_file)
    return build_model(cfg, checkpoint=unet_file, autoencoder_checkpoint=ae_file)


class Recorded:
    """The noise hook: hands out the release's draws in order, skipping its unused t = 0 draw."""

    def __init__(self, noises: list[torch.Tensor], steps: int):
        per_patch = steps + 1
        self.draws = [n for i, n in enumerate(noises) if i % per_patch != steps]   # drop each t = 0 draw
        self.calls: list = []

    def __call__(self, draw, shape, device=None, dtype=torch.float32):
        k = len(self.calls)
        assert k < len(self.draws), "more noise draws requested than the release made"
        noise = self.draws[k]
        assert tuple(noise.shape[1:]) == tuple(shape), (draw, noise.shape, shape)
        self.calls.append(draw)
        return noise.to(device=device, dtype=dtype)


class UNetTrace:
    """Inputs and outputs of every UNet call (to compare chain states step by step)."""

    def __init__(self, unet: torch.nn.Module):
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []
        self.handle = unet.register_forward_hook(self._hook)

    def _hook(self, module, args, output):
        self.inputs.append(args[0].detach().clone())
        self.outputs.append(output.detach().clone())

    def close(self):
        self.handle.remove()


def chain_states(trace: UNetTrace, norm_std: torch.Tensor, ts: list[int]) -> list[torch.Tensor]:
    """The state after each reverse step from what the network saw: after step t (t > 0) the
    state is the next step's network input times that step's input divisor; after the last
    step (coefficients 0 and 1) it is the last x0 prediction."""
    states = [trace.inputs[k + 1] * float(norm_std[ts[k + 1]]) for k in range(len(ts) - 1)]
    return states + [trace.outputs[-1]]


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.float() - b.float()).abs().max().item()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("task", list(TASK_CONFIG))
def test_restore_equals_release(task, size, tmp_path):
    entry = load_entry(task + size)
    model = model_for(entry, TASK_CONFIG[task], tmp_path)
    steps = model.steps
    noise = Recorded(entry["noises"], steps)
    trace = UNetTrace(model.unet)
    try:
        out = resshift.restore(entry["lq"], model=model, masks=entry["mask"], tile=0, noise=noise, progress=False)
    finally:
        trace.close()
    assert noise.calls == ["prior", *range(steps - 1, 0, -1)]
    assert len(trace.inputs) == steps
    for k in range(steps):
        assert maxdiff(trace.inputs[k], entry["unet_input_per_step"][k]) < TOL, f"network input, step {k}"
        assert maxdiff(trace.outputs[k], entry["pred_xstart_per_step"][k]) < TOL, f"x0 prediction, step {k}"
    for k, state in enumerate(chain_states(trace, entry["input_norm_std"], entry["t_per_step"])):
        assert maxdiff(state, entry["xt_per_step"][k]) < TOL, f"chain state after step {entry['t_per_step'][k]}"
    assert maxdiff(out[None] if out.dim() == 3 else out, entry["output"]) < TOL
    # the PNG the release writes: at most one grey level off where 255 * value sits on a .5 boundary
    png = (out.reshape(entry["output"].shape)[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
    assert (png.int() - entry["output_uint8"].int()).abs().max() <= 1


def test_noise_changes_output(tmp_path):
    """The parity above pins the noise handling: other draws move the output far."""
    entry = load_entry("realsr_v3")
    model = model_for(entry, "v3", tmp_path)
    shifted = Recorded([n.roll(1, dims=-1) for n in entry["noises"]], model.steps)
    out = resshift.restore(entry["lq"], model=model, tile=0, noise=shifted, progress=False)
    assert maxdiff(out, entry["output"]) > 0.1


def test_inpainting_mask_reaches_network_in_minus_one_one(tmp_path):
    """The released inpainting networks take the mask channel as (mask - 0.5) / 0.5: -1 known, +1 hole."""
    entry = load_entry("inpaint_imagenet")
    model = model_for(entry, "inpaint_imagenet", tmp_path)
    kwargs = model.model_kwargs(entry["lq"] * 2 - 1, entry["mask"])
    assert set(kwargs["mask"].unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(kwargs["mask"] > 0, entry["mask"] > 0.5)


@pytest.mark.slow
def test_release_tile_mode_reproduces_chopped_inference(tmp_path):
    """``tile_mode="release"`` with tile = the release's chop size (16) and tile_overlap = chop
    size - chop stride (16 - 12): the release's own chop-and-average, patch by patch with each
    patch's recorded draws (fixture ``realsr_v3_chopped``: 28x24 LQ, 4 patches). Measured max
    differences 2.9e-6 (output) and 4.6e-6 (x0 predictions); asserted 1e-4."""
    entry = load_entry("realsr_v3_chopped")
    model = model_for(entry, "v3", tmp_path)
    steps = model.steps
    noise = Recorded(entry["noises"], steps)
    trace = UNetTrace(model.unet)
    chop, stride = entry["sampler"]["chop_size"], entry["sampler"]["chop_stride"]
    try:
        out = resshift.restore(entry["lq"], model=model, tile=chop, tile_overlap=chop - stride, tile_mode="release",
                               noise=noise, progress=False)
    finally:
        trace.close()
    patches = [tuple(p) for p in entry["chop_patches"]]
    assert resshift.sampling.release_patches(28, 24, chop, stride) == patches
    assert noise.calls == [(k, d) for k in range(len(patches)) for d in ["prior", *range(steps - 1, 0, -1)]]
    assert len(trace.inputs) == steps * len(patches)
    for k in range(len(trace.inputs)):
        assert maxdiff(trace.inputs[k], entry["unet_input_per_step"][k]) < TOL
        assert maxdiff(trace.outputs[k], entry["pred_xstart_per_step"][k]) < TOL
    for p in range(len(patches)):                 # chain states, patch by patch
        sub = UNetTrace.__new__(UNetTrace)
        sub.inputs, sub.outputs = trace.inputs[p * steps:(p + 1) * steps], trace.outputs[p * steps:(p + 1) * steps]
        for k, state in enumerate(chain_states(sub, entry["input_norm_std"], entry["t_per_step"][:steps])):
            assert maxdiff(state, entry["xt_per_step"][p * steps + k]) < TOL
    assert maxdiff(out, entry["output"]) < TOL


def test_default_tiling_is_not_the_release_chopping(tmp_path):
    """The seam-free default differs from the release's chopping on a chopped input (so a table
    row computed with it must not be called a reproduction)."""
    entry = load_entry("realsr_v3_chopped")
    model = model_for(entry, "v3", tmp_path)
    out = resshift.restore(entry["lq"], model=model, tile=16, tile_overlap=8, progress=False, seed=0)
    assert maxdiff(out, entry["output"]) > 0.05


def test_face_size_and_padding_follow_the_configuration():
    """Faces are taken at the network's lq_size (the release feeds them as they are: 512 for the
    released model, 64 for the shrunk fixture); the demo face model, trained on crops, says 512.
    Released configurations pad to a multiple of lq_size, as the release's sampler does."""
    faceir = build_model(load_config("faceir"), checkpoint=False, autoencoder_checkpoint=False)
    demo = build_model(load_config("demo_faceir"), checkpoint=False)
    assert faceir.face_size == 512 and faceir.pad_multiple == 512 and demo.face_size == 512
    cfg = load_config("bicsr")
    cfg["unet"]["params"] = copy.deepcopy(load_entry("bicsr")["params_unet"])
    cfg["autoencoder"]["params"] = copy.deepcopy(load_entry("bicsr")["params_autoencoder"])
    small = build_model(cfg, checkpoint=False, autoencoder_checkpoint=False)
    assert small.size_multiple == 8 and small.pad_multiple == 16         # the release pads 20 -> 32
