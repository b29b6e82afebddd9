"""The served-request log: one JSONL row per finished request, written off the engine's hot path.

The engine sees every request end, so it can collect the served model's own output lengths as labels. The
scheduler hands each finished request to ``ServedLog.put`` (a bounded queue: a full queue drops the row and
counts it, it never blocks ``schedule()``); a writer thread detokenizes the prompt, normalizes it the way the
ranker reads it, and appends the row. Rows are what ``ltrsched train --data`` and ``ltrsched eval --data`` read::

    {"id": "...", "prompt": "<the last user message>", "prompt_tokens": 31, "output_len": 212,
     "finish_reason": "stop", "arrival_s": 1764620000.12, "finish_s": 1764620009.87, "score": 0.41}

``finish_reason`` ``length`` (stopped by max_tokens), ``abort`` and ``error`` only give a lower bound on the
length: such rows are censored labels (``ltrsched.predictor.censor``: training uses them only for the orders they
decide). With ``hashed`` the prompt text is not stored: the row keeps its SHA-256 and the hashed word n-grams
the fast ranker reads (``features``: bucket ids), for deployments that may not keep prompts. The file rotates
past ``max_bytes`` (``path.1`` ... ``path.N``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger("vllm.ltrsched")

FINISH_REASONS = {"FINISHED_STOPPED": "stop", "FINISHED_LENGTH_CAPPED": "length", "FINISHED_ABORTED": "abort",
                  "FINISHED_IGNORED": "length", "FINISHED_ERROR": "error", "FINISHED_REPETITION": "stop"}
HASH_FEATURES = 2**18  # hashed n-gram buckets, as the fast ranker's default


@dataclass(slots=True)
class ServedRow:
    """What the scheduler knows when a request ends (copied cheaply; the writer does the rest)."""

    request_id: str  # vLLM's request id
    prompt_token_ids: list[int]  # the prompt as the engine got it (detokenized by the writer)
    num_output_tokens: int  # tokens generated
    finish_reason: str  # stop, length, abort or error
    arrival_s: float  # s, vLLM's arrival timestamp (wall clock)
    finish_s: float  # s, wall clock when the request was freed
    score: float | None  # the score it was ranked with; None if it ended before it was scored


def finish_reason(status: Any) -> str:
    """vLLM's finished status as the row's word."""
    return FINISH_REASONS.get(getattr(status, "name", str(status)), "error")


class RowWorker:
    """A bounded queue of finished requests feeding one daemon thread (``_run``, reading until None): ``put``
    never blocks, a full queue drops the row and counts it."""

    def __init__(self, name: str, max_queue: int) -> None:
        self.num_dropped = 0  # rows dropped because the queue was full (the engine never waits)
        self._queue: queue.Queue[ServedRow | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def put(self, row: ServedRow) -> None:
        """Hand a row to the thread; drops (and counts) it if the queue is full. Never blocks."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.num_dropped += 1

    def stop(self, timeout_s: float) -> None:
        """Let the thread finish what is queued (up to ``timeout_s``), then end it."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            logger.warning("ltrsched: %s: queue still full at shutdown", self._thread.name)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        raise NotImplementedError


class ServedLog(RowWorker):
    """A bounded queue and a writer thread appending rows to ``path`` (rotated past ``max_bytes``)."""

    def __init__(self, path: str | Path, tokenizer_factory: Callable[[], Any], max_queue: int = 10_000,
                 max_bytes: int = 256 << 20, backups: int = 3, hashed: bool = False) -> None:
        super().__init__("ltrsched-served-log", max_queue)
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes  # rotate when the file grows past this
        self.backups = backups  # rotated files kept (path.1 is the newest)
        self.hashed = hashed  # store a hash and hashed n-grams instead of the prompt text
        self.num_written = 0  # rows written
        self.num_failed = 0  # rows the writer could not write (logged)
        self._tokenizer_factory = tokenizer_factory
        self._thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (up to ``timeout_s``) and stop the writer."""
        self.stop(timeout_s)

    def _run(self) -> None:
        tokenizer = None
        out: IO[str] = self.path.open("a", encoding="utf-8")
        try:
            while (row := self._queue.get()) is not None:
                try:
                    if tokenizer is None:
                        tokenizer = self._tokenizer_factory()
                    out.write(json.dumps(self._record(row, tokenizer), ensure_ascii=False) + "\n")
                    out.flush()
                    self.num_written += 1
                    if out.tell() > self.max_bytes:
                        out = self._rotate(out)
                except Exception as exc:  # a bad row must not kill the writer (or the engine)
                    self.num_failed += 1
                    logger.warning("ltrsched: served log: cannot write request %s: %s", row.request_id, exc)
        finally:
            out.close()

    def _record(self, row: ServedRow, tokenizer: Any) -> dict[str, Any]:
        from ltrsched.predictor.prompts import normalize

        text = normalize(tokenizer.decode(row.prompt_token_ids, skip_special_tokens=False))
        rec: dict[str, Any] = {"id": row.request_id}
        if self.hashed:
            rec["prompt_sha256"] = hashlib.sha256(text.encode()).hexdigest()
            rec["features"] = hashed_features(text)
        else:
            rec["prompt"] = text
        rec |= {"prompt_tokens": len(row.prompt_token_ids), "output_len": row.num_output_tokens,
                "finish_reason": row.finish_reason, "arrival_s": row.arrival_s, "finish_s": row.finish_s,
                "score": row.score}
        return rec

    def _rotate(self, out: IO[str]) -> IO[str]:
        out.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        return self.path.open("a", encoding="utf-8")


def hashed_features(text: str) -> list[int]:
    """Sorted bucket ids of the prompt's word 1-2-grams (the fast ranker's hashing), without the words."""
    from ltrsched.predictor.hashing import hash_rows

    return [int(i) for i in hash_rows([text], HASH_FEATURES, 2).indices]  # distinct and sorted
