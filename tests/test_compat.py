import importlib

import numpy as np
import torch

from resshift import compat


def test_basicsr_imports_on_current_torchvision():
    basicsr = compat.import_basicsr()
    assert basicsr.__version__ == "1.4.2"
    from basicsr.data.degradations import circular_lowpass_kernel
    from basicsr.metrics.psnr_ssim import calculate_psnr

    assert circular_lowpass_kernel(np.pi / 3, 21).shape == (21, 21)
    img = np.full((8, 8, 3), 100, np.uint8)
    assert calculate_psnr(img, img, crop_border=0) == float("inf")
    ft = importlib.import_module("torchvision.transforms.functional_tensor")
    assert callable(ft.rgb_to_grayscale)
    assert compat.alias_torchvision_functional_tensor() is False       # idempotent


def test_facexlib_landmark_decoder_runs_on_numpy2():
    compat.patch_facexlib()
    compat.patch_facexlib()
    from facexlib.alignment.awing_arch import calculate_points

    heat = np.zeros((1, 2, 64, 64), np.float32)
    heat[0, 0, 10, 20] = 1.0
    heat[0, 1, 40, 5] = 1.0
    pts = calculate_points(heat)
    assert pts.dtype == np.float64 and pts.shape == (1, 2, 2)
    assert np.allclose(pts[0, 0], [20.5, 10.5], atol=0.3) and np.allclose(pts[0, 1], [5.5, 40.5], atol=0.3)
    assert not hasattr(np, "float")                     # numpy itself is left untouched


def test_facexlib_arcface_honours_device(tmp_path, monkeypatch):
    compat.patch_facexlib()
    import facexlib.recognition as recognition
    import facexlib.utils
    from facexlib.recognition.arcface_arch import Backbone

    torch.manual_seed(0)
    weights = tmp_path / "arcface.pth"
    torch.save(Backbone(num_layers=50, drop_ratio=0.6, mode="ir_se").state_dict(), weights)
    monkeypatch.setattr(facexlib.utils, "load_file_from_url", lambda **kw: str(weights))
    model = recognition.init_recognition_model("arcface", device="cpu")
    assert next(model.parameters()).device.type == "cpu"
    with torch.no_grad():
        assert model(torch.rand(1, 3, 112, 112)).shape == (1, 512)
