import math

import numpy as np
import pytest

from resshift.schedule import ResShiftSchedule


def test_protocol_example_v3():
    """docs/protocol.md §1: T=4, p=0.3, kappa=2, min_noise_level=0.2."""
    s = ResShiftSchedule(4, 2.0, 0.3, 0.2)
    np.testing.assert_allclose(s.sqrt_etas, [0.1, 0.52010, 0.76138, 0.99], atol=5e-6)
    np.testing.assert_allclose(s.etas, [0.01, 0.27050, 0.57970, 0.9801], atol=5e-6)
    np.testing.assert_allclose(s.posterior_variance, [0, 0.03852, 0.57712, 0.94730], atol=5e-6)


def test_pinned_numbers_v1():
    """Exact numbers for the v1 schedule (T=15, min_noise_level 0.04), pinned once."""
    s = ResShiftSchedule(15, 2.0, 0.3, 0.04)
    assert s.sqrt_etas.dtype == np.float64
    assert s.sqrt_etas[0] == pytest.approx(0.02, abs=1e-15)
    assert s.sqrt_etas[1] == pytest.approx(0.11716508229842353, abs=1e-14)
    assert s.sqrt_etas[7] == pytest.approx(0.4758577309189876, abs=1e-14)
    assert s.etas[-1] == pytest.approx(0.99 ** 2, abs=1e-14)


@pytest.mark.parametrize("steps,kappa,p,mnl", [(4, 2.0, 0.3, 0.2), (15, 2.0, 0.3, 0.04), (10, 1.0, 0.8, 0.1),
                                               (1000, 40.0, 0.8, 0.04)])
def test_endpoints_and_identities(steps, kappa, p, mnl):
    s = ResShiftSchedule(steps, kappa, p, mnl)
    assert len(s.etas) == steps
    assert s.sqrt_etas[0] == pytest.approx(min(mnl / kappa, mnl), rel=1e-12)
    assert s.sqrt_etas[-1] == pytest.approx(0.99, rel=1e-12)
    assert np.all(np.diff(s.etas) > 0)                       # monotonically increasing
    np.testing.assert_allclose(np.cumsum(s.alphas), s.etas, rtol=1e-12)   # eta_t = sum alpha
    assert s.alphas[0] == s.etas[0] and s.posterior_variance[0] == 0.0
    np.testing.assert_allclose(s.posterior_mean_coef1 + s.posterior_mean_coef2, 1.0, rtol=1e-12)
    np.testing.assert_allclose(s.posterior_variance, kappa ** 2 * s.etas_prev / s.etas * s.alphas, rtol=1e-12)


def test_paper_form():
    s = ResShiftSchedule(15, 2.0, 0.3, form="paper")
    assert s.etas[0] == pytest.approx(min((0.04 / 2.0) ** 2, 0.001), rel=1e-12)
    assert s.etas[-1] == pytest.approx(0.999, rel=1e-12)
    # beta_t = ((t-1)/(T-1))^p (T-1): log sqrt(eta) is affine in beta
    beta = (np.arange(15) / 14) ** 0.3 * 14
    logs = np.log(s.sqrt_etas)
    b0 = math.exp(math.log(0.999 / s.etas[0]) / 28)
    np.testing.assert_allclose(logs, np.log(s.sqrt_etas[0]) + beta * math.log(b0), rtol=1e-12)


def test_release_schedules_reproduced(release_outputs):
    for ref in release_outputs["schedules"]:
        s = ResShiftSchedule(ref["T"], ref["kappa"], ref["p"], ref["min_noise_level"])
        for key in ("sqrt_etas", "etas", "posterior_variance", "posterior_mean_coef1", "posterior_mean_coef2"):
            np.testing.assert_allclose(getattr(s, key), ref[key], rtol=0, atol=1e-12, err_msg=key)


def test_bad_parameters():
    with pytest.raises(ValueError):
        ResShiftSchedule(1, 2.0)
    with pytest.raises(ValueError):
        ResShiftSchedule(4, 0.0)
    with pytest.raises(ValueError):
        ResShiftSchedule(4, 2.0, form="cosine")
