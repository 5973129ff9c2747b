"""Sampling a :class:`~resshift.config.ResShiftModel` on images of any size.

- :func:`pad_to_multiple`: reflect padding to the network's size multiple (cropped back after).
- :func:`tile_grid` / :func:`feather`: overlapping tiles and their blending weights.
- :func:`sample`: :func:`~resshift.chain.reverse_chain` on a whole-image state, noise by position
  (:class:`~resshift.noise.NoiseField`); only the network, the encoder and the decoder run tile by
  tile. Per step, x0 predictions of overlapping tiles are blended with feathered weights in chain (latent) space; decoded tiles are blended in image
  space. The released code instead averages whole independent samples per tile, which leaves
  box seams. Peak network memory follows the tile size; the state is the size of the latent.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .chain import NoiseSource, reverse_chain
from .config import ResShiftModel
from .errors import ResShiftError
from .noise import NoiseField  # noqa: F401  (benchmarks/ import it from here)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad (B, C, H, W) on the bottom/right to multiples of ``multiple``.

    The release pads by one reflection; an image smaller than the padding it needs (any side under
    ``multiple / 2``) is reflected again and again, and a side of one pixel is replicated, so every
    size can be restored (the crop back removes the padding).
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    while ph > 0 or pw > 0:
        sh, sw = x.shape[-2:]
        step_h = ph if sh > 1 else 0
        step_w = pw if sw > 1 else 0
        step_h, step_w = min(step_h, sh - 1), min(step_w, sw - 1)
        if step_h == 0 and step_w == 0:                       # a one-pixel side: nothing to reflect
            return F.pad(x, (0, pw, 0, ph), mode="replicate"), (h, w)
        x = F.pad(x, (0, step_w, 0, step_h), mode="reflect")
        ph, pw = ph - step_h, pw - step_w
    return x, (h, w)


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in LQ pixels, with its overlaps with the previous/next tile."""

    start: int
    stop: int
    overlap_before: int = 0
    overlap_after: int = 0


def tile_spans(length: int, tile: int, overlap: int, unit: int = 1) -> list[Span]:
    """Tiles of ``tile`` pixels covering ``[0, length)`` with at least ``overlap`` in common
    (about; starts are rounded to multiples of ``unit``), evenly spread, the last flush."""
    if tile >= length:
        return [Span(0, length)]
    n = math.ceil((length - tile) / max(1, tile - overlap)) + 1
    starts = sorted({int(round(k * (length - tile) / (n - 1) / unit)) * unit for k in range(n)})
    starts[-1] = length - tile
    spans = []
    for k, s in enumerate(starts):
        before = starts[k - 1] + tile - s if k > 0 else 0
        after = s + tile - starts[k + 1] if k + 1 < len(starts) else 0
        spans.append(Span(s, s + tile, max(0, before), max(0, after)))
    return spans


def tile_grid(h: int, w: int, tile: int | None, overlap: int, unit: int = 1) -> list[tuple[Span, Span]]:
    """(row span, column span) pairs; one tile when ``tile`` is None or covers the image."""
    if tile is None:
        return [(Span(0, h), Span(0, w))]
    return [(r, c) for r in tile_spans(h, tile, overlap, unit) for c in tile_spans(w, tile, overlap, unit)]


EDGE_DEAD = 0.25     # the outer quarter of an overlap gets (almost) no weight: networks err near tile edges


def _ramp(n: int, before: int, after: int) -> torch.Tensor:
    """1-D weights: across an overlap with a neighbour, ~0 over its outer quarter (the tile's
    edge, where the network sees zero padding instead of the image), then a raised-cosine rise
    to 1; a side without a neighbour keeps weight 1 up to its edge. Never exactly 0."""
    w = torch.ones(n, dtype=torch.float64)
    i = torch.arange(n, dtype=torch.float64)

    def rise(dist: torch.Tensor, overlap: int) -> torch.Tensor:
        x = ((dist / overlap - EDGE_DEAD) / (1 - 2 * EDGE_DEAD)).clamp(0, 1)
        return (0.5 - 0.5 * torch.cos(math.pi * x)).clamp(min=1e-4)

    if before > 0:
        w = torch.minimum(w, rise(i + 0.5, before))
    if after > 0:
        w = torch.minimum(w, rise(n - i - 0.5, after))
    return w


