"""Inpainting masks against the authors' release generators (zsyOAOA/ResShift ``journal``,
commit 3ce1d81, ``datapipe/masks.py``; settings of ``configs/inpaint_lama256_imagenet.yaml`` and
the paper: box margin 10, sizes 30..150, 1..4 boxes; irregular max_angle 4, max_len 200,
max_width 100, min_times 1, max_times 5; expand and half masking_percent 0.5; outpainting
0.04..0.25, each side 0.5).

RELEASE_COVERAGE: mean hole fraction of the release's own generator objects
(``RandomRectangleMaskGenerator``, ``RandomIrregularMaskGenerator(draw_method=LINE)``,
``ExpandMaskGenerator``, ``HalfMaskGenerator``, ``OutpaintingMaskGenerator``) called on a
3x256x256 image, unpatched, numpy and Python ``random`` seeded 0, 40,000 draws each (script
``measure_release_masks.py`` in the helper's scratch folder, not shipped). With 4000 draws the
release's own means were irregular 0.4603, box 0.2437, outpaint 0.2759, expand 0.75, half 0.5.
"""
import numpy as np

from bench.data import load_recipe
from resshift.data.masks import draw_mask, render_mask

# 40,000 draws each; standard errors 0.0011, 0.0006, 0.0007
RELEASE_COVERAGE = {"irregular": 0.4562, "box": 0.2476, "outpaint": 0.2733, "expand": 0.75, "half": 0.5}
OUTPAINT_CFG = {"min_padding_percent": 0.04, "max_padding_percent": 0.25}


def _settings():
    return load_recipe("inpaint_imagenet_test")["masks"]["settings"]


def _coverages(kind: str, cfg: dict, n: int = 4000, size: int = 256) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.array([render_mask(draw_mask(kind, rng, size, size, cfg), size, size).mean() for _ in range(n)])


def test_expand_masks_three_quarters():
    """ExpandMaskGenerator(masking_percent=0.5) keeps a centred window of half of each side."""
    cfg = _settings()["expand"]
    for h, w in ((256, 256), (512, 512), (256, 200)):
        m = render_mask(draw_mask("expand", np.random.default_rng(0), h, w, cfg), h, w)
        assert m.mean() == 0.75 if (h, w) != (256, 200) else abs(m.mean() - 0.75) < 1e-9
        assert m[h // 2, w // 2] == 0 and m[0, 0] == 1
    m = render_mask(draw_mask("expand", np.random.default_rng(0), 256, 256, cfg), 256, 256)
    assert m[64:192, 64:192].sum() == 0 and m.sum() == 256 * 256 - 128 * 128


def test_half_masks_half_in_four_equally_likely_ways():
    cfg = _settings()["half"]
    rng = np.random.default_rng(0)
    sides = [draw_mask("half", rng, 256, 256, cfg)["side"] for _ in range(4000)]
    assert all(abs(sides.count(s) - 1000) < 4.5 * np.sqrt(4000 * 0.25 * 0.75) for s in set(sides))
    for side in ("bottom", "top", "right", "left"):
        m = render_mask({"kind": "half", "side": side, "percent": 0.5}, 256, 256)
        assert m.mean() == 0.5
    assert render_mask({"kind": "half", "side": "bottom", "percent": 0.5}, 256, 256)[128:].all()


def test_box_and_irregular_coverage_match_the_release_over_4000_draws():
    s = _settings()
    for kind in ("irregular", "box"):
        cov = _coverages(kind, s[kind])
        assert abs(cov.mean() - RELEASE_COVERAGE[kind]) <= 0.01, (kind, cov.mean())
    boxes = [draw_mask("box", np.random.default_rng(i), 256, 256, s["box"])["boxes"] for i in range(2000)]
    sizes = [v for b in boxes for (_, _, bh, bw) in b for v in (bh, bw)]
    assert min(sizes) == 30 and max(sizes) == 150                  # both ends reachable (inclusive)
    assert {len(b) for b in boxes} == {1, 2, 3, 4}
    assert all(t >= 10 and lft >= 10 and t + bh <= 246 and lft + bw <= 246 for b in boxes for t, lft, bh, bw in b)
    strokes = {len(draw_mask("irregular", np.random.default_rng(i), 256, 256, s["irregular"])["strokes"])
               for i in range(2000)}
    assert strokes == {1, 2, 3, 4, 5, 6}                            # the release's max_times + 1


def test_outpainting_coverage_matches_the_release():
    cov = _coverages("outpaint", OUTPAINT_CFG)
    assert abs(cov.mean() - RELEASE_COVERAGE["outpaint"]) <= 0.01 and cov.min() > 0


def test_irregular_strokes_mirror_per_stroke_and_use_sin_for_x():
    """Stroke 0 (even) goes at 2 pi - angle, so with max_angle 1 (angle 0.01) its end moves by
    (length sin(2 pi - 0.01), length cos(2 pi - 0.01)): x slightly left, y down by ~length."""
    p = draw_mask("irregular", np.random.default_rng(3), 256, 256,
                  {"max_angle": 1, "max_len": 50, "max_width": 5, "min_times": 1, "max_times": 0})
    (x0, y0), (x1, y1) = p["strokes"][0]["points_xy"][:2]
    assert len(p["strokes"]) == 1 and x1 <= x0 and (y1 > y0 or y1 == 256)
