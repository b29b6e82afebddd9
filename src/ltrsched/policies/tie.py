"""Risk-aware ranking (TIE-like): a tail-inflated expected length from the predictor's quantiles, with aging.

A rank score says which request is shorter; quantiles also say how sure that is. Two requests with the same
median differ in risk when one's p90 is far above it: serving the risky one first gambles a long occupation of
a slot. The key is in output tokens, so it can be aged in the same unit: ``age_tokens_per_s`` tokens of credit
per second waited, which keeps the key fixed at arrival (every waiting request ages at the same rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ltrsched.errors import UserError
from ltrsched.policies.base import Policy
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request

Z90 = 1.2815515655446004  # standard normal quantile at 0.9


def lognormal_from_quantiles(p10: float, p50: float, p90: float) -> tuple[float, float]:
    """(mu, sigma) of the log-normal whose median is p50 and whose p10-p90 spread matches (lengths >= 1 token)."""
    lo, mid, hi = max(p10, 1.0), max(p50, 1.0), max(p90, 1.0)
    sigma = max((math.log(max(hi, mid)) - math.log(min(lo, mid))) / (2.0 * Z90), 1e-6)
    return math.log(mid), sigma


def tail_inflated_length(p10: float, p50: float, p90: float, beta: float, max_len: float = 2048.0) -> float:
    """mean + beta × E[L − p90 | L > p90] (tokens) of the log-normal fitted to the three quantiles, cut at max_len.

    The excess term is CVaR_0.9 − VaR_0.9, the expected overshoot of a request that lands in its own top decile.
    The cut matters: a wide p10-p90 spread (typical of predicted-short prompts, whose lengths are a mixture)
    gives an untruncated log-normal a tail far past any real answer.
    """
    mu, sigma = lognormal_from_quantiles(p10, p50, p90)
    top = math.log(max(max_len, 1.0))
    full = math.exp(mu + sigma * sigma / 2.0)
    mass = _normal_cdf((top - mu) / sigma)  # P(L <= max_len)

    def partial_mean(x: float) -> float:  # E[L; L <= e^x]
        return full * _normal_cdf((x - mu - sigma * sigma) / sigma)

    mean = partial_mean(top) / max(mass, 1e-12)
    if beta == 0.0:
        return mean
    log_k = min(mu + Z90 * sigma, top)  # the fitted p90 (equals p90 unless the quantiles were lopsided)
    tail_mass = max(mass - _normal_cdf((log_k - mu) / sigma), 1e-12)  # P(p90 < L <= max_len)
    excess = (partial_mean(top) - partial_mean(log_k)) / tail_mass - math.exp(log_k)
    return mean + beta * max(excess, 0.0)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@register_policy
@dataclass(slots=True)
class LTRTie(Policy):
    """rank = mean + beta × tail excess over p90 (tokens) + age_tokens_per_s × arrival_time; smaller first.

    Hosts put the predictor's (p10, p50, p90) on ``Request.length_quantiles`` at arrival (``reads_quantiles``).
    What it trades: ``beta`` = 0 ranks by the expected length alone, larger values push requests with a heavy
    predicted tail back; ``age_tokens_per_s`` = 0 never ages (ranking only), larger values bound the wait: a
    request is overtaken only by later arrivals whose key beats its own by more than the credit they lack.
    """

    name: ClassVar[str] = "ltr-tie"
    reads_score: ClassVar[bool] = True
    reads_quantiles: ClassVar[bool] = True
    beta: float = 1.0  # weight of the expected overshoot past p90 (TIE's CVaR term); 0 = expected length only
    age_tokens_per_s: float = 0.0  # tokens of predicted length forgiven per second of waiting; 0 = no aging
    max_len: float = 2048.0  # no answer is longer (the served context or max_tokens cap): cuts the fitted tail

    def __post_init__(self) -> None:
        for key in ("beta", "age_tokens_per_s"):
            value = getattr(self, key)
            if not (value >= 0 and math.isfinite(value)):
                raise UserError(f"policy 'ltr-tie': {key} must be a finite number >= 0, got {value}")
        if not (1 <= self.max_len < math.inf):
            raise UserError(f"policy 'ltr-tie': max_len must be a finite number >= 1, got {self.max_len}")

    def rank(self, req: Request) -> float:
        q = req.length_quantiles
        if q is None:
            raise ValueError(f"policy 'ltr-tie' needs length quantiles on request {req.request_id!r}; the host "
                             f"must set Request.length_quantiles for a policy with reads_quantiles")
        length = tail_inflated_length(q[0], q[1], q[2], self.beta, self.max_len)
        return length + self.age_tokens_per_s * req.arrival_time
