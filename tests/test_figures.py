"""Figures draw what they are given (axes, series, labels) and name what is missing."""
import pytest
import torch

from bench import figures as FG
from bench.cli import main
from resshift.errors import ResShiftError
from resshift.imageio import write_image


def _built_set(tmp_path, stems=("cat",)):
    data = tmp_path / "set"
    for i, stem in enumerate(stems):
        g = torch.Generator().manual_seed(i)
        write_image(torch.rand(3, 64, 96, generator=g), data / "gt" / f"{stem}.png")
        write_image(torch.rand(3, 16, 24, generator=g), data / "lq" / f"{stem}.png")
    return data


def test_schedule_figure_draws_both_panels_and_saves_png_and_pdf(tmp_path):
    fig = FG.schedule_figure()
    ax_g, ax_h = fig.axes
    assert len(ax_g.get_lines()) == 3 and ax_g.get_yscale() == "log"
    assert [l.get_label() for l in ax_g.get_lines()][-1] == "LDM (linear, T=1000)"
    assert len(ax_h.get_lines()) == 5 and len(ax_h.get_lines()[0].get_xdata()) == 15
    assert ax_g.get_ylabel().startswith("relative noise strength")
    paths = FG.save(fig, tmp_path / "figs" / "schedule")
    assert [p.name for p in paths] == ["schedule.png", "schedule.pdf"] and all(p.stat().st_size > 1000 for p in paths)
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["schedule.pdf", "schedule.png"]   # no temp files
    # LDM's curve is diffusers' scaled_linear schedule (the one the LDM baselines sample with)
    from resshift.ldm import EpsDiffusion

    abar = EpsDiffusion(latent=False).alphas_cumprod.numpy()
    assert FG.ldm_noise_strength() == pytest.approx(((1 - abar) / abar) ** 0.5, rel=1e-5)


def test_forward_process_figure_one_row_per_kappa(tmp_path):
    data = _built_set(tmp_path)
    fig = FG.forward_process_figure(data, "cat", kappas=(1.0, 2.0, 8.0), timesteps=(1, 8, 15))
    assert len(fig.axes) == 9
    assert [fig.axes[i].get_title() for i in range(3)] == ["t=1", "t=8", "t=15"]
    assert [fig.axes[i].get_ylabel() for i in (0, 3, 6)] == ["κ=1", "κ=2", "κ=8"]
    first, last = fig.axes[6].get_images()[0].get_array(), fig.axes[8].get_images()[0].get_array()
    assert first.shape == (64, 96, 3) and float(abs(last - first).mean()) > 0.05     # noisier at t=T
    with pytest.raises(ResShiftError, match="dog.png: missing; build the test set first"):
        FG.forward_process_figure(data, "dog")
    with pytest.raises(ResShiftError, match="timestep 16 is outside 1..15"):
        FG.forward_process_figure(data, "cat", timesteps=(16,))


def test_compare_figure_panels_crops_and_errors(tmp_path):
    data = _built_set(tmp_path)
    restored = {}
    for name in ("Bicubic", "ResShift-4"):
        write_image(torch.rand(3, 64, 96), tmp_path / name / "cat.png")
        restored[name] = tmp_path / name
    fig = FG.compare_figure(data, restored, "cat", box=(10, 20, 32))
    assert len(fig.axes) == 8
    assert [fig.axes[i].get_title() for i in range(4)] == ["LQ (bicubic-sized)", "Bicubic", "ResShift-4", "GT"]
    assert all(len(fig.axes[i].patches) == 1 for i in range(4))            # the box on every full image
    assert fig.axes[4].get_images()[0].get_array().shape == (32, 32, 3)     # the zoomed crop
    with pytest.raises(ResShiftError, match="crop box .* does not fit the 96x64 image cat"):
        FG.compare_figure(data, restored, "cat", box=(80, 0, 32))
    with pytest.raises(ResShiftError, match="missing; restore the test set with LDM first"):
        FG.compare_figure(data, {"LDM": tmp_path / "nothing"}, "cat")


