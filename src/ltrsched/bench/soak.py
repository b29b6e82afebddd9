"""``ltrsched bench soak``: thousands of requests through ``ltrsched serve`` with clients that walk away mid-stream.

Many concurrent streamed chat requests with random lengths and priorities; a share of them is abandoned at a
random moment (the client closes the connection, so vLLM aborts the request wherever it is: waiting, running or
preempted). Meanwhile ``/health`` is polled every second and the server's memory (all its processes) every few
seconds. At the end every request must have completed or been abandoned exactly once, the plugin must hold no
request (``ltrsched_tracked_requests`` on ``/metrics`` is 0) and memory must be flat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ltrsched.bench.client import parse_sse_line
from ltrsched.vllm.server import EngineConfig, ServeConfig, Server, group_members

WORDS = ("schedule", "request", "queue", "token", "engine", "batch", "latency", "answer", "short", "long",
         "explain", "write", "poem", "code", "list", "why", "how", "the", "a", "of")


@dataclass(slots=True)
class SoakConfig(EngineConfig):
    model: str = "tiny"  # 'tiny' (a random 2-layer Llama: fast, its text is noise), 'smollm2' or a model folder
    max_model_len: int = 512  # prompt + output tokens per request
    num_requests: int = 2000  # requests sent in all
    concurrency: int = 64  # requests in flight at once
    abort_share: float = 0.1  # share of requests the client abandons at a random moment
    abort_within_s: float = 3.0  # an abandoned request is dropped uniformly within this long after it is sent
    max_tokens: int = 48  # output cap; each request asks for 1..max_tokens (ignore_eos)
    policy: str = "ltr"  # plugin policy spec
    ltrsched_config: str = "{}"  # more plugin keys, as JSON (e.g. a ranker folder)
    port: int = 8021  # port of the server it starts
    time_limit_s: float = 1200.0  # the run stops sending after this long
    seed: int = 0  # seed of the request mix
    out: str = "runs/soak/soak.json"  # JSON report
    progress: bool = True  # a progress bar


@dataclass(slots=True)
class _Plan:
    request_id: str  # client-side id (sent as the request's user field)
    prompt: str  # user message
    max_tokens: int  # output tokens asked for
    priority: int  # vLLM priority (lower first)
    abort_after_s: float | None  # abandon the stream after this long; None = read to the end


def plan_requests(cfg: SoakConfig) -> list[_Plan]:
    rng = random.Random(cfg.seed)
    return [_Plan(f"soak-{i}", " ".join(rng.choices(WORDS, k=rng.randint(3, 120))), rng.randint(1, cfg.max_tokens),
                  rng.randint(-2, 2), rng.uniform(0.0, cfg.abort_within_s) if rng.random() < cfg.abort_share else None)
            for i in range(cfg.num_requests)]


class Outcomes:
    """How each request ended; a second ending for the same request is counted as a duplicate."""

    def __init__(self) -> None:
        self.ended: dict[str, str] = {}  # request_id -> "completed" | "aborted" | "failed: ..."
        self.num_duplicates = 0

    def end(self, request_id: str, how: str) -> None:
        if request_id in self.ended:
            self.num_duplicates += 1
        self.ended[request_id] = how

    def count(self, prefix: str) -> int:
        return sum(1 for how in self.ended.values() if how.startswith(prefix))


async def _stream(session: Any, url: str, model: str, plan: _Plan) -> str:
    """Read one streamed completion to its end; returns how it ended."""
    body = {"model": model, "messages": [{"role": "user", "content": plan.prompt}], "max_tokens": plan.max_tokens,
            "ignore_eos": True, "temperature": 0.0, "stream": True, "stream_options": {"include_usage": True},
            "priority": plan.priority, "user": plan.request_id}
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        if resp.status != 200:
            return f"failed: HTTP {resp.status}: {(await resp.text())[:200]}"
        usage = None
        async for line in resp.content:
            obj = parse_sse_line(line)
            if obj and obj.get("usage"):
                usage = obj["usage"]
        if usage is None or usage.get("completion_tokens") != plan.max_tokens:
            return f"failed: stream ended with usage {usage}"
        return "completed"


async def _one(session: Any, url: str, model: str, plan: _Plan, gate: asyncio.Semaphore, outcomes: Outcomes,
               bar: Any) -> None:
    async with gate:
        task = asyncio.ensure_future(_stream(session, url, model, plan))
        done, _ = await asyncio.wait({task}, timeout=plan.abort_after_s)
        if not done:
            task.cancel()  # the connection closes: the server aborts the request
            with contextlib.suppress(asyncio.CancelledError):
                await task
            outcomes.end(plan.request_id, "aborted")
        else:
            try:
                outcomes.end(plan.request_id, task.result())
            except Exception as exc:  # a dropped connection or a protocol error: a failure, never silent
                outcomes.end(plan.request_id, f"failed: {type(exc).__name__}: {exc}")
        if bar is not None:
            bar.update(1)


@dataclass(slots=True)
class Watch:
    """What the monitor saw while the load ran."""

    num_health_ok: int = 0  # /health answered 200
    health_failures: list[str] = field(default_factory=list)  # times (s) and errors of the others
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (s since start, MB of all server processes)
    scrape_s: list[float] = field(default_factory=list)  # s each /metrics scrape took (one every 5 s)


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in the process group (the API server, the engine core, workers)."""
    total_kb = 0
    for folder, _ in group_members(pgid):
        try:
            status = (folder / "status").read_text()
        except OSError:
            continue  # exited meanwhile
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total_kb / 1024


