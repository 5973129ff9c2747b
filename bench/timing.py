"""Runtime, memory, network evaluations and parameter counts of a method:
``results/timing/<method>-<steps>.json``.

Protocol (paper Table II: "A100, x4 64 -> 256"): every record holds two runtimes of the same
restore call on 64x64 inputs,

- ``latency_batch1_s``: seconds for one image restored alone (batch 1);
- ``throughput_s_per_image``: seconds per image when ``throughput_batch`` images go together
  (default 64 on a GPU, 4 on the CPU; recorded),

each the fastest of ``repeats`` timed calls after ``warmup`` untimed ones (CUDA synchronised); the
peak memory of each (CUDA ``max_memory_allocated``; on the CPU the process's peak resident set,
which cannot be reset between measurements); device, precision; and ``nfe``, the forward calls of
the method's denoising network for one image, counted with forward hooks (``network_calls`` lists
every network's calls, e.g. ResShift-4: ``trainable`` 4, ``frozen_autoencoder.encoder`` 1,
``frozen_autoencoder.decoder`` 1). Table II prints the batch-1 latency: the paper's figures are
latencies (our H200: ResShift-15 takes 0.371 s at batch 1 and 0.030 s per image at batch 64;
the paper, on an A100, 0.682 s). Runtime does not depend on weight values, so missing weights are
replaced by random ones (recorded). Parameters: trainable (the denoiser) and frozen (the
autoencoder) apart.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch

import baselines as B
from resshift.config import build_model, load_config
from resshift.errors import ResShiftError
from resshift.imageio import write_text
from resshift.noise import NoiseField
from resshift.sampling import sample

from .layout import DEFAULT_LAYOUT, Layout, split_method

# Method names of the tables (bench/tables.yaml) that are ResShift configurations.
RESSHIFT_METHODS = {"resshift": "v3", "resshift_v1": "v1", "resshift_v2": "v2", "resshift_bicsr": "bicsr",
                    "resshift_inpaint_imagenet": "inpaint_imagenet", "resshift_inpaint_face": "inpaint_face",
                    "resshift_faceir": "faceir", "resshift_tiny": "tiny"}


DEFAULT_THROUGHPUT_BATCH = {"cuda": 64, "cpu": 4}
AUTOENCODER_PARTS = ("encoder", "decoder")        # an autoencoder's encode/decode bypass its forward


def count_params(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _resshift_model(method: str):
    if method not in RESSHIFT_METHODS:
        raise ResShiftError(f"no timing recipe for method {method!r}; known: {', '.join(RESSHIFT_METHODS)}")
    cfg = load_config(RESSHIFT_METHODS[method])
    try:
        model, weights = build_model(cfg, allow_download=False), "released"
    except ResShiftError:
        model, weights = build_model(cfg, checkpoint=False, autoencoder_checkpoint=False), "random (weights missing)"
    return model, weights


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _timed(call, dev: torch.device, warmup: int, repeats: int, inner: Callable[[], float] | None = None) -> list[float]:
    """Wall seconds of ``repeats`` calls after ``warmup`` untimed ones (CUDA synchronised); with
    ``inner``, the seconds the method measured itself after each call (a worker's own clock)."""
    def once():
        call()
        _sync(dev)

    for _ in range(warmup):
        once()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append(inner() if inner is not None else time.perf_counter() - t0)
    return times


@contextmanager
def peak_memory(dev: torch.device):
    """Yields a dict that gets ``bytes`` and ``kind`` when the block ends: CUDA
    ``max_memory_allocated`` during the block, or on the CPU the process's peak resident set."""
    out: dict = {}
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    try:
        yield out
    finally:
        if dev.type == "cuda":
            out.update(bytes=int(torch.cuda.max_memory_allocated(dev)), kind="cuda_max_memory_allocated")
        else:
            import resource

            out.update(bytes=int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024,
                       kind="cpu_process_peak_rss (since process start)")


def network_calls(modules: dict[str, torch.nn.Module], call: Callable[[], object]) -> dict[str, int]:
    """Forward calls of each network while ``call()`` runs, by role: a forward hook on each module
    and on its ``encoder``/``decoder`` children (an autoencoder's encode/decode do not go through
    its own forward). Roles never called are left out."""
    counts: dict[str, int] = {}
    handles = []

    def hook(name):
        def count(*_):
            counts[name] = counts.get(name, 0) + 1
        return count

    for role, mod in modules.items():
        handles.append(mod.register_forward_hook(hook(role)))
        for part in AUTOENCODER_PARTS:
            child = getattr(mod, part, None)
            if isinstance(child, torch.nn.Module):
                handles.append(child.register_forward_hook(hook(f"{role}.{part}")))
    try:
        call()
    finally:
        for h in handles:
            h.remove()
    return {k: counts[k] for k in sorted(counts)}


def _precision_of(modules: dict[str, torch.nn.Module]) -> str:
    dtypes = {p.dtype for m in modules.values() for p in m.parameters()}
    names = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
    return "+".join(sorted(names.get(d, str(d)) for d in dtypes)) or "fp32"


def measure(make_call: Callable[[int], Callable[[], object]], modules: dict[str, torch.nn.Module], dev: torch.device,
            *, throughput_batch: int, warmup: int, repeats: int, denoiser: str = "trainable",
            declared_nfe: int | None = None, inner: Callable[[], float] | None = None) -> dict:
    """The two runtimes, their peak memory and the network calls of one image.

    ``make_call(b)`` returns a call restoring a batch of ``b`` images (inputs made beforehand);
    ``denoiser``: the role whose forward calls are ``nfe``; ``declared_nfe`` where no network is
    visible here (a method run in another process)."""
    if throughput_batch <= 0 or repeats <= 0 or warmup < 0:
        raise ResShiftError(f"timing: batch {throughput_batch}, repeats {repeats}, warmup {warmup}: use positive "
                            "numbers (warmup may be 0)")
    one = make_call(1)
    calls = network_calls(modules, one)                 # an untimed batch-1 call, with the hooks on
    _sync(dev)
    with peak_memory(dev) as mem1:
        t1 = _timed(one, dev, max(warmup - 1, 0), repeats, inner)
    del one
    many = make_call(throughput_batch)
    with peak_memory(dev) as mem_b:
        tb = _timed(many, dev, warmup, repeats, inner)
    nfe = declared_nfe if not modules else calls.get(denoiser, 0)
    return {"latency_batch1_s": round(min(t1), 5), "throughput_batch": throughput_batch,
            "throughput_s_per_image": round(min(tb) / throughput_batch, 5),
            "throughput_images_per_s": round(throughput_batch / min(tb), 3),
            "seconds_all": {"batch1": [round(t, 4) for t in t1], f"batch{throughput_batch}": [round(t, 4) for t in tb]},
            "peak_memory_bytes": {"batch1": mem1["bytes"], f"batch{throughput_batch}": mem_b["bytes"]},
            "peak_memory_kind": mem1["kind"], "nfe": nfe,
            "nfe_counts": (f"forward calls of the {denoiser!r} network for one image (hooks)" if modules else
                           "declared: the method runs in another process (one denoiser evaluation per step)"),
            "network_calls": calls, "timing_clock": "the method's own, without start-up" if inner else "wall"}


def _batch(dev: torch.device, throughput_batch: int | None, batch_size: int | None) -> int:
    for given in (throughput_batch, batch_size):
        if given is not None:
            return given
    return DEFAULT_THROUGHPUT_BATCH["cuda" if dev.type == "cuda" else "cpu"]


def _device(device: str) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ResShiftError("--device cuda: no CUDA device is available here")
    return dev


def _common(method: str, dev: torch.device, size: int, sf: int, repeats: int, warmup: int) -> dict:
    return {"method": method, "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(), "input": f"{size}x{size}", "output": f"{size * sf}x{size * sf}",
            "repeats": repeats, "warmup": warmup, "torch_version": torch.__version__}


def time_baseline(method: str, *, steps: int | None = None, device: str = "cpu", batch_size: int | None = None,
                  size: int = 64, repeats: int = 3, warmup: int = 1, models: str | Path = DEFAULT_LAYOUT.models,
                  options: dict | None = None, throughput_batch: int | None = None, precision: str = "fp32") -> dict:
    """Time a registered baseline's ``restore`` (released weights, or a random-weight stand-in
    in the release's format when they are absent)."""
    import tempfile


    dev = _device(device)
    if precision != "fp32":
        raise ResShiftError(f"--precision {precision}: the compared methods run as released (fp32)")
    batch = _batch(dev, throughput_batch, batch_size)
    name, trained = B.run_options(method, models, options)        # NAME@RUN: the run's own weights
    cls = B.get(name)
    run = split_method(method)[1]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            restorer = cls(steps=steps, device=device, **trained)
            weights = f"trained run {run}" if run else "released"
        except ResShiftError:
            if run:
                raise
            restorer, weights = cls.with_random_weights(tmp, steps=steps, device=device), "random (weights missing)"

        def make_call(b):
            lq = torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(0)).to(dev)
            mask = None
            if restorer.task == "inpaint":                      # a centred box hole, a quarter of the area
                mask = torch.zeros(b, 1, size, size, device=dev)
                mask[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
                lq = lq * (1 - mask)
            return lambda: restorer(lq, mask=mask, generator=torch.Generator().manual_seed(0))

        own = getattr(restorer, "reports_own_timing", False)
        steps_list = restorer.timesteps()
        rec = measure(make_call, restorer.modules(), dev, throughput_batch=batch, warmup=warmup, repeats=repeats,
                      declared_nfe=len(steps_list) if steps_list else 0,
                      inner=(lambda: restorer.last_seconds) if own else None)
        params = restorer.params()
    mods = restorer.modules()
    return {**_common(method, dev, size, restorer.sf, repeats, warmup), "steps": restorer.steps or -1,
            "config": trained.get("config", name), "precision": _precision_of(mods) if mods else precision, **rec,
            "batch_size": batch, "seconds_per_image": rec["latency_batch1_s"],
            "params_trainable_M": round(params["trainable"] / 1e6, 2),
            "params_frozen_M": round(params["frozen"] / 1e6, 2), "weights": weights, "timesteps": steps_list}


def time_method(method: str, *, device: str = "cpu", batch_size: int | None = None, size: int = 64,
                repeats: int = 3, warmup: int = 1, steps: int | None = None,
                models: str | Path = DEFAULT_LAYOUT.models, options: dict | None = None,
                throughput_batch: int | None = None, precision: str = "fp32") -> dict:
    """Time one method's restore at batch 1 and at ``throughput_batch`` (``batch_size`` is its
    older name); returns the record. ResShift configurations run through the sampler; other
    registered methods through :func:`time_baseline`. ``seconds_per_image`` repeats the batch-1
    latency (the Table II column)."""

    if method not in RESSHIFT_METHODS or options:
        return time_baseline(method, steps=steps, device=device, batch_size=batch_size, size=size,
                             repeats=repeats, warmup=warmup, models=models, options=options,
                             throughput_batch=throughput_batch, precision=precision)
    dev = _device(device)
    batch = _batch(dev, throughput_batch, batch_size)
    model, weights = _resshift_model(method)
    model.to(dev)

    def make_call(b):
        lq = torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(0)).to(dev)
        mask = None
        if model.config["unet"]["params"].get("cond_mask"):
            mask = torch.zeros(b, 1, size, size, device=dev)
            mask[..., size // 4: size // 2, size // 4: size // 2] = 1
        noise = NoiseField(0, [str(i) for i in range(b)])
        return lambda: sample(model, lq, noise, mask=mask, micro_batch=b, precision=precision)

    modules = {"trainable": model.unet, **({"frozen_autoencoder": model.autoencoder} if model.autoencoder else {})}
    rec = measure(make_call, modules, dev, throughput_batch=batch, warmup=warmup, repeats=repeats)
    return {**_common(method, dev, size, model.sf, repeats, warmup), "steps": model.steps,
            "config": model.config["name"], "precision": precision, **rec, "batch_size": batch,
            "seconds_per_image": rec["latency_batch1_s"],
            "params_trainable_M": round(count_params(model.unet) / 1e6, 2),
            "params_frozen_M": round(count_params(model.autoencoder) / 1e6, 2), "weights": weights}


def declared_params(method: str) -> dict:
    """Parameter counts a method declares without running (StableSR's, from its release's
    configuration), as a timing record's ``params_*_M`` fields; ``{}`` for other methods."""

    name = split_method(method)[0]
    if name not in B.registry() or not hasattr(B.get(name), "declared_params"):
        return {}
    cls = B.get(name)
    p = cls.declared_params()
    return {"params_trainable_M": round(p["trainable"] / 1e6, 2), "params_frozen_M": round(p["frozen"] / 1e6, 2),
            **({"params_note": cls.params_note} if getattr(cls, "params_note", "") else {})}


def write_timing(record: dict, results: str | Path = "results", out: str | Path | None = None) -> Path:
    path = Path(out) if out else Layout(results).timing(record["method"], record["steps"])
    return write_text(json.dumps(record, indent=2) + "\n", path)
