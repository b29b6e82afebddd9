"""The one seeded arrival generator every workload uses (simulated and real engines), so a seed means one timeline.

Gaps are Gamma(shape 1/cv², scale cv²/rate): cv = 1 is Poisson, cv > 1 burstier at the same mean rate. The
first request arrives at t = 0. Seeded as the paper's benchmark script (``np.random.seed(seed)``; legacy
``RandomState``), so ``seed=0`` gives the paper's arrival sequence for a rate.
"""

from __future__ import annotations

import numpy as np

from ltrsched.errors import UserError


def arrival_times(n: int, rate: float, cv: float = 1.0, seed: int = 0) -> np.ndarray:
    """[n] arrival times in s, non-decreasing, starting at 0."""
    if rate <= 0:
        raise UserError(f"arrival rate must be > 0 req/s (--rates), got {rate}")
    if cv <= 0:
        raise UserError(f"the arrival gaps' coefficient of variation must be > 0, got {cv}")
    if n <= 0:
        return np.zeros(0)
    gaps = np.random.RandomState(seed).gamma(1.0 / cv**2, cv**2 / rate, size=n)
    return np.concatenate([[0.0], np.cumsum(gaps[:-1])])