async def _watch(session: Any, url: str, pgid: int, watch: Watch, stop: asyncio.Event, t0: float) -> None:
    import aiohttp

    tick = 0
    while not stop.is_set():
        try:
            async with session.get(url + "/health", timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status == 200:
                    watch.num_health_ok += 1
                else:
                    watch.health_failures.append(f"{time.perf_counter() - t0:.0f} s: HTTP {resp.status}")
        except Exception as exc:
            watch.health_failures.append(f"{time.perf_counter() - t0:.0f} s: {type(exc).__name__}")
        if tick % 5 == 0:
            watch.rss_mb.append((time.perf_counter() - t0, group_rss_mb(pgid)))
            await _scrape(session, url, watch)
        tick += 1
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _scrape(session: Any, url: str, watch: Watch) -> None:
    """One Prometheus scrape of /metrics, timed (what a monitoring system costs the server)."""
    t = time.perf_counter()
    try:
        async with session.get(url + "/metrics") as resp:
            await resp.read()
        watch.scrape_s.append(time.perf_counter() - t)
    except Exception as exc:
        watch.health_failures.append(f"/metrics: {type(exc).__name__}")


async def _drive(cfg: SoakConfig, url: str, model: str, pgid: int) -> tuple[Outcomes, Watch, float]:
    import aiohttp

    plans = plan_requests(cfg)
    outcomes, watch, stop = Outcomes(), Watch(), asyncio.Event()
    gate = asyncio.Semaphore(cfg.concurrency)
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plans), desc="soak", unit="req", file=sys.stderr)
    t0 = time.perf_counter()
    limits = aiohttp.TCPConnector(limit=cfg.concurrency + 4)
    timeout = aiohttp.ClientTimeout(total=cfg.time_limit_s)
    async with aiohttp.ClientSession(connector=limits, timeout=timeout) as session:
        monitor = asyncio.ensure_future(_watch(session, url, pgid, watch, stop, t0))
        await asyncio.gather(*(_one(session, url, model, p, gate, outcomes, bar) for p in plans))
        await asyncio.sleep(6.0)  # one metrics period: the plugin publishes its final counts
        stop.set()
        await monitor
    if bar is not None:
        bar.close()
    return outcomes, watch, time.perf_counter() - t0


def read_metrics(url: str) -> dict[str, float]:
    """The ltrsched_* samples and vLLM's running/waiting gauges from ``/metrics``."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("ltrsched_", "vllm:num_requests_running", "vllm:num_requests_waiting")):
            name, _, value = line.rpartition(" ")
            out[name.split("{")[0]] = out.get(name.split("{")[0], 0.0) + float(value)
    return out


def rss_growth(samples: list[tuple[float, float]]) -> float:
    """Relative growth of memory from the run's first fifth (after warm-up) to its last fifth, medians."""
    values = [mb for _, mb in samples]
    if len(values) < 10:
        return float("nan")
    fifth = len(values) // 5
    start, end = statistics.median(values[fifth:2 * fifth]), statistics.median(values[-fifth:])
    return end / start - 1.0


