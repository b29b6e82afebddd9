"""In-engine scoring of new arrivals: one batched ranker call per step for the requests that arrived since the last.

The engine-core request carries token ids only, so the prompt text is recovered with the served model's tokenizer
(the ranker strips the chat template). A client's own ``vllm_xargs`` ``{"ltr_score": x}`` wins over the ranker.
Nothing here may take the engine down: a ranker that fails to load or to score leaves the request unscored
(``None``); the scheduler then gives it a neutral score, so it is served in arrival order among its peers.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltrsched.errors import UserError

logger = logging.getLogger("vllm.ltrsched")  # a child of vLLM's logger: same handler and format

CLIENT_SCORE_KEY = "ltr_score"  # vllm_xargs / SamplingParams.extra_args key of a client-sent score


@dataclass(slots=True)
class ScoringStats:
    scoring_s: float = 0.0  # s spent in the ranker and detokenizing, all calls
    num_scored: int = 0  # requests scored by the ranker
    num_client_scores: int = 0  # requests that brought their own ltr_score
    num_failed: int = 0  # requests the ranker could not score (ordered by arrival instead)
    num_batches: int = 0  # ranker calls


def client_score(extra_args: dict[str, Any] | None) -> float | None:
    """The client's ``ltr_score`` if it sent a finite number, else None."""
    if not extra_args or CLIENT_SCORE_KEY not in extra_args:
        return None
    try:
        value = float(extra_args[CLIENT_SCORE_KEY])
    except (TypeError, ValueError):
        logger.warning("ignoring non-numeric %s=%r", CLIENT_SCORE_KEY, extra_args[CLIENT_SCORE_KEY])
        return None
    return value if math.isfinite(value) else None


def check_ranker_spec(spec: str) -> None:
    """Start-up check of ``ltrsched.ranker``: a named folder must exist (a factory is imported lazily)."""
    if spec and ":" not in spec and not Path(spec).expanduser().is_dir():
        raise UserError(f"--additional-config ltrsched.ranker: no ranker folder at {spec}; train one with "
                        "`ltrsched train --out DIR`, or leave the key out to use the default ranker")


def load_scorer(spec: str) -> Any:
    """A ranker from a folder, a ``pkg.module:factory`` (called with no arguments), or the default one."""
    if ":" in spec and not Path(spec).expanduser().exists():
        module_name, _, attr = spec.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        return factory()
    from ltrsched.predictor import default_ranker, load_ranker

    return load_ranker(spec) if spec else default_ranker()


class ArrivalScorer:
    """Scores batches of engine requests; counts its cost so benchmarks can report scoring time / engine time."""

    def __init__(self, ranker_spec: str, batch_size: int, tokenizer_factory: Callable[[], Any]) -> None:
        self.ranker_spec = ranker_spec
        self.batch_size = batch_size
        self._tokenizer_factory = tokenizer_factory
        self._tokenizer: Any = None
        self._ranker: Any = None
        self._broken = False  # loading failed once: stop trying, every request falls back
        self.stats = ScoringStats()

    def _ensure_loaded(self) -> bool:
        if self._broken:
            return False
        if self._ranker is None:
            try:
                self._tokenizer = self._tokenizer_factory()
                self._ranker = load_scorer(self.ranker_spec)
            except Exception as exc:
                self._broken = True
                logger.error("ltrsched: cannot load the ranker (%s): %s; requests are ordered by arrival",
                             self.ranker_spec or "default", exc)
                return False
        return True

    def prompt_text(self, request: Any) -> str:
        ids = request.prompt_token_ids
        if ids is None:
            raise ValueError("the request has no prompt token ids (prompt embeddings)")
        return str(self._tokenizer.decode(ids, skip_special_tokens=False))

    def score(self, requests: Sequence[Any]) -> list[float | None]:
        """One score per request (higher = shorter); None where neither the client nor the ranker gave one."""
        out: list[float | None] = [None] * len(requests)
        todo: list[int] = []
        for i, req in enumerate(requests):
            value = client_score(getattr(req.sampling_params, "extra_args", None) if req.sampling_params else None)
            if value is not None:
                out[i] = value
                self.stats.num_client_scores += 1
            else:
                todo.append(i)
        if not todo:
            return out
        t0 = time.perf_counter()
        if self._ensure_loaded():
            for lo in range(0, len(todo), self.batch_size):
                chunk = todo[lo:lo + self.batch_size]
                for i, value in zip(chunk, self._score_chunk([requests[i] for i in chunk]), strict=True):
                    out[i] = value
        self.stats.scoring_s += time.perf_counter() - t0
        self.stats.num_failed += sum(1 for i in todo if out[i] is None)
        return out

    def _score_chunk(self, requests: Sequence[Any]) -> list[float | None]:
        """A batch call; if it fails, each request alone, so one bad prompt costs only its own score."""
        self.stats.num_batches += 1
        try:
            values = self._ranker.score([self.prompt_text(r) for r in requests])
            result: list[float | None] = [_finite(v) for v in values]
            if len(result) != len(requests):
                raise ValueError(f"the ranker returned {len(result)} scores for {len(requests)} prompts")
            self.stats.num_scored += sum(1 for v in result if v is not None)
            return result
        except Exception as exc:
            if len(requests) > 1:
                logger.warning("ltrsched: batch scoring failed (%s); scoring one by one", exc)
                return [v for r in requests for v in self._score_chunk([r])]
            logger.error("ltrsched: cannot score request %s (%s); it is ordered by arrival",
                         requests[0].request_id, exc)
            return [None]


def _finite(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None
