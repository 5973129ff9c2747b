"""Inpainting masks (1 = hole) with the semantics of the authors' release (``datapipe/masks.py``
of zsyOAOA/ResShift, itself LaMa's generators): box, irregular strokes, half, expand, outpainting.

As for the degradations, ``draw_mask(kind, rng, h, w, cfg)`` draws the parameters from a numpy
``Generator`` and ``render_mask(params, h, w)`` draws the mask from them, deterministically.
Settings use the release's names and meanings, as its generator objects are built (no ramp):

- ``box`` (``RandomRectangleMaskGenerator``): ``min_times``..``max_times`` boxes (inclusive);
  each side uniform over ``bbox_min_size``..``bbox_max_size`` inclusive (the generator passes
  ``bbox_max_size + 1`` as the exclusive bound), capped at the image side minus two margins
  (then exclusive); position uniform with ``margin`` pixels kept free on every side.
- ``irregular`` (``RandomIrregularMaskGenerator``, LINE strokes): ``min_times``..``max_times + 1``
  strokes (the generator raises the exclusive bound by one); each starts at a uniform pixel and
  has 1..5 segments; angle = 0.01 + an integer below ``max_angle``, mirrored (2 pi - angle) for
  every even-numbered *stroke*; length 10 + integer below ``max_len``; width 5 + integer below
  ``max_width``; the end point moves by (length sin(angle), length cos(angle)) in (x, y),
  truncated to integers and clipped to [0, w] x [0, h]; OpenCV lines of that width.
- ``expand`` (``ExpandMaskGenerator``, centred): everything but a centred window is masked; the
  window starts at int(h * masking_percent / 2) and spans int(h * (1 - masking_percent))
  (the same for w), so masking_percent 0.5 masks 75 % of the image.
- ``half`` (``HalfMaskGenerator``): one of four equally likely cases masks rows int(h p):,
  rows :h - int(h p), columns int(w p):, or columns :w - int(w p) (p = masking_percent).
- ``outpaint`` (``OutpaintingMaskGenerator``, training): four band widths drawn as integers in
  [int(min_padding_percent n), int(max_padding_percent n)) over n (the left/right bands drawn on
  the height, top/bottom on the width, as the release does), then each of left, top, right,
  bottom is masked with its probability; if none is, one is chosen in proportion to them.

Settings left out take the values of the release's ``configs/inpaint_lama256_*.yaml`` (box 30..150,
1..4, margin 10; irregular 4/200/100, 1..5; outpainting 0.04..0.25, 0.5 per side) and
masking_percent 0.5, not its generator classes' own defaults.
"""
from __future__ import annotations

import cv2
import numpy as np

MASK_KINDS = ("box", "irregular", "half", "expand", "outpaint")
TRAINING_KINDS = ("irregular", "box", "outpaint")       # the release's training mix, 1/3 each
HALF_SIDES = ("bottom", "top", "right", "left")          # the release's four cases, in its order
OUTPAINT_SIDES = ("left", "top", "right", "bottom")

_TWO_PI = 2 * 3.1415926                                  # the release's constant, not math.tau


def _box_cfg(cfg: dict) -> tuple[int, int, int, int, int]:
    """(margin, min size, max size, min count, max count); ``size: [lo, hi]`` and
    ``min_boxes``/``max_boxes`` are accepted as older spellings of the release's names."""
    lo, hi = cfg.get("size", (cfg.get("bbox_min_size", 30), cfg.get("bbox_max_size", 150)))
    return (int(cfg.get("margin", 10)), int(lo), int(hi), int(cfg.get("min_times", cfg.get("min_boxes", 1))),
            int(cfg.get("max_times", cfg.get("max_boxes", 4))))