def run_soak(cfg: SoakConfig) -> dict[str, Any]:
    engine = {k: v for k, v in asdict(cfg).items() if k in EngineConfig.__dataclass_fields__}
    extra = {"log_interval_s": 15.0, **json.loads(cfg.ltrsched_config or "{}")}
    server = Server(ServeConfig(**engine, port=cfg.port, policy=cfg.policy, ltrsched_config=json.dumps(extra)))
    with server:
        assert server.proc is not None
        outcomes, watch, wall_s = asyncio.run(_drive(cfg, server.url, server.model_name, server.proc.pid))
        metrics = read_metrics(server.url)
    report = {"config": asdict(cfg), "wall_s": wall_s, "num_requests": cfg.num_requests,
              "num_ended": len(outcomes.ended), "num_completed": outcomes.count("completed"),
              "num_aborted": outcomes.count("aborted"), "num_failed": outcomes.count("failed"),
              "num_duplicates": outcomes.num_duplicates,
              "failures": [how for how in outcomes.ended.values() if how.startswith("failed")][:20],
              "num_health_ok": watch.num_health_ok, "health_failures": watch.health_failures,
              "rss_mb": watch.rss_mb, "rss_growth": rss_growth(watch.rss_mb), "metrics": metrics,
              "num_scrapes": len(watch.scrape_s), "scrape_s_total": sum(watch.scrape_s),
              "scrape_ms_mean": 1e3 * statistics.fmean(watch.scrape_s) if watch.scrape_s else float("nan"),
              "server_log": str(server.log_path)}
    Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.out).write_text(json.dumps(report, indent=1))
    return report


def format_report(r: dict[str, Any]) -> str:
    m = r["metrics"]
    rss = r["rss_mb"]
    return "\n".join([
        f"soak: {r['num_requests']} requests in {r['wall_s']:.0f} s, {r['config']['concurrency']} in flight, "
        f"policy {r['config']['policy']}, model {r['config']['model']}",
        f"  ended {r['num_ended']}: {r['num_completed']} completed, {r['num_aborted']} abandoned by the client, "
        f"{r['num_failed']} failed, {r['num_duplicates']} ended twice",
        f"  /health: {r['num_health_ok']} ok, {len(r['health_failures'])} failed; /metrics scraped "
        f"{r['num_scrapes']} times, {r['scrape_ms_mean']:.1f} ms each "
        f"({100 * r['scrape_s_total'] / max(r['wall_s'], 1e-9):.2f}% of the run's time)",
        f"  server memory: {rss[0][1] if rss else 0:.0f} MB at start, {rss[-1][1] if rss else 0:.0f} MB at the end, "
        f"growth {100 * r['rss_growth']:+.1f}% (median of the first fifth after warm-up vs the last fifth)",
        f"  plugin at the end: {m.get('ltrsched_tracked_requests', float('nan')):.0f} requests held; "
        f"{m.get('ltrsched_steps_total', 0):.0f} steps, {m.get('ltrsched_preemptions_for_waiting_total', 0):.0f} "
        f"preemptions for waiting, {m.get('ltrsched_client_scores_refused_total', 0):.0f} client scores refused; "
        f"vLLM running {m.get('vllm:num_requests_running', float('nan')):.0f}, "
        f"waiting {m.get('vllm:num_requests_waiting', float('nan')):.0f}"])


def passed(r: dict[str, Any]) -> bool:
    """The soak's targets: nothing lost or doubled, no failure, always healthy, the plugin empty, memory flat."""
    return (r["num_ended"] == r["num_requests"] and r["num_failed"] == 0 and r["num_duplicates"] == 0
            and not r["health_failures"] and r["metrics"].get("ltrsched_tracked_requests") == 0.0
            and not r["rss_growth"] > 0.05)
