"""Load generator for an OpenAI-compatible endpoint: streamed chat completions, each chunk stamped on arrival.

Requests go out at their planned arrival times (open loop: a slow server does not slow the arrivals). Replayed
lengths use vLLM's ``ignore_eos`` with ``max_tokens`` = the recorded length (natural ones the request's own
sampling, ``workload.sampling_fields``); the token count comes from the final ``usage`` chunk, the timestamps
from the content chunks.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from ltrsched.bench.runs import PolicyRun, RequestTracker, RunResult, client_priorities, sampling_extra_args
from ltrsched.bench.workload import BenchRequest, sampling_fields


def chat_payload(model: str, req: BenchRequest, run: PolicyRun, priority: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": req.messages,
        **sampling_fields(req),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if priority is not None:
        body["priority"] = priority
    extra = sampling_extra_args(run, req)
    if extra:
        body["vllm_xargs"] = extra
    return body


def parse_sse_line(line: bytes) -> dict[str, Any] | None:
    """One ``data: {...}`` line -> the JSON object; None for keep-alives, blanks and ``[DONE]``."""
    text = line.decode("utf-8", errors="replace").strip()
    if not text.startswith("data:"):
        return None
    data = text[5:].strip()
    if not data or data == "[DONE]":
        return None
    obj: dict[str, Any] = json.loads(data)
    return obj


def chunk_has_content(obj: dict[str, Any]) -> bool:
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content"):
            return True
    return False


async def _one(session: Any, url: str, model: str, req: BenchRequest, run: PolicyRun, t0: float,
               tracker: RequestTracker, timeout_s: float, priority: int | None) -> str | None:
    """Send one request at its arrival time; returns an error text or None."""
    import aiohttp

    delay = req.arrival_s - (time.perf_counter() - t0)
    if delay > 0:
        await asyncio.sleep(delay)
    usage: dict[str, Any] = {}
    try:
        async with session.post(url + "/v1/chat/completions", json=chat_payload(model, req, run, priority),
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            if resp.status != 200:
                return f"{req.request_id}: HTTP {resp.status}: {(await resp.text())[:300]}"
            async for line in resp.content:
                obj = parse_sse_line(line)
                if obj is None:
                    continue
                t = time.perf_counter() - t0
                if chunk_has_content(obj):
                    tracker.on_tokens(req.request_id, t, 1)
                if obj.get("usage"):
                    usage = obj["usage"]
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return f"{req.request_id}: {type(exc).__name__}: {exc}"
    # Chunks can carry several tokens (detokenizer hold-back); the usage count is the truth.
    if usage:
        tracker.set_totals(req.request_id, int(usage.get("completion_tokens", 0)), int(usage.get("prompt_tokens", 0)))
    tracker.finish(req.request_id)
    return None


async def _run_all(url: str, model: str, requests: list[BenchRequest], run: PolicyRun, tracker: RequestTracker,
                   timeout_s: float) -> tuple[float, list[str]]:
    import aiohttp

    prio = client_priorities(run, requests)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        jobs = [_one(session, url, model, r, run, t0, tracker, timeout_s, prio.get(r.request_id)) for r in requests]
        errors = await asyncio.gather(*jobs)
        return time.perf_counter() - t0, [e for e in errors if e]


def run_openai(url: str, model: str, requests: list[BenchRequest], run: PolicyRun, progress: bool = True,
               timeout_s: float = 3600.0) -> RunResult:
    """Replay ``requests`` against ``url`` (no trailing /v1); the server's scheduler must already be ``run``'s."""
    tracker = RequestTracker(requests, progress=progress, label=run.name)
    wall_s, errors = asyncio.run(_run_all(url.rstrip("/"), model, requests, run, tracker, timeout_s))
    tracker.close()
    for err in errors[:5]:
        print(f"warning: {err}", file=sys.stderr)
    return RunResult(name=run.name, records=tracker.records(), wall_s=wall_s, num_failed=len(errors))
