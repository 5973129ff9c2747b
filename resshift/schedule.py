"""The ResShift noise schedule (paper Sec. III-A, Eq. 13-14).

Schedules are pure functions of their parameters: a committed schedule never changes,
because released checkpoints were trained against these exact numbers.

Index convention: every array has length ``steps`` and index 0 is t = 1 (the least noisy
state); index ``steps - 1`` is t = T.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ResShiftSchedule", "released_sqrt_etas", "paper_sqrt_etas"]


def released_sqrt_etas(steps: int, kappa: float, p: float, min_noise_level: float,
                       etas_end: float = 0.99) -> np.ndarray:
    """sqrt(eta_t) exactly as the released configs build it (docs/protocol.md §1).

    sqrt(eta_1) = min(min_noise_level / kappa, min_noise_level), sqrt(eta_T) = etas_end, and
    sqrt(eta_t) = sqrt(eta_1) * b0 ** beta_t with beta_t = ((t-1)/(T-1))**p * (T-1) (Eq. 14).
    """
    if steps < 2:
        raise ValueError(f"a ResShift schedule needs at least 2 steps, got {steps}")
    start = min(min_noise_level / kappa, min_noise_level)
    b0 = math.exp(math.log(etas_end / start) / (steps - 1))
    beta = np.linspace(0.0, 1.0, steps, endpoint=True) ** p * (steps - 1)
    return np.power(np.full(steps, b0, dtype=np.float64), beta) * start


def paper_sqrt_etas(steps: int, kappa: float, p: float, eta_T: float = 0.999) -> np.ndarray:
    """sqrt(eta_t) in the form printed in the paper (Eq. 13-14).

    eta_1 = min((0.04 / kappa)**2, 0.001), eta_T = 0.999,
    b0 = exp(log(eta_T / eta_1) / (2 (T - 1))).
    """
    if steps < 2:
        raise ValueError(f"a ResShift schedule needs at least 2 steps, got {steps}")
    eta_1 = min((0.04 / kappa) ** 2, 0.001)
    b0 = math.exp(math.log(eta_T / eta_1) / (2 * (steps - 1)))
    beta = np.linspace(0.0, 1.0, steps, endpoint=True) ** p * (steps - 1)
    return math.sqrt(eta_1) * np.power(b0, beta)


@dataclass(frozen=True)
class ResShiftSchedule:
    """Shifting sequence {eta_t} and the quantities derived from it, in float64.

    ``form="released"`` (default) reproduces the authors' released configurations;
    ``form="paper"`` uses the closed form printed in the paper.
    """

    steps: int
    kappa: float
    p: float = 0.3
    min_noise_level: float = 0.2
    etas_end: float = 0.99
    form: str = "released"
    sqrt_etas: np.ndarray = field(init=False, repr=False)
    etas: np.ndarray = field(init=False, repr=False)
    etas_prev: np.ndarray = field(init=False, repr=False)
    alphas: np.ndarray = field(init=False, repr=False)
    posterior_mean_coef1: np.ndarray = field(init=False, repr=False)
    posterior_mean_coef2: np.ndarray = field(init=False, repr=False)
    posterior_variance: np.ndarray = field(init=False, repr=False)
    posterior_log_variance_clipped: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kappa <= 0:
            raise ValueError(f"kappa must be positive, got {self.kappa}")
        if self.form == "released":
            sqrt_etas = released_sqrt_etas(self.steps, self.kappa, self.p,
                                           self.min_noise_level, self.etas_end)
        elif self.form == "paper":
            sqrt_etas = paper_sqrt_etas(self.steps, self.kappa, self.p)
        else:
            raise ValueError(f"unknown schedule form {self.form!r}: use 'released' or 'paper'")
        etas = sqrt_etas ** 2
        if not ((etas > 0).all() and (etas <= 1).all()):
            raise ValueError("eta_t must lie in (0, 1]")
        etas_prev = np.append(0.0, etas[:-1])
        alphas = etas - etas_prev                       # alpha_1 = eta_1, alpha_t = eta_t - eta_{t-1}
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("sqrt_etas", sqrt_etas)
        set_("etas", etas)
        set_("etas_prev", etas_prev)
        set_("alphas", alphas)
        # Eq. 7: mean = eta_{t-1}/eta_t x_t + alpha_t/eta_t x_0, var = kappa^2 eta_{t-1}/eta_t alpha_t
        set_("posterior_mean_coef1", etas_prev / etas)
        set_("posterior_mean_coef2", alphas / etas)
        set_("posterior_variance", self.kappa ** 2 * etas_prev / etas * alphas)
        # log variance with the first entry (0: no noise is added at t = 1) replaced by the
        # second, as the release stores it; the sampler's noise scale is exp(0.5 * this)
        var = self.posterior_variance
        set_("posterior_log_variance_clipped", np.log(np.append(var[1], var[1:])) if len(var) > 1 else np.log(var))

    @property
    def num_timesteps(self) -> int:
        return self.steps

    def snr_noise_strength(self) -> np.ndarray:
        """Relative noise strength sqrt(1/SNR) = kappa sqrt(eta_t) (Fig. 3(h))."""
        return self.kappa * self.sqrt_etas

    def as_dict(self) -> dict:
        return {"steps": self.steps, "kappa": self.kappa, "p": self.p,
                "min_noise_level": self.min_noise_level, "etas_end": self.etas_end,
                "form": self.form}
