"""vLLM V1 schedulers driven by the shared policy core (``ltrsched.policies.RankedRequests``); no policy logic here.

Each ``schedule()``: score new arrivals (one batch) -> starvation promotions -> preempt running requests that a
better waiting one should replace at ``max_num_seqs`` (vLLM issue #40004) -> order ``self.running`` best first
(vLLM's KV-pressure victim is the last one: the lowest-ranked) -> vLLM's ``schedule()`` (token budget, chunked
prefill, KV allocation), whose waiting queue pops in rank order -> the core's step accounting, and the step log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from vllm.v1.core.sched.async_scheduler import AsyncScheduler
from vllm.v1.core.sched.output import SchedulerOutput
from vllm.v1.core.sched.request_queue import SchedulingPolicy
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.request import RequestStatus

from ltrsched.policies import RankedRequests, StarvationConfig
from ltrsched.request import Request, Status
from ltrsched.steplog import StepLogWriter, StepRecord
from ltrsched.vllm.compat import check_members
from ltrsched.vllm.config import PluginConfig, build_policy, parse_config, wants_scores
from ltrsched.vllm.queue import RankedQueue
from ltrsched.vllm.scoring import ArrivalScorer, check_ranker_spec, client_score

logger = logging.getLogger("vllm.ltrsched")

TRUE_LEN_KEY = "ltrsched_true_output_len"  # extra_args key carrying a replayed true length (oracle policies)


class LtrScheduler(Scheduler):
    """vLLM's Scheduler with the ltrsched policy core; built by ``ltrsched.vllm.make_scheduler``."""

    running: list[Any]  # vLLM's running list; the plugin keeps it best first

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        check_members(self)
        cfg = parse_config(self.vllm_config.additional_config)
        self.ltr_config: PluginConfig = cfg
        self.ltr_policy = build_policy(cfg)
        self.ranked = RankedRequests(self.ltr_policy, StarvationConfig(cfg.starvation_threshold, cfg.quantum,
                                                                    cfg.starvation_preempts),
                                     cfg.displace_margin)
        self.ltr_wants_scores = wants_scores(cfg)
        if self.ltr_wants_scores:
            check_ranker_spec(cfg.ranker)
        self.ltr_scorer = ArrivalScorer(cfg.ranker, cfg.score_batch_size, self._load_tokenizer)
        self.waiting: RankedQueue = RankedQueue(self.ranked, self._ltr_flush)
        self.ltr_step_log = StepLogWriter(cfg.step_log) if cfg.step_log else None
        self._ltr_score_sum = 0.0  # sum of ranker scores so far (a failed request gets their mean)
        self._ltr_score_count = 0
        self._ltr_warned_true_len = False
        self.ltr_num_preempted_for_waiting = 0  # evictions at max_num_seqs for better waiting requests
        self.ltr_num_kv_preemptions = 0  # evictions under KV pressure (vLLM's, victims by rank)
        self.ltr_overhead_s = 0.0  # s spent in the plugin's own code, scoring excluded, preemptions included
        self.ltr_preempt_s = 0.0  # s of that inside vLLM's _preempt_request (freeing the victims' KV blocks)
        self._ltr_running_version = -1  # the core's running_version when self.running was last ordered
        self._ltr_ranked_len = 0  # len(self.running) then
        self.ltr_num_steps = 0
        self._ltr_last_start = 0.0
        self._ltr_last_step_s = 0.0
        self._ltr_cap = min(self.max_num_running_reqs, getattr(self, "max_num_active_reqs", self.max_num_running_reqs))
        # The waiting queue is ours, and self.running is kept best first, so vLLM's FCFS rule for a KV-pressure
        # victim (the last running request) is the lowest-ranked one. Its priority rule would need every running
        # request's rank written into ``priority`` each step (0.1-0.2 ms at 256 running) for the same answer.
        # A client's ``priority`` still counts: it leads the policy core's sort key.
        self.policy = SchedulingPolicy.FCFS
        logger.info("ltrsched scheduler: policy=%s starvation=%d/%d preempt_for_waiting=%s scoring=%s",
                    cfg.policy, cfg.starvation_threshold, cfg.quantum, cfg.preempt_for_waiting,
                    self.ltr_wants_scores)

    def _load_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        mc = self.vllm_config.model_config
        return AutoTokenizer.from_pretrained(mc.tokenizer, trust_remote_code=mc.trust_remote_code,
                                             revision=getattr(mc, "tokenizer_revision", None))

    # -- arrivals -----------------------------------------------------------------------------------------
    def _ltr_flush(self) -> None:
        """Score every request that arrived since the last step (one ranker batch) and rank it."""
        queue = self.waiting
        pending = queue.take_pending()
        if not pending:
            return
        if self.ltr_wants_scores:
            scores = self.ltr_scorer.score(pending)
        else:
            scores = [client_score(r.sampling_params.extra_args if r.sampling_params else None) for r in pending]
        for vreq, score in zip(pending, scores, strict=True):
            if score is None:
                score = self._ltr_score_sum / self._ltr_score_count if self._ltr_score_count else 0.0
            else:
                self._ltr_score_sum += score
                self._ltr_score_count += 1
            queue.admit(vreq, self._mirror(vreq, score))

    def _mirror(self, vreq: Any, score: float) -> Request:
        extra = (vreq.sampling_params.extra_args if vreq.sampling_params else None) or {}
        true_len = extra.get(TRUE_LEN_KEY)
        if true_len is None and self.ltr_policy.needs_true_length:
            true_len = vreq.max_tokens
            if not self._ltr_warned_true_len:
                logger.warning("ltrsched: policy %s needs each request's true length (vllm_xargs %s); using "
                               "max_tokens where it is missing", self.ltr_config.policy, TRUE_LEN_KEY)
                self._ltr_warned_true_len = True
        return Request(request_id=vreq.request_id, arrival_time=vreq.arrival_time,
                       num_prompt_tokens=vreq.num_prompt_tokens, max_tokens=vreq.max_tokens, score=score,
                       priority=vreq.priority, true_output_len=int(true_len) if true_len is not None else None,
                       num_output_tokens=vreq.num_output_tokens, status=Status.WAITING)

    # -- per step -----------------------------------------------------------------------------------------
    def _ltr_sync_finished(self) -> None:
        """Forget requests vLLM finished since the last step (it removes them from ``running`` itself)."""
        queue = self.waiting
        for rid in self.finished_req_ids:
            queue.forget(rid)
        if self.ranked.num_running != len(self.running):  # e.g. finished_req_ids not kept in this setup
            live = {r.request_id for r in self.running}
            for mirror in self.ranked.running():
                if mirror.request_id not in live and queue.vllm_request(mirror.request_id).is_finished():
                    queue.forget(mirror.request_id)

    def _ltr_before(self, now: float) -> int:
        """Everything up to vLLM's own schedule(); returns the number of requests preempted for waiting ones."""
        self._ltr_flush_timed()
        t0 = time.perf_counter()
        self._ltr_sync_finished()
        self.ranked.begin_step()
        queue = self.waiting
        num_preempted = 0
        if self.ltr_config.preempt_for_waiting:
            for mirror in self.ranked.victims(self._ltr_cap):
                vreq = queue.vllm_request(mirror.request_id)
                if vreq.status != RequestStatus.RUNNING or vreq not in self.running:
                    continue
                self.running.remove(vreq)
                t_pre = time.perf_counter()
                self._preempt_request(vreq, now)  # prepends it to self.waiting: the core re-queues it
                self.ltr_preempt_s += time.perf_counter() - t_pre
                num_preempted += 1
        if self.ranked.running_version == self._ltr_running_version and len(self.running) == self._ltr_ranked_len:
            # Nothing joined, left or moved since the last step (vLLM changes self.running only through
            # calls that reach the core), so self.running is still the list ordered below.
            self.ltr_overhead_s += time.perf_counter() - t0
            return num_preempted
        entries = queue.entries
        order = [entries[m.request_id][0] for m in self.ranked.running()]
        if len(order) != len(self.running):  # a request the core does not know: keep it, last
            known = {r.request_id for r in order}
            order += [r for r in self.running if r.request_id not in known]
        self._ltr_ranked_len = len(order)
        self.running = order
        self._ltr_running_version = self.ranked.running_version
        self.ltr_overhead_s += time.perf_counter() - t0
        return num_preempted

    def _ltr_flush_timed(self) -> None:
        self._ltr_flush()

    def _ltr_after(self, out: SchedulerOutput, start: float, num_preempted: int) -> None:
        t0 = time.perf_counter()
        queue = self.waiting
        scheduled: Mapping[str, int] = out.num_scheduled_tokens
        if self.ltr_policy.dynamic_rank:  # only these ranks read progress; the loop costs ~0.1 ms at 256 running
            entries = queue.entries
            for rid in scheduled:
                entry = entries.get(rid)
                if entry is not None:
                    vreq, mirror = entry
                    mirror.num_output_tokens = vreq.num_output_tokens
                    mirror.num_computed_tokens = vreq.num_computed_tokens
        self.ranked.end_step(scheduled, self._ltr_last_step_s)
        num_kv_preempted = max(len(out.preempted_req_ids or ()) - num_preempted, 0)
        self.ltr_num_preempted_for_waiting += num_preempted
        self.ltr_num_kv_preemptions += num_kv_preempted
        if self.ltr_step_log is not None:
            self._ltr_log_step(out, start, num_preempted + num_kv_preempted)
        self.ltr_num_steps += 1
        self.ltr_overhead_s += time.perf_counter() - t0

    def _ltr_log_step(self, out: SchedulerOutput, start: float, num_preempted: int) -> None:
        prefill = decode = kv = 0
        for rid, n in out.num_scheduled_tokens.items():
            vreq = self.requests[rid]
            before = vreq.num_computed_tokens - n  # vLLM advanced it inside schedule()
            kv += max(before, 0)
            if n == 1 and before >= vreq.num_prompt_tokens:
                decode += 1
            else:
                prefill += n
        assert self.ltr_step_log is not None
        self.ltr_step_log.add(StepRecord(
            step=self.ltr_num_steps, start_s=start, duration_s=0.0, num_prefill_tokens=prefill,
            num_decode_tokens=decode, num_scheduled_seqs=len(out.num_scheduled_tokens), num_kv_tokens=kv,
            num_running=len(self.running), num_waiting=len(self.waiting), num_preempted=num_preempted))

    def schedule(self, throttle_prefills: bool = False) -> SchedulerOutput:
        start = time.monotonic()
        if self.ltr_num_steps:
            self._ltr_last_step_s = start - self._ltr_last_start
        self._ltr_last_start = start
        num_preempted = self._ltr_before(start)
        out = super().schedule(throttle_prefills)
        self._ltr_after(out, start, num_preempted)
        return out

    def update_from_output(self, scheduler_output: Any, model_runner_output: Any) -> Any:
        result = super().update_from_output(scheduler_output, model_runner_output)
        if self.ltr_step_log is not None:
            self.ltr_step_log.mark_busy_end(time.monotonic())
        return result

    # -- reporting ----------------------------------------------------------------------------------------
    def ltrsched_stats(self) -> dict[str, float]:
        """Counters for benchmarks: scoring cost, steps, preemptions, promotions, the plugin's own time."""
        s = self.ltr_scorer.stats
        return {"scoring_s": s.scoring_s, "num_scored": s.num_scored, "num_client_scores": s.num_client_scores,
                "num_score_failures": s.num_failed, "num_score_batches": s.num_batches,
                "num_steps": self.ltr_num_steps, "overhead_s": self.ltr_overhead_s, "preempt_s": self.ltr_preempt_s,
                "num_preempted_for_waiting": self.ltr_num_preempted_for_waiting,
                "num_kv_preemptions": self.ltr_num_kv_preemptions, "num_promotions": self.ranked.num_promotions}

    def shutdown(self) -> None:
        if self.ltr_step_log is not None:
            self.ltr_step_log.close(time.monotonic())
            self.ltr_step_log = None
        super().shutdown()


class LtrAsyncScheduler(LtrScheduler, AsyncScheduler):
    """The same with vLLM's AsyncScheduler (async scheduling, on by default on GPU; off on CPU)."""


def make_scheduler(**kwargs: Any) -> Scheduler:
    """``--scheduler-cls ltrsched.vllm.make_scheduler``: picks the async base when async scheduling is on."""
    vllm_config = kwargs["vllm_config"]
    use_async = bool(getattr(vllm_config.scheduler_config, "async_scheduling", False))
    cls = LtrAsyncScheduler if use_async else LtrScheduler
    return cls(**kwargs)
