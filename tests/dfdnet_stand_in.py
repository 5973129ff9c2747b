"""The seeded random DFDNet (basicsr layout) shared by the DFDNet parity test and the script that
recorded the release's output for it (the full network, 113 M parameters, is regenerated from
seeds instead of being stored)."""
import torch


def seeded_dfdnet_state(net: torch.nn.Module, seed: int = 23) -> dict:
    """Every parameter and spectral-norm vector of basicsr's ``DFDNet`` redrawn in state-dict order
    from ``torch.Generator(seed)`` (weights N(0, 1/fan_in), biases N(0, 1e-4), u/v N(0, 1)), the
    VGG input normalisation kept, then 30 power iterations settle each spectral norm."""
    from baselines.psfrgan import settle_spectral_norms

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict(keep_vars=True).items():
            if name.startswith("vgg_extractor.") and name.split(".")[-1] in ("mean", "std"):
                continue
            if t.dim() > 1:
                t.copy_(torch.randn(t.shape, generator=g) / t.shape[1:].numel() ** 0.5)
            elif name.endswith(("weight_u", "weight_v")):
                t.copy_(torch.nn.functional.normalize(torch.randn(t.shape, generator=g), dim=0))
            else:
                t.copy_(0.01 * torch.randn(t.shape, generator=g))
    settle_spectral_norms(net)
    return net.state_dict()