def test_figure_cli(tmp_path, capsys):
    data = _built_set(tmp_path)
    assert main(["figure", "forward", "--data", str(data), "--image", "cat", "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f.png").is_file() and (tmp_path / "f.pdf").is_file()
    assert main(["figure", "compare", "--data", str(data), "--image", "cat", "--box", "1,2",
                 "--out", str(tmp_path / "c")]) == 2
    assert "--box '1,2': use X,Y,SIZE" in capsys.readouterr().err
    assert main(["figure", "forward", "--out", str(tmp_path / "g")]) == 2


def test_ablation_grid_one_crop_per_setting(tmp_path):
    data = _built_set(tmp_path)
    restored = {}
    for i, label in enumerate(["T=4, p=0.3, κ=2.0", "T=15, p=0.3, κ=2.0", "T=15, p=3.0, κ=2.0"]):
        write_image(torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(10 + i)), tmp_path / f"r{i}" / "cat.png")
        restored[label] = tmp_path / f"r{i}"
    fig = FG.ablation_grid_figure(data, restored, "cat", box=(0, 0, 48), columns=3)
    titled = [ax.get_title() for ax in fig.axes if ax.get_images()]
    assert titled == ["LQ", *restored, "GT"] and len(fig.axes) == 6
    assert all(ax.get_images()[0].get_array().shape == (48, 48, 3) for ax in fig.axes if ax.get_images())
    with pytest.raises(ResShiftError, match="r9/cat.png: missing"):
        FG.ablation_grid_figure(data, {"x": tmp_path / "r9"}, "cat")


def _metrics_file(path, psnrs, **cols):
    path.parent.mkdir(parents=True, exist_ok=True)
    names = ["psnr", *cols]
    lines = ["image," + ",".join(names)]
    for i, p in enumerate(psnrs):
        lines.append(f"im{i}," + ",".join([str(p)] + [str(cols[c][i]) for c in cols]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_perception_distortion_points_and_offline_metric(tmp_path):
    series = {"ResShift": {4: _metrics_file(tmp_path / "r4.csv", [30, 30], lpips=[0.2, 0.2], niqe=[5, 5]),
                           15: _metrics_file(tmp_path / "r15.csv", [20, 20], lpips=[0.1, 0.1], niqe=[4, 4])},
              "LDM": {4: _metrics_file(tmp_path / "l4.csv", [10, 10], lpips=[0.5, 0.5], niqe=[9, 9])}}
    fig = FG.perception_distortion_figure(series)
    ax = fig.axes[0]
    lines = {l.get_label(): l for l in ax.get_lines()}
    assert set(lines) == {"ResShift", "LDM"} and ax.get_ylabel() == "LPIPS"
    assert list(lines["ResShift"].get_xdata()) == pytest.approx([1e-3, 1e-2])      # MSE from PSNR-Y 30, 20
    assert list(lines["ResShift"].get_ydata()) == pytest.approx([0.2, 0.1])
    # LPIPS empty (weights missing offline): NIQE, and the axis says so
    offline = {"ResShift": {4: _metrics_file(tmp_path / "o4.csv", [30, 31], lpips=["", ""], niqe=[5, 6])}}
    ax = FG.perception_distortion_figure(offline).axes[0]
    assert ax.get_ylabel() == "NIQE (LPIPS unavailable offline)" and list(ax.get_lines()[0].get_ydata()) == [5.5]
    with pytest.raises(ResShiftError, match="nothing.csv: missing; compute the metrics first"):
        FG.perception_distortion_figure({"LDM": {4: tmp_path / "nothing.csv"}})
    with pytest.raises(ResShiftError, match="none of lpips, niqe"):
        FG.perception_distortion_figure({"X": {4: _metrics_file(tmp_path / "p.csv", [30])}})


def test_validation_curves_one_line_per_run_bicubic_level_and_cli(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "validation.csv").write_text("iteration,psnr_y,lpips\n200,24.5,nan\n400,25.25,nan\n")
    (tmp_path / "b" / "validation.csv").write_text("iteration,psnr_y,lpips\n200,11.0,nan\n400,20.0,nan\n")
    curves = {"ResShift-4": tmp_path / "a" / "validation.csv", "LDM-15": tmp_path / "b" / "validation.csv"}
    ax = FG.validation_curves_figure(curves, bicubic=25.91).axes[0]
    lines = {l.get_label(): l for l in ax.get_lines()}
    assert set(lines) == {"ResShift-4", "LDM-15", "bicubic (25.91 dB)"}
    assert list(lines["ResShift-4"].get_xdata()) == [200, 400] and list(lines["LDM-15"].get_ydata()) == [11.0, 20.0]
    assert ax.get_xlabel() == "training iterations" and ax.get_ylabel().startswith("validation PSNR-Y")
    # bicubic from a built set: identical LQ/GT sizes x4; a GT equal to the bicubic upsampling scores high
    data = _built_set(tmp_path)
    import math

    level = FG.bicubic_psnr(data)
    assert 0 < level < 40 and math.isfinite(level)
    assert main(["figure", "validation", "--curves", *(f"{k}={v}" for k, v in curves.items()),
                 "--data", str(data), "--out", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v.png").stat().st_size > 1000 and (tmp_path / "v.pdf").is_file()
    with pytest.raises(ResShiftError, match="no such file .*validate_every"):
        FG.validation_curves_figure({"x": tmp_path / "none.csv"})
    assert main(["figure", "validation", "--curves", "nolabel", "--out", str(tmp_path / "w")]) == 2
