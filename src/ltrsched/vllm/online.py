"""The online ranker in the engine: learn the served model's lengths from finished requests, in the background.

``_free_request`` hands each finished request to ``OnlineLearner.put`` (a bounded queue: full means the row is
dropped and counted, never a wait). A learner thread detokenizes the prompts, scores them with the online model
as it stands (kept, with the shipped ranker's score, in a window of recent rows), learns from them
(``predictor.online``), chooses the blend weight on the window (``predictor.blend``) and publishes a new
``Blend`` by one reference assignment. Scoring (``BlendedRanker``, in the ranker thread) reads that reference
once per batch, so no ``schedule()`` waits on learning. The state is loaded at start-up and saved at shutdown
(and every ``SAVE_EVERY_S`` by the learner thread).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.predictor.blend import MARGIN_Z, Blend, from_header, learn_and_blend, to_header
from ltrsched.predictor.censor import is_censored
from ltrsched.predictor.online import (
    LEARNING_RATE,
    PAIR_RATIO,
    RESIDUAL,
    OnlineConfig,
    OnlineLinear,
    load_state,
    save_state,
)
from ltrsched.vllm.config import PluginConfig
from ltrsched.vllm.servedlog import RowWorker, ServedRow

logger = logging.getLogger("vllm.ltrsched")
BATCH = 64  # rows learned per wake-up at most
BATCH_WAIT_S = 0.5  # after a row arrives, wait this long for more (one update per batch, not per row)
SAVE_EVERY_S = 600.0  # with online_state, also saved this often (a crash loses at most this much learning)
MAX_REMEMBERED = 65_536  # shipped scores kept for requests not finished yet (oldest forgotten first)


@dataclass(slots=True)
class OnlineSettings:
    """The plugin's ``online_*`` keys."""

    state: str = ""  # .npz file: loaded at start-up if present, written at shutdown; "" = not kept
    learning_rate: float = LEARNING_RATE  # SGD step
    residual: float = RESIDUAL  # the shipped score's weight inside the model
    window: int = 512  # recent rows the blend weight is chosen on
    min_rows: int = 100  # rows in the window before the online model may get any weight
    margin_z: float = MARGIN_Z  # standard errors by which a blend must beat the shipped ranker to get weight
    n_features: int = 2**18  # hashed n-gram features
    max_queue: int = 10_000  # finished rows waiting for the learner (more are dropped and counted)

    @classmethod
    def of(cls, cfg: PluginConfig) -> OnlineSettings:
        """The plugin block's ``online_*`` keys."""
        return cls(state=cfg.online_state, learning_rate=cfg.online_learning_rate, residual=cfg.online_residual,
                   window=cfg.online_window,
                   min_rows=cfg.online_min_rows, margin_z=cfg.online_margin, n_features=cfg.online_n_features)