def draw_mask(kind: str, rng: np.random.Generator, h: int, w: int, cfg: dict | None = None) -> dict:
    cfg = cfg or {}
    if kind == "box":
        margin, lo, hi, tmin, tmax = _box_cfg(cfg)
        top_size = min(hi + 1, h - 2 * margin, w - 2 * margin)       # exclusive upper bound
        if top_size <= lo:
            raise ValueError(f"box masks of {lo}..{hi} px with margin {margin} do not fit a {h}x{w} image")
        boxes = []
        for _ in range(int(rng.integers(tmin, tmax + 1))):
            bw = int(rng.integers(lo, top_size))
            bh = int(rng.integers(lo, top_size))
            left = int(rng.integers(margin, w - margin - bw + 1))
            top = int(rng.integers(margin, h - margin - bh + 1))
            boxes.append([top, left, bh, bw])
        return {"kind": kind, "boxes": boxes}
    if kind == "irregular":
        max_angle, max_len, max_width = (int(cfg.get("max_angle", 4)), int(cfg.get("max_len", 200)),
                                         int(cfg.get("max_width", 100)))
        tmin, tmax = int(cfg.get("min_times", 1)), int(cfg.get("max_times", 5))
        strokes = []
        for i in range(int(rng.integers(tmin, tmax + 2))):
            x, y = int(rng.integers(w)), int(rng.integers(h))
            pts, widths = [[x, y]], []
            for _ in range(1 + int(rng.integers(5))):
                angle = 0.01 + int(rng.integers(max_angle))
                if i % 2 == 0:
                    angle = _TWO_PI - angle
                length = 10 + int(rng.integers(max_len))
                widths.append(5 + int(rng.integers(max_width)))
                x = int(np.clip(np.int32(x + length * np.sin(angle)), 0, w))
                y = int(np.clip(np.int32(y + length * np.cos(angle)), 0, h))
                pts.append([x, y])
            strokes.append({"points_xy": pts, "widths": widths})
        return {"kind": kind, "strokes": strokes}
    if kind == "half":
        return {"kind": kind, "side": HALF_SIDES[int(rng.integers(4))],
                "percent": float(cfg.get("masking_percent", 0.5))}
    if kind == "expand":
        return {"kind": kind, "percent": float(cfg.get("masking_percent", 0.5))}
    if kind == "outpaint":
        lo, hi = float(cfg.get("min_padding_percent", 0.04)), float(cfg.get("max_padding_percent", 0.25))
        probs = [float(cfg.get(f"{s}_padding_prob", 0.5)) for s in OUTPAINT_SIDES]

        def frac(n: int) -> float:
            return int(rng.integers(int(lo * n), int(hi * n))) / n
        fracs = dict(zip(OUTPAINT_SIDES, (frac(h), frac(w), frac(h), frac(w))))
        sides = [s for s, p in zip(OUTPAINT_SIDES, probs) if rng.random() < p]
        if not sides:
            sides = [OUTPAINT_SIDES[int(rng.choice(4, p=np.array(probs) / sum(probs)))]]
        return {"kind": kind, "bands": {s: fracs[s] for s in sides}}
    raise ValueError(f"unknown mask kind {kind!r}; known: {', '.join(MASK_KINDS)}")


def render_mask(p: dict, h: int, w: int) -> np.ndarray:
    """(h, w) uint8 mask in {0, 1} from :func:`draw_mask` parameters."""
    m = np.zeros((h, w), np.uint8)
    kind = p["kind"]
    if kind == "box":
        for top, left, bh, bw in p["boxes"]:
            m[top:top + bh, left:left + bw] = 1
    elif kind == "irregular":
        for s in p["strokes"]:
            for (x0, y0), (x1, y1), width in zip(s["points_xy"], s["points_xy"][1:], s["widths"]):
                cv2.line(m, (x0, y0), (x1, y1), 1, width)
    elif kind == "half":
        side, kh, kw = p["side"], int(h * p["percent"]), int(w * p["percent"])
        if side == "bottom":
            m[kh:] = 1
        elif side == "top":
            m[:h - kh if kh else 0] = 1                # the release slices [:-k]: empty for k = 0
        elif side == "right":
            m[:, kw:] = 1
        else:
            m[:, :w - kw if kw else 0] = 1
    elif kind == "expand":
        top, left = int(h * p["percent"] / 2), int(w * p["percent"] / 2)
        bottom, right = int(top + h * (1 - p["percent"])), int(left + w * (1 - p["percent"]))
        m[:] = 1
        m[top:bottom, left:right] = 0
    elif kind == "outpaint":
        for side, f in p["bands"].items():
            if side == "left":
                m[:, :int(f * w)] = 1
            elif side == "top":
                m[:int(f * h)] = 1
            elif side == "right":
                m[:, int((1 - f) * w):] = 1
            else:
                m[int((1 - f) * h):] = 1
    else:
        raise ValueError(f"unknown mask kind {kind!r}")
    return m


def random_mask(rng: np.random.Generator, h: int, w: int, kinds=MASK_KINDS, probs=None,
                cfg: dict | None = None) -> tuple[np.ndarray, dict]:
    """A mask of a randomly chosen kind (training-time mixed masks, as the release's
    ``MixedMaskGenerator``; its training mix is :data:`TRAINING_KINDS`, equally likely)."""
    kind = kinds[int(rng.choice(len(kinds), p=probs))]
    params = draw_mask(kind, rng, h, w, (cfg or {}).get(kind))
    return render_mask(params, h, w), params


def coverage(params: dict, h: int, w: int) -> float:
    return float(render_mask(params, h, w).mean())

