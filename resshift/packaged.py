"""Images that ship inside installed packages (scikit-image, matplotlib, scikit-learn): the offline
training and test images of the demo, training-time validation and the ``demo_sr`` test set."""
from __future__ import annotations

import numpy as np
import torch

# The demo split, disjoint by source image (tests/test_data.py): training here; demo_sr_val
# (china, immunohistochemistry) for every demo choice; demo_sr (hubble_deep_field, retina,
# chelsea, flower, camera) for the reported numbers only.
TRAIN_IMAGES = ("astronaut", "coffee", "rocket", "motorcycle", "grace_hopper")
TEST_IMAGES = ("chelsea",)
PACKAGED = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "motorcycle", "grace_hopper",
            "china", "flower", "retina", "camera", "immunohistochemistry")


def packaged_array(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image that ships inside an installed package: scikit-image's
    data (motorcycle = the left image of ``stereo_motorcycle``; the grey camera repeated to three
    channels), matplotlib's grace_hopper, scikit-learn's china and flower."""
    if name == "grace_hopper":
        import matplotlib.cbook as cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            arr = np.asarray(Image.open(f).convert("RGB"))
    elif name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        arr = load_sample_image(f"{name}.jpg")
    elif name in PACKAGED:
        import skimage.data

        arr = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        arr = arr[..., :3]
    else:
        raise ValueError(f"unknown packaged image {name!r}; known: {', '.join(PACKAGED)}")
    return np.array(arr, dtype=np.uint8, copy=True)


def packaged_image(name: str) -> torch.Tensor:
    """(3, H, W) in [0, 1]: :func:`packaged_array` as a tensor."""
    return torch.from_numpy(packaged_array(name)).permute(2, 0, 1).float() / 255.0