class OnlineLearner(RowWorker):
    """The learner thread, the window and the published ``Blend``."""

    def __init__(self, settings: OnlineSettings, tokenizer_factory: Callable[[], Any]) -> None:
        super().__init__("ltrsched-online", settings.max_queue)
        self.settings = settings
        self.model = OnlineLinear(OnlineConfig(n_features=settings.n_features, learning_rate=settings.learning_rate,
                                               residual=settings.residual))
        self.blend = Blend()  # what scoring reads; replaced whole, never mutated
        self.window: deque[tuple[float, float, int, bool]] = deque(maxlen=settings.window)  # shipped, online, n, cut
        self.num_failed = 0  # batches the learner could not learn from (logged)
        self.num_updates = 0  # blends published
        self.learn_s = 0.0  # CPU seconds the learner thread spent learning (what it takes from the engine)
        if settings.state:
            self._load(settings.state)
        self._tokenizer_factory = tokenizer_factory
        self._shipped: dict[int, tuple[float, int]] = {}  # hash of the prompt text -> (shipped score, requests)
        self._lock = threading.Lock()  # guards _shipped (the ranker thread writes, the learner reads)
        self._next_save = time.monotonic() + SAVE_EVERY_S  # monotonic s of the next periodic save
        self._thread.start()

    def wrap(self, ranker: Any) -> BlendedRanker:
        """The shipped ranker, blended with the online model (what the arrival scorer calls)."""
        return BlendedRanker(ranker, self)

    def remember(self, texts: Sequence[str], shipped: np.ndarray) -> None:
        """Keep the shipped scores until the requests finish (the window pairs them with their lengths)."""
        with self._lock:
            for text, value in zip(texts, shipped, strict=True):
                key = hash(text)  # the same prompt twice: the same score, kept until both have finished
                self._shipped[key] = (float(value), self._shipped.get(key, (0.0, 0))[1] + 1)
            for _ in range(len(self._shipped) - MAX_REMEMBERED):
                del self._shipped[next(iter(self._shipped))]

    def _take_shipped(self, key: int) -> float | None:
        """The shipped score of a finished request's prompt (held under the lock), forgotten with its last one."""
        if key not in self._shipped:
            return None
        value, count = self._shipped[key]
        if count > 1:
            self._shipped[key] = (value, count - 1)
        else:
            del self._shipped[key]
        return value

    def _run(self) -> None:
        tokenizer = None
        while (row := self._queue.get()) is not None:
            rows, stop = self._batch(row)
            t0 = time.thread_time()
            try:
                tokenizer = tokenizer or self._tokenizer_factory()
                self._learn(rows, tokenizer)
                if self.settings.state and time.monotonic() >= self._next_save:
                    self.save(self.settings.state)
            except Exception as exc:  # a bad batch must not stop learning (or the engine)
                self.num_failed += 1
                logger.warning("ltrsched: online ranker: cannot learn from %d rows: %s", len(rows), exc)
            self.learn_s += time.thread_time() - t0
            if stop:
                return

    def _batch(self, first: ServedRow) -> tuple[list[ServedRow], bool]:
        """``first`` and what else arrives within BATCH_WAIT_S (at most BATCH rows); True when told to stop."""
        rows, deadline = [first], time.monotonic() + BATCH_WAIT_S
        while len(rows) < BATCH:
            try:
                nxt = self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                return rows, False
            if nxt is None:
                return rows, True
            rows.append(nxt)
        return rows, False

    def _learn(self, rows: list[ServedRow], tokenizer: Any) -> None:
        texts = [str(tokenizer.decode(r.prompt_token_ids, skip_special_tokens=False)) for r in rows]
        lens = [r.num_output_tokens for r in rows]
        cut = [is_censored(r.finish_reason) for r in rows]
        with self._lock:
            shipped = [self._take_shipped(hash(t)) for t in texts]
        # One assignment publishes the new Blend: a scorer sees the old one or the new one, never half.
        self.blend = learn_and_blend(self.model, self.window, texts, lens, cut, shipped, self.settings.min_rows,
                                     PAIR_RATIO, self.settings.margin_z)
        self.num_updates += 1

    def close(self, timeout_s: float = 10.0) -> None:
        """Learn what is queued (up to ``timeout_s``), stop the thread and save the state."""
        self.stop(timeout_s)
        if self.settings.state:
            self.save(self.settings.state)

    def save(self, path: str) -> None:
        """Write the weights, the blend and the window (the learner thread, or shutdown after it stopped)."""
        self._next_save = time.monotonic() + SAVE_EVERY_S
        save_state(path, self.model, to_header(self.blend, self.window))
        logger.info("ltrsched: online ranker saved to %s (%d rows learned, weight %.2f)", path,
                    self.model.num_rows, self.blend.weight)

    def _load(self, path: str) -> None:
        if not Path(path).expanduser().is_file():
            return
        self.blend, window = from_header(load_state(path, self.model), self.model)
        self.window.extend(window)
        logger.info("ltrsched: online ranker loaded from %s (%d rows learned, weight %.2f)", path,
                    self.model.num_rows, self.blend.weight)


def online_stats(learner: OnlineLearner | None) -> dict[str, float]:
    """The learner's counters for ``ltrsched_stats`` (zeros when online learning is off)."""
    if learner is None:
        return {"num_online_rows": 0, "num_online_dropped": 0, "num_online_updates": 0, "online_weight": 0.0,
                "online_learn_s": 0.0}
    return {"num_online_rows": learner.model.num_rows, "num_online_dropped": learner.num_dropped,
            "num_online_updates": learner.num_updates, "online_weight": learner.blend.weight,
            "online_learn_s": learner.learn_s}


class BlendedRanker:
    """The shipped ranker's scores, remembered for the window, blended with the online model's."""

    def __init__(self, inner: Any, learner: OnlineLearner) -> None:
        self.inner = inner
        self.learner = learner
        self.name = f"{getattr(inner, 'name', 'ranker')}+online"

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        blend = self.learner.blend  # one read: the whole batch is scored by one version
        shipped = np.asarray(self.inner.score(prompts), dtype=np.float64)
        self.learner.remember([str(p) for p in prompts], shipped)
        return blend.combine(shipped, prompts)
