"""Inpainting masks (1 = hole), LaMa-style: box, irregular strokes, half, expand, outpainting.

As for the degradations, ``draw_mask(kind, rng, h, w, cfg)`` draws the parameters and
``render_mask(params, h, w)`` draws the mask from them, deterministically. Settings of the
paper's test sets (PROTOCOL §2): box (margin 10, size 30-150, 1-4 boxes), irregular (max_angle
4, max_len 200, max_width 100, 1-5 strokes), expand (keep a centred window, masking_percent
0.5), half (one side, masking_percent 0.5).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

MASK_KINDS = ("box", "irregular", "half", "expand", "outpaint")


def draw_mask(kind: str, rng: np.random.Generator, h: int, w: int, cfg: dict | None = None) -> dict:
    cfg = cfg or {}
    if kind == "box":
        margin, (lo, hi) = cfg.get("margin", 10), cfg.get("size", (30, 150))
        boxes = []
        for _ in range(int(rng.integers(cfg.get("min_boxes", 1), cfg.get("max_boxes", 4) + 1))):
            bh = int(rng.integers(lo, min(hi, h - 2 * margin) + 1))
            bw = int(rng.integers(lo, min(hi, w - 2 * margin) + 1))
            top = int(rng.integers(margin, h - margin - bh + 1))
            left = int(rng.integers(margin, w - margin - bw + 1))
            boxes.append([top, left, bh, bw])
        return {"kind": kind, "boxes": boxes}
    if kind == "irregular":
        max_angle, max_len, max_width = cfg.get("max_angle", 4), cfg.get("max_len", 200), cfg.get("max_width", 100)
        strokes = []
        for _ in range(int(rng.integers(cfg.get("min_times", 1), cfg.get("max_times", 5) + 1))):
            y, x = int(rng.integers(h)), int(rng.integers(w))
            pts = [[y, x]]
            widths = []
            for j in range(1 + int(rng.integers(5))):
                angle = 0.01 + float(rng.integers(max_angle))
                if j % 2 == 0:
                    angle = 2 * math.pi - angle
                length = 10 + int(rng.integers(max_len))
                widths.append(5 + int(rng.integers(max_width)))
                y = int(np.clip(y + length * math.sin(angle), 0, h))
                x = int(np.clip(x + length * math.cos(angle), 0, w))
                pts.append([y, x])
            strokes.append({"points": pts, "widths": widths})
        return {"kind": kind, "strokes": strokes}
    if kind == "half":
        return {"kind": kind, "side": str(rng.choice(["top", "bottom", "left", "right"])),
                "percent": float(cfg.get("masking_percent", 0.5))}
    if kind == "expand":
        return {"kind": kind, "percent": float(cfg.get("masking_percent", 0.5))}
    if kind == "outpaint":
        lo, hi = cfg.get("band", (0.1, 0.4))
        sides = [s for s in ("top", "bottom", "left", "right") if rng.random() < 0.5] or ["right"]
        return {"kind": kind, "bands": {s: float(rng.uniform(lo, hi)) for s in sides}}
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
            for (y0, x0), (y1, x1), width in zip(s["points"], s["points"][1:], s["widths"]):
                cv2.line(m, (x0, y0), (x1, y1), 1, width)
    elif kind == "half":
        side, n = p["side"], p["percent"]
        if side in ("top", "bottom"):
            k = round(h * n)
            m[:k] = 1 if side == "top" else 0
            if side == "bottom":
                m[h - k:] = 1
        else:
            k = round(w * n)
            if side == "left":
                m[:, :k] = 1
            else:
                m[:, w - k:] = 1
    elif kind == "expand":
        keep = math.sqrt(1 - p["percent"])            # the kept centred window has (1 - percent) of the area
        kh, kw = round(h * keep), round(w * keep)
        m[:] = 1
        top, left = (h - kh) // 2, (w - kw) // 2
        m[top:top + kh, left:left + kw] = 0
    elif kind == "outpaint":
        for side, frac in p["bands"].items():
            k = round((h if side in ("top", "bottom") else w) * frac)
            if side == "top":
                m[:k] = 1
            elif side == "bottom":
                m[h - k:] = 1
            elif side == "left":
                m[:, :k] = 1
            else:
                m[:, w - k:] = 1
    else:
        raise ValueError(f"unknown mask kind {kind!r}")
    return m


def random_mask(rng: np.random.Generator, h: int, w: int, kinds=MASK_KINDS, probs=None,
                cfg: dict | None = None) -> tuple[np.ndarray, dict]:
    """A mask of a randomly chosen kind (training-time mixed masks)."""
    kind = kinds[int(rng.choice(len(kinds), p=probs))]
    params = draw_mask(kind, rng, h, w, (cfg or {}).get(kind))
    return render_mask(params, h, w), params