def feather(rows: Span, cols: Span, scale: float) -> torch.Tensor:
    """(h, w) blending weights of one tile at ``scale`` pixels per LQ pixel."""
    def axis(s: Span) -> torch.Tensor:
        return _ramp(round((s.stop - s.start) * scale), round(s.overlap_before * scale),
                     round(s.overlap_after * scale))
    return (axis(rows)[:, None] * axis(cols)[None, :]).float()


class _Blender:
    """Accumulates weighted tiles on an (B, C, H, W) canvas (C taken from the first tile) and
    returns the normalised result."""

    def __init__(self, batch: int, height: int, width: int, device, dtype=torch.float32):
        self.shape, self.device, self.dtype = (batch, height, width), device, dtype
        self.acc: torch.Tensor | None = None
        self.weight: torch.Tensor | None = None

    def add(self, value: torch.Tensor, y0: int, x0: int, weight: torch.Tensor, b0: int = 0) -> None:
        """Add a (b, C, h, w) tile at (y0, x0) for images b0..b0+b of the batch."""
        if self.acc is None:
            b, hh, ww = self.shape
            self.acc = torch.zeros((b, value.shape[1], hh, ww), device=self.device, dtype=self.dtype)
            self.weight = torch.zeros((b, 1, hh, ww), device=self.device, dtype=self.dtype)
        h, w = value.shape[-2:]
        weight = weight.to(self.acc)
        self.acc[b0:b0 + value.shape[0], :, y0:y0 + h, x0:x0 + w] += value.to(self.acc) * weight
        self.weight[b0:b0 + value.shape[0], :, y0:y0 + h, x0:x0 + w] += weight

    def result(self) -> torch.Tensor:
        return self.acc / self.weight


