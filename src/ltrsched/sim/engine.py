"""The engine: each step is schedule (policy order, token budget, KV blocks) -> cost -> postprocess, as in vLLM V1.

A request's ``num_computed_tokens`` catches up to ``num_tokens`` (prompt + outputs) under a per-step token budget;
that one rule covers chunked prefill, decode and recompute after preemption. The order is the policy's, through
``RankedRequests`` driven exactly as its module docstring says; nothing here ranks requests on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ltrsched.errors import UserError
from ltrsched.metrics import RequestRecord
from ltrsched.policies import RankedRequests, pick_victim
from ltrsched.request import Request, Status
from ltrsched.sim.blocks import BlockPool, blocks_for
from ltrsched.sim.cost import CostModel
from ltrsched.steplog import StepRecord

PREEMPTION_MODES = ("swap", "recompute")


@dataclass(slots=True)
class EngineConfig:
    max_num_seqs: int = 256  # most requests in a batch (vLLM's max_num_seqs)
    max_num_batched_tokens: int = 768  # token budget per step, chunked prefill included (768 in the paper's runs)
    block_size: int = 16  # tokens per KV block
    num_gpu_blocks: int = 0  # KV blocks in the cache; 0 = the cost preset's capacity / block size
    preemption: str = "swap"  # swap (the paper's engine: KV to host and back, with its cost) or recompute (vLLM V1)

    def __post_init__(self) -> None:
        if self.preemption not in PREEMPTION_MODES:
            raise UserError(f"unknown preemption mode {self.preemption!r}; use one of {', '.join(PREEMPTION_MODES)}")
        if self.max_num_seqs <= 0 or self.max_num_batched_tokens <= 0 or self.block_size <= 0:
            raise UserError("max_num_seqs, max_num_batched_tokens and block_size must be positive")


@dataclass(slots=True)
class _Track:
    """Per-request timing the records need."""

    first_token_time: float = -1.0  # s; < 0 until the first output token
    last_token_time: float = 0.0  # s of the latest output token
    max_itl_s: float = 0.0  # s, longest gap between consecutive output tokens


@dataclass(slots=True)
class SimResult:
    records: list[RequestRecord]  # finished requests, in finish order
    num_unfinished: int  # requests still queued or running when the run stopped
    num_steps: int  # engine steps run
    sim_time_s: float  # simulated s at the end
    wall_s: float  # host s the simulation took
    num_promotions: int  # starvation promotions
    num_preemptions: int  # preemptions (all requests)


class Engine:
    def __init__(self, ranked: RankedRequests, cost: CostModel, config: EngineConfig) -> None:
        self.ranked = ranked
        self.cost = cost
        self.config = config
        num_blocks = config.num_gpu_blocks or cost.kv_capacity_tokens // config.block_size
        if num_blocks <= 0:
            raise UserError(f"no KV capacity: set num_gpu_blocks or use a cost preset with kv_capacity_tokens "
                            f"(cost {cost.name!r} has {cost.kv_capacity_tokens})")
        self.pool = BlockPool(num_blocks, config.block_size)
        self.now = 0.0  # simulated s
        self.step_index = 0
        self.num_preemptions = 0
        self._tracks: dict[str, _Track] = {}
        self._swapped: set[str] = set()  # preempted by swap: KV on the host, num_computed_tokens kept
        self._swap_tokens = 0  # KV tokens moved this step
        self.on_step: Callable[[Engine, StepRecord, dict[str, int]], None] | None = None  # test/trace hook

    # -- one step -----------------------------------------------------------------------------------
    def _preempt(self, req: Request) -> None:
        self.ranked.preempt(req)
        self.pool.free(req.request_id)
        if self.config.preemption == "swap":
            self._swapped.add(req.request_id)
            self._swap_tokens += req.num_computed_tokens
        else:
            req.num_computed_tokens = 0
        req.status = Status.PREEMPTED
        req.num_preemptions += 1
        self.num_preemptions += 1

    def schedule(self) -> tuple[dict[str, int], int]:
        """Tokens per request for this step (best first) and the number of preemptions it took."""
        ranked, pool, cfg = self.ranked, self.pool, self.config
        ranked.begin_step()
        before = self.num_preemptions
        for displaced in ranked.victims(cfg.max_num_seqs):
            self._preempt(displaced)
        budget = cfg.max_num_batched_tokens
        scheduled: dict[str, int] = {}
        running = ranked.running()
        end = len(running)
        idx = 0
        while idx < end and budget > 0:
            req = running[idx]
            rid = req.request_id
            n = min(req.num_tokens - req.num_computed_tokens, budget)
            need = req.num_computed_tokens + n
            while not pool.can_allocate(rid, need):  # KV pressure: evict the lowest-ranked running request
                victim = pick_victim(running[:end])
                assert victim is not None
                end -= 1
                self._preempt(victim)
                if victim is req:
                    break
            if req.status is Status.PREEMPTED:
                break
            pool.allocate(rid, need)
            scheduled[rid] = n
            budget -= n
            idx += 1
        # Admit waiting requests best first; as vLLM V1, none in a step that had to preempt for KV.
        if self.num_preemptions == before or not running:
            self._admit(scheduled, budget)
        return scheduled, self.num_preemptions - before

    def _admit(self, scheduled: dict[str, int], budget: int) -> None:
        ranked, pool = self.ranked, self.pool
        while budget > 0 and ranked.num_running < self.config.max_num_seqs:
            req = ranked.peek_waiting()
            if req is None:
                break
            rid = req.request_id
            n = min(req.num_tokens - req.num_computed_tokens, budget)
            if not pool.can_allocate(rid, req.num_computed_tokens + n):
                break
            ranked.pop_waiting()
            ranked.start_running(req)
            if rid in self._swapped:
                self._swapped.discard(rid)
                self._swap_tokens += req.num_computed_tokens
            pool.allocate(rid, req.num_computed_tokens + n)
            req.status = Status.RUNNING
            scheduled[rid] = n
            budget -= n

    def step(self, requests: dict[str, Request], finished: list[RequestRecord]) -> StepRecord:
        start = self.now
        self._swap_tokens = 0
        scheduled, num_preempted = self.schedule()
        prefill = decode = kv = 0
        for rid, n in scheduled.items():
            req = requests[rid]
            kv += req.num_computed_tokens
            if n == 1 and req.num_output_tokens > 0 and req.num_tokens - req.num_computed_tokens == 1:
                decode += 1
            else:
                prefill += n
        dt = self.cost.step_time(prefill, decode, kv) + self.cost.swap_s_per_token * self._swap_tokens
        self.now = end = start + dt
        done: list[Request] = []
        tracks = self._tracks
        for rid, n in scheduled.items():
            req = requests[rid]
            req.num_computed_tokens += n
            if req.num_computed_tokens == req.num_tokens:  # caught up: this step sampled a new token
                req.num_output_tokens += 1
                tr = tracks[rid]
                if tr.first_token_time < 0:
                    tr.first_token_time = end
                elif end - tr.last_token_time > tr.max_itl_s:
                    tr.max_itl_s = end - tr.last_token_time
                tr.last_token_time = end
                if req.num_output_tokens >= req.max_tokens:
                    done.append(req)
        stats = StepRecord(step=self.step_index, start_s=start, duration_s=dt, num_prefill_tokens=prefill,
                           num_decode_tokens=decode, num_scheduled_seqs=len(scheduled), num_kv_tokens=kv,
                           num_running=self.ranked.num_running, num_waiting=self.ranked.num_waiting,
                           num_preempted=num_preempted, num_swap_tokens=self._swap_tokens)
        self.ranked.end_step(scheduled, dt)
        for req in done:
            self.ranked.finish(req)
            self.pool.free(req.request_id)
            req.status = Status.FINISHED
            tr = tracks.pop(req.request_id)
            finished.append(RequestRecord(req.request_id, req.arrival_time, tr.first_token_time, end,
                                          req.num_prompt_tokens, req.num_output_tokens, tr.max_itl_s,
                                          req.num_preemptions))
        if self.on_step is not None:
            self.on_step(self, stats, scheduled)
        self.step_index += 1
        return stats

    # -- a whole run --------------------------------------------------------------------------------
    def check_fits(self, requests: Sequence[Request]) -> None:
        """Refuse a request that could never run: its prompt plus output exceed the whole KV cache."""
        cap = self.pool.num_blocks
        for req in requests:
            total = req.num_prompt_tokens + req.max_tokens
            if blocks_for(total, self.pool.block_size) > cap:
                raise UserError(
                    f"request {req.request_id!r} needs {total} tokens of KV (prompt {req.num_prompt_tokens} + "
                    f"output {req.max_tokens}) but the whole KV cache holds {self.pool.capacity_tokens}; raise "
                    f"--num-gpu-blocks or filter such requests out (--max-total-len)")
            if req.max_tokens <= 0 or req.num_prompt_tokens <= 0:
                raise UserError(f"request {req.request_id!r} has prompt {req.num_prompt_tokens} and output "
                                f"{req.max_tokens} tokens; both must be at least 1")

    def run(self, requests: Sequence[Request], stop_after_finished: int = 0, time_limit_s: float = 0.0,
            progress: Callable[[int], None] | None = None) -> SimResult:
        """Simulate until every request finishes or every given stop holds (``stop_after_finished`` requests
        finished, ``time_limit_s`` simulated s passed); records are every request finished by then."""
        self.check_fits(requests)
        self.ranked.policy.prepare(requests)
        order = sorted(requests, key=lambda r: r.arrival_time)
        by_id = {r.request_id: r for r in order}
        if len(by_id) != len(order):
            raise UserError("request ids must be unique")
        finished: list[RequestRecord] = []
        t0 = time.perf_counter()
        i, n = 0, len(order)
        ranked = self.ranked
        while True:
            while i < n and order[i].arrival_time <= self.now:
                req = order[i]
                self._tracks[req.request_id] = _Track()
                ranked.add(req)
                i += 1
            if ranked.num_running == 0 and ranked.num_waiting == 0:
                if i >= n:
                    break
                self.now = order[i].arrival_time
                continue
            before = len(finished)
            stats = self.step(by_id, finished)
            if stats.num_scheduled_seqs == 0:
                raise RuntimeError(f"step {stats.step} scheduled nothing with {ranked.num_waiting} waiting and "
                                   f"{ranked.num_running} running: the KV cache is too small for the batch")
            if progress is not None and len(finished) > before:
                progress(len(finished) - before)
            if (stop_after_finished or time_limit_s) and len(finished) >= stop_after_finished \
                    and self.now >= time_limit_s:
                break
        return SimResult(finished, n - len(finished), self.step_index, self.now, time.perf_counter() - t0,
                         ranked.num_promotions, self.num_preemptions)
