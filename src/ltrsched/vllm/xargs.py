"""The keys a request may carry in ``vllm_xargs`` (``SamplingParams.extra_args``) for the plugin, defined once.

Imports nothing from vLLM, so clients and benchmarks use the same names without loading the engine.
"""

from __future__ import annotations

import logging
import math
from typing import Any

logger = logging.getLogger("vllm.ltrsched")  # a child of vLLM's logger: same handler and format

CLIENT_SCORE_KEY = "ltr_score"  # a client's own ranker score (higher = shorter); see PluginConfig trust keys
CLIENT_TOKEN_KEY = "ltrsched_token"  # the operator's gateway token that makes a client score count
TRUE_LEN_KEY = "ltrsched_true_output_len"  # a replayed true output length, for oracle policies (benchmarks)


def client_score(extra_args: dict[str, Any] | None) -> float | None:
    """The client's ``ltr_score`` if it sent a finite number, else None (a bad value is logged, never raised)."""
    if not extra_args or CLIENT_SCORE_KEY not in extra_args:
        return None
    value = extra_args[CLIENT_SCORE_KEY]
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        logger.warning("ltrsched: ignoring %s=%r (not a finite number)", CLIENT_SCORE_KEY, value)
        return None
    return number


def true_output_len(extra_args: dict[str, Any] | None, max_tokens: int) -> tuple[int, bool]:
    """(true length, whether it was sent) for oracle policies.

    A client that replays lengths sends ``ltrsched_true_output_len``; without it the request's ``max_tokens``
    stands in. That is exact for replayed runs (``ignore_eos`` with ``max_tokens`` = the recorded length) and an
    upper bound otherwise, so the oracle then orders by the clients' caps.
    """
    value = (extra_args or {}).get(TRUE_LEN_KEY)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, True
    return int(max_tokens), False