class LockstepTiles:
    """Run a network on every tile in lock-step, so that each GroupNorm normalises with the
    statistics of its input over the whole image, as without tiling.

    GroupNorm normalises over the whole spatial extent: a tile normalised with its own
    statistics differs from the untiled result everywhere, not only near its edges. Here each
    tile runs in its own greenlet (one thread, one at a time); at every GroupNorm a tile adds
    the per-(image, group) count, mean and squared deviations over its core (the part of the
    tile nearest to it; the cores partition the image) and pauses. When every tile has arrived,
    the combined statistics are applied to each tile in turn, and each runs on to its next
    GroupNorm. The result equals the untiled one up to the networks' border effects, which the
    feathered blending hides. Transient memory (convolution workspaces, attention) follows the
    tile size; activations that a paused tile still holds (its skip connections) add up over
    the tiles.

    ``mode="tile"`` normalises each tile with its own statistics instead (no pausing).
    """

    def __init__(self, *networks: torch.nn.Module | None, mode: str = "image"):
        if mode not in ("image", "tile"):
            raise ResShiftError(f"--tile-norm {mode}: choose image or tile")
        self.mode = mode
        self.norms = [m for net in networks if net is not None for m in net.modules()
                      if isinstance(m, torch.nn.GroupNorm)]
        self._workers: dict = {}                  # greenlet -> tile
        self._state: dict = {}

    def __enter__(self) -> "LockstepTiles":
        if self.mode == "image":
            for mod in self.norms:
                mod.forward = self._wrap(mod)
        return self

    def __exit__(self, *exc) -> None:
        if self.mode == "image":
            for mod in self.norms:
                del mod.forward

    @staticmethod
    def _core(s: Span, n: int) -> slice:
        """The part of an activation of length ``n`` over span ``s`` that its tile owns: up to the
        middle of each overlap, floored on the activation's grid so that neighbours agree."""
        scale = n / (s.stop - s.start)
        lo = math.floor((s.start + s.overlap_before / 2) * scale + 1e-9)
        hi = math.floor((s.stop - s.overlap_after / 2) * scale + 1e-9) if s.overlap_after else round(s.stop * scale)
        origin = round(s.start * scale)
        return slice(lo - origin, hi - origin)

    def run(self, tiles: Sequence[tuple[Span, Span]],
            fn: Callable[[Span, Span], torch.Tensor]) -> list[torch.Tensor]:
        """``fn(rows, cols)`` for every tile; returns the outputs in tile order."""
        if self.mode == "tile" or len(tiles) == 1:
            return [fn(r, c) for r, c in tiles]
        from greenlet import greenlet

        workers = [greenlet(lambda r=r, c=c: fn(r, c)) for r, c in tiles]
        self._workers = {g: tile for g, tile in zip(workers, tiles)}
        results: list = [None] * len(tiles)
        self._state = {"stats": None}
        try:
            while True:                            # each round: every tile to its next GroupNorm
                self._state.update(module=None, part=None)
                for k, g in enumerate(workers):
                    if not g.dead:
                        out = g.switch()           # to this tile's next GroupNorm, or its end
                        if g.dead:
                            results[k] = out
                if all(g.dead for g in workers):
                    return results
                count, mean, m2 = self._state["part"]          # (B, G) each
                self._state["stats"] = (mean, m2 / count)
        finally:
            self._workers, self._state = {}, {}
            for g in workers:                      # a failure elsewhere: unwind paused tiles
                if not g.dead:
                    g.throw()

    def _wrap(self, mod: torch.nn.GroupNorm):
        from greenlet import getcurrent

        def forward(x: torch.Tensor) -> torch.Tensor:
            me = getcurrent()
            tile = self._workers.get(me)
            if tile is None:                       # not inside a tiled run
                return type(mod).forward(mod, x)
            b, c, h, w = x.shape
            g = mod.num_groups
            xf = x.float()
            rows, cols = tile
            core = xf[..., self._core(rows, h), self._core(cols, w)].reshape(b, g, -1)
            var, mean = torch.var_mean(core, dim=-1, unbiased=False)
            n = torch.full_like(mean, core.shape[-1], dtype=torch.float64)
            part = torch.stack([n, mean.double(), var.double() * n])      # count, mean, M2
            state = self._state
            if state["module"] is None:
                state["module"], state["part"] = mod, part
            elif state["module"] is not mod or state["part"].shape != part.shape:
                raise RuntimeError("tiles reached different GroupNorm layers; cannot share statistics")
            else:                                  # Chan et al.'s pairwise update of mean and M2
                tot = state["part"]
                count = tot[0] + part[0]
                delta = part[1] - tot[1]
                state["part"] = torch.stack([count, tot[1] + delta * part[0] / count,
                                             tot[2] + part[2] + delta ** 2 * tot[0] * part[0] / count])
            me.parent.switch()                     # pause until every tile has added its part
            mean, var = self._state["stats"]
            inv = torch.rsqrt(var + mod.eps).float().repeat_interleave(c // g, dim=1)   # (B, C)
            scale = inv * mod.weight.float() if mod.affine else inv
            shift = -mean.float().repeat_interleave(c // g, dim=1) * scale
            if mod.affine:
                shift = shift + mod.bias.float()
            return (xf * scale[..., None, None] + shift[..., None, None]).to(x.dtype)
        return forward


class _Context:
    """no_grad plus the autocast of ``precision`` for the sampling loop."""

    def __init__(self, device: torch.device, precision: str):
        self.stack = contextlib.ExitStack()
        self.device, self.precision = device, precision

    def __enter__(self):
        self.stack.enter_context(torch.no_grad())
        self.stack.enter_context(autocast(self.device, self.precision))
        return self

    def __exit__(self, *exc):
        return self.stack.__exit__(*exc)


def cpu_bf16_instructions(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 natively (x86 avx512_bf16 or AMX, ARM bf16), from the
    kernel's CPU flags; without them oneDNN emulates bf16 and autocast costs time."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def autocast(device: torch.device, precision: str):
    """Mixed precision for the networks: ``fp32`` (none), ``bf16`` (CUDA, or a CPU with bf16
    instructions) or ``fp16`` (CUDA only).

    bf16 on a CPU without bf16 instructions is refused: there autocast made the released
    networks 3.4x slower than fp32, while with avx512_bf16 it took 0.78x fp32's time
    (benchmarks/precision_speed.py; docs/protocol.md has the numbers)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None:
        raise ResShiftError(f"--precision {precision}: choose fp32, bf16 or fp16")
    if precision == "fp16" and device.type != "cuda":
        raise ResShiftError("--precision fp16 needs --device cuda; use bf16 or fp32 on the CPU")
    if precision == "bf16" and device.type == "cpu" and not cpu_bf16_instructions():
        raise ResShiftError("--precision bf16: this CPU has no bf16 instructions (avx512_bf16, AMX or ARM bf16), "
                            "so bf16 is slower than fp32 here; use --precision fp32 (or bf16 on a GPU)")
    return torch.autocast(device_type=device.type, dtype=dtype)


def sample(model: ResShiftModel, lq: torch.Tensor, noise: NoiseSource, *, mask: torch.Tensor | None = None,
           tile: int | None = None, overlap: int = 0, precision: str = "fp32",
           micro_batch: int | None = None, progress: Callable[[int], None] | None = None,
           tile_norm: str = "image", decoded: bool = False) -> torch.Tensor:
    """Restore a (B, 3, h, w) LQ batch in [0, 1] whose sides are multiples of
    ``model.size_multiple``; returns (B, 3, h*sf, w*sf) in [0, 1].

    ``noise(draw, shape, device=None, dtype=torch.float32)`` gives each draw for the whole batch,
    (B, *shape): a :class:`~resshift.noise.NoiseField` (seeded), or any callable with that signature
    (e.g. recorded draws for parity checks). ResShift calls it with ``"prior"``, then the step
    indices T-1 .. 1, in that order (an eps model: ``"prior"``, then each DDIM timestep). ``decoded``: return the decoded image in [-1, 1] before clamping
    and paste-back (what the release's chopping averages).

    ``tile``/``overlap`` are in LQ pixels (``tile`` a multiple of ``model.size_multiple``; tile
    starts are multiples of it too, so that windows and strided convolutions see the same grid
    as without tiling); ``tile_norm``: GroupNorm statistics over the ``image`` (default, see
    :class:`LockstepTiles`) or each ``tile``; ``micro_batch`` images go through the networks at
    once (default: all); ``progress`` is called with the number of tile passes done.
    """
    diffusion, unet, ae = model.diffusion, model.unet, model.autoencoder
    b, _, h, w = lq.shape
    m = model.size_multiple
    if h % m or w % m:
        raise ResShiftError(f"input size {(h, w)} is not a multiple of {m}; pad it first")
    if tile is not None and (tile % m or tile <= 0):
        raise ResShiftError(f"--tile {tile}: must be a positive multiple of {m} for model {model.config['name']}")
    if tile is not None and not 0 <= overlap < tile:
        raise ResShiftError(f"--tile-overlap {overlap}: must be at least 0 and less than --tile {tile}")
    device = lq.device
    micro = micro_batch or b
    if mask is not None:
        lq = lq * (1 - mask)                            # LQ = GT * (1 - mask), 1 = hole (docs/protocol.md §2)
    down = ae.downsample_factor if ae is not None else 1
    zs = diffusion.sf / down                            # chain-space pixels per LQ pixel
    tiles = tile_grid(h, w, tile, overlap, m)
    tick = progress or (lambda n: None)
    lq11 = lq * 2 - 1
    clip = ae is None                                   # released sampler: clip x0 in pixel space

    def cut(x: torch.Tensor | None, r: Span, c: Span, scale: float = 1.0):
        if x is None:
            return None
        return x[..., round(r.start * scale):round(r.stop * scale), round(c.start * scale):round(c.stop * scale)]

    def over_tiles(fn: Callable[..., torch.Tensor], inputs: Callable[[Span, Span], list], height: int,
                   width: int, scale: float) -> torch.Tensor:
        """A network stage on every tile (micro-batch by micro-batch), blended on the canvas."""
        blend = _Blender(b, height, width, device)
        for i in range(0, b, micro):
            def run(r, c):
                args = [None if a is None else a[i:i + micro] for a in inputs(r, c)]
                out = fn(*args).float()
                tick(1)
                return out
            outs = sync.run(tiles, run)
            for (r, c), out in zip(tiles, outs):
                blend.add(out, round(r.start * scale), round(c.start * scale), feather(r, c, scale), i)
        return blend.result()

    zh, zw = round(h * zs), round(w * zs)
    autocast(device, precision)                         # checks the precision/device pair
    with LockstepTiles(unet, ae, mode=tile_norm) as sync, _Context(device, precision):
        # y_0 = Enc(bicubic_up(LQ)) (Sec. III-B), blended in chain space
        y0 = over_tiles(lambda x: diffusion.condition(x, ae), lambda r, c: [cut(lq11, r, c)], zh, zw, zs)

        # x_T from the prior around y_0, then the reverse steps; the network runs tile by tile
        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return over_tiles(lambda xt, tt, lqt, mt: diffusion.denoise(unet, xt, tt, model.model_kwargs(lqt, mt),
                                                                        clip=clip),
                              lambda r, c: [cut(x, r, c, zs), t, cut(lq11, r, c), cut(mask, r, c)], zh, zw, zs)
        x = reverse_chain(predict, diffusion, y0, noise)

        # decode, blended in image space
        sf = diffusion.sf
        img = over_tiles(lambda z: diffusion.decode(z, ae), lambda r, c: [cut(x, r, c, zs)], h * sf, w * sf, sf)
    if decoded:
        return img
    hq = (img.clamp(-1, 1) + 1) / 2
    if mask is not None:                                # inpainting: keep the known pixels exactly
        hq = hq * mask + lq * (1 - mask)
    return hq


TILE_MODES = ("seamless", "release")


def release_starts(length: int, chop: int, stride: int) -> list[int]:
    """Patch starts along one axis as the release's chopping makes them: a side no longer than
    ``chop`` is one patch (its full length); otherwise every ``stride`` from 0, a start whose
    patch would pass the end moved back to ``length - chop``, repeats dropped."""
    if length <= chop:
        return [0]
    starts: list[int] = []
    for start in range(0, length, stride):
        start = min(start, length - chop)
        if start not in starts:
            starts.append(start)
    return starts


def release_patches(h: int, w: int, chop: int | None, stride: int | None) -> list[tuple[int, int]]:
    """(row, col) origins in LQ pixels, in the release's processing order (row-major)."""
    if not chop:
        return [(0, 0)]
    return [(r, c) for r in release_starts(h, chop, stride) for c in release_starts(w, chop, stride)]


def sample_release(model: ResShiftModel, lq: torch.Tensor, noise, *, mask: torch.Tensor | None = None,
                   chop: int | None = None, stride: int | None = None, precision: str = "fp32",
                   micro_batch: int | None = None, progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """The released sampler's own large-image inference: (B, 3, h, w) LQ in [0, 1], any size ->
    (B, 3, h*sf, w*sf) in [0, 1].

    If a side exceeds ``chop`` (LQ pixels), the image is cut into ``chop``-sized patches at
    :func:`release_starts` (``stride`` apart); each patch is restored on its own as a whole
    image — reflect-padded to ``model.pad_multiple``, a full chain with its own noise, decoded,
    cropped and clamped to [-1, 1] — and the patches are averaged where they overlap (plain
    mean, no blending window), then mapped to [0, 1]. Inpainting pastes the known pixels back
    at the end. Unlike the release, the mask is padded and chopped with the image (the release
    fails on inpainting inputs that need either).

    ``noise`` is called per patch, in patch order, with draws ``"prior"``, T-1, ..., 1; with
    several patches the draw is ``(k, draw)`` for patch k, so seeded noise differs per patch.
    """
    b, _, h, w = lq.shape
    if chop is not None and (chop <= 0 or stride is None or not 0 < stride <= chop):
        raise ResShiftError(f"--tile {chop} / --tile-overlap {chop - (stride or 0) if chop else 0}: release mode needs "
                            "a positive tile and an overlap smaller than it")
    if mask is not None:
        lq = lq * (1 - mask)                            # LQ = GT * (1 - mask), 1 = hole
    sf = model.sf
    patches = release_patches(h, w, chop, stride)
    acc = torch.zeros((b, 3, h * sf, w * sf), device=lq.device)
    count = torch.zeros_like(acc)
    for k, (r, c) in enumerate(patches):
        rows = slice(r, r + chop if chop else h)
        cols = slice(c, c + chop if chop else w)
        part = lq[..., rows, cols]
        part_mask = None if mask is None else mask[..., rows, cols]
        ph, pw = part.shape[-2:]
        padded, _ = pad_to_multiple(part, model.pad_multiple)
        padded_mask = None if part_mask is None else pad_to_multiple(part_mask, model.pad_multiple)[0]
        draws = noise if len(patches) == 1 else (
            lambda draw, shape, device=None, dtype=torch.float32, k=k: noise((k, draw), shape, device, dtype))
        img = sample(model, padded, draws, mask=padded_mask, tile=None, precision=precision, micro_batch=micro_batch,
                     progress=progress, decoded=True)
        img = img[..., : ph * sf, : pw * sf].float().clamp(-1, 1)
        acc[..., r * sf: r * sf + ph * sf, c * sf: c * sf + pw * sf] += img
        count[..., r * sf: r * sf + ph * sf, c * sf: c * sf + pw * sf] += 1
    hq = (acc / count) * 0.5 + 0.5
    if mask is not None:
        hq = hq * mask + lq * (1 - mask)
    return hq


def passes(model: ResShiftModel, h: int, w: int, tile: int | None, overlap: int) -> int:
    """Network passes :func:`sample` makes for an (h, w) padded input (for progress bars)."""
    return len(tile_grid(h, w, tile, overlap, model.size_multiple)) * (model.steps + 2)
