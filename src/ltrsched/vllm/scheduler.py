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

import numpy as np
from vllm.v1.core.sched.async_scheduler import AsyncScheduler
from vllm.v1.core.sched.output import SchedulerOutput
from vllm.v1.core.sched.request_queue import SchedulingPolicy
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.request import RequestStatus

from ltrsched.predictor.quantiles import load_quantile_map
from ltrsched.request import Request
from ltrsched.steplog import StepLogWriter
from ltrsched.vllm.compat import check_members
from ltrsched.vllm.config import PluginConfig, parse_config
from ltrsched.vllm.metrics import PluginMetrics
from ltrsched.vllm.online import OnlineLearner, OnlineSettings, online_stats
from ltrsched.vllm.queue import RankedQueue
from ltrsched.vllm.scoring import ArrivalScorer, ClientTrust, check_ranker_spec
from ltrsched.vllm.servedlog import ServedLog, ServedRow, finish_reason
from ltrsched.vllm.stats import PluginStats, step_record
from ltrsched.vllm.xargs import TRUE_LEN_KEY, true_output_len

logger = logging.getLogger("vllm.ltrsched")
# Waiting states vLLM skips ("deferred") until an outside event: a grammar compiled, remote KV loaded, more input.
BLOCKED_STATUSES = frozenset(status for status in (getattr(RequestStatus, name, None) for name in (
    "WAITING_FOR_STRUCTURED_OUTPUT_GRAMMAR", "WAITING_FOR_FSM", "WAITING_FOR_REMOTE_KVS",
    "WAITING_FOR_STREAMING_REQ")) if status is not None)


class LtrScheduler(Scheduler):
    """vLLM's Scheduler with the ltrsched policy core; built by ``ltrsched.vllm.make_scheduler``."""

    running: list[Any]  # vLLM's running list; the plugin keeps it best first

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        check_members(self)
        cfg = parse_config(self.vllm_config.additional_config)
        self.ltr_config: PluginConfig = cfg
        self.ranked = cfg.core.build()
        self.ltr_policy = self.ranked.policy
        if cfg.wants_scores:
            check_ranker_spec(cfg.ranker)
        self.ltr_quantiles = load_quantile_map(cfg.ranker) if self.ltr_policy.reads_quantiles else None
        self.ltr_online = OnlineLearner(OnlineSettings.of(cfg), self._load_tokenizer) if cfg.online else None
        self.ltr_scorer = ArrivalScorer(cfg.ranker, cfg.score_batch_size, self._load_tokenizer,
                                        ClientTrust(cfg.trust_client_scores, cfg.client_score_token),
                                        cfg.score_timeout_s, use_ranker=cfg.wants_scores,
                                        wrap=self.ltr_online.wrap if self.ltr_online else None,
                                        threads=cfg.score_threads)
        self.waiting: RankedQueue = RankedQueue(self.ranked, self._ltr_flush)
        self.ltr_step_log = StepLogWriter(cfg.step_log) if cfg.step_log else None
        self.ltr_served_log = (ServedLog(cfg.served_log, self._load_tokenizer, hashed=cfg.served_log_hashed,
                                         max_bytes=int(cfg.served_log_max_mb * 2**20),
                                         backups=cfg.served_log_backups) if cfg.served_log else None)
        self.ltr_stats = PluginStats()
        self.ltr_metrics = PluginMetrics(cfg.metrics_interval_s, cfg.log_interval_s)
        self._ltr_warned_true_len = False
        self._ltr_running_version = -1  # the core's running_version when self.running was last ordered
        self._ltr_ranked_len = 0  # len(self.running) then
        self._ltr_cap = min(self.max_num_running_reqs, getattr(self, "max_num_active_reqs", self.max_num_running_reqs))
        # The waiting queue is ours, and self.running is kept best first, so vLLM's FCFS rule for a KV-pressure
        # victim (the last running request) is the lowest-ranked one. Its priority rule would need every running
        # request's rank written into ``priority`` each step (0.1-0.2 ms at 256 running) for the same answer.
        # A client's ``priority`` still counts: it leads the policy core's sort key.
        self.policy = SchedulingPolicy.FCFS
        core = cfg.core
        logger.info("ltrsched scheduler: policy=%s starvation=%d/%d preempt_for_waiting=%s scoring=%s "
                    "trust_client_scores=%s", core.label, core.starvation_threshold, core.quantum,
                    cfg.preempt_for_waiting, cfg.wants_scores, cfg.trust_client_scores)

    def _load_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        mc = self.vllm_config.model_config
        return AutoTokenizer.from_pretrained(mc.tokenizer, trust_remote_code=mc.trust_remote_code,
                                             revision=getattr(mc, "tokenizer_revision", None))

    # -- arrivals -----------------------------------------------------------------------------------------
    def _ltr_flush(self) -> None:
        """Score every request that arrived since the last step (one ranker batch) and rank it."""
        pending = self.waiting.take_pending()
        scores = self.ltr_scorer.scores(pending)
        quantiles = (self.ltr_quantiles.predict(np.asarray(scores, dtype=np.float64)).tolist()
                     if self.ltr_quantiles is not None else [None] * len(pending))  # one map call per batch
        for vreq, score, q in zip(pending, scores, quantiles, strict=True):
            mirror = self._mirror(vreq, score)
            if q is not None:
                mirror.length_quantiles = (q[0], q[1], q[2])
            self.waiting.admit(vreq, mirror)

    def _mirror(self, vreq: Any, score: float) -> Request:
        """The core's copy of a vLLM request; progress is synced only for policies that read it (dynamic rank)."""
        true_len = None
        if self.ltr_policy.needs_true_length:
            true_len, sent = true_output_len(vreq.sampling_params.extra_args if vreq.sampling_params else None,
                                             vreq.max_tokens)
            if not sent and not self._ltr_warned_true_len:
                logger.warning("ltrsched: policy %s needs each request's true length (vllm_xargs %s); using "
                               "max_tokens where it is missing", self.ltr_policy.name, TRUE_LEN_KEY)
                self._ltr_warned_true_len = True
        return Request(request_id=vreq.request_id, arrival_time=vreq.arrival_time,
                       num_prompt_tokens=vreq.num_prompt_tokens, max_tokens=vreq.max_tokens, score=score,
                       priority=vreq.priority, true_output_len=true_len, num_output_tokens=vreq.num_output_tokens)

    # -- per step -----------------------------------------------------------------------------------------
    def schedule(self, throttle_prefills: bool = False) -> SchedulerOutput:
        start = self.ltr_stats.begin_step()
        num_preempted = self._ltr_before(start)
        out = super().schedule(throttle_prefills)
        self._ltr_after(out, start, num_preempted)
        return out

    def _ltr_before(self, now: float) -> int:
        """Everything up to vLLM's own schedule(); returns the number of requests preempted for waiting ones."""
        self._ltr_flush()
        t0 = time.perf_counter()
        self._ltr_sync_finished()
        self.ranked.begin_step()
        num_preempted = self._ltr_preempt_for_waiting(now) if self.ltr_config.preempt_for_waiting else 0
        self._ltr_order_running()
        self.ltr_stats.overhead_s += time.perf_counter() - t0
        return num_preempted

    def _free_request(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """vLLM frees every finished or aborted request here (running or waiting): the core forgets it at once,
        so the plugin holds nothing for a request vLLM no longer has."""
        if self.ltr_served_log is not None or self.ltr_online is not None:
            self._ltr_finished(request)
        out = super()._free_request(request, *args, **kwargs)
        self.waiting.forget(request.request_id)
        if not self.requests:  # idle: publish the final counts now (no step may follow for a while)
            self.ltr_metrics.push(self.ltrsched_stats())
        return out

    def _ltr_finished(self, request: Any) -> None:
        """Queue the finished request's row for the served log and the online ranker (their threads do the rest)."""
        entry = self.waiting.entries.get(request.request_id)
        row = ServedRow(request_id=request.request_id, prompt_token_ids=list(request.prompt_token_ids or ()),
                        num_output_tokens=request.num_output_tokens, finish_reason=finish_reason(request.status),
                        arrival_s=float(request.arrival_time), finish_s=time.time(),
                        score=entry[1].score if entry is not None else None)
        if self.ltr_served_log is not None:
            self.ltr_served_log.put(row)
        if self.ltr_online is not None and row.prompt_token_ids:
            self.ltr_online.put(row)

    def _ltr_sync_finished(self) -> None:
        """A safety net: forget running mirrors whose vLLM request finished without passing ``_free_request``."""
        if self.ranked.num_running == len(self.running):
            return
        queue = self.waiting
        live = {r.request_id for r in self.running}
        for mirror in self.ranked.running():
            if mirror.request_id not in live and queue.vllm_request(mirror.request_id).is_finished():
                queue.forget(mirror.request_id)

    def _ltr_preempt_for_waiting(self, now: float) -> int:
        """Evict the running requests the core names as victims (better waiting ones take their slots)."""
        num = 0
        for mirror in self.ranked.victims(self._ltr_cap, self._ltr_can_run):
            vreq = self.waiting.vllm_request(mirror.request_id)
            if vreq.status != RequestStatus.RUNNING or vreq not in self.running:
                continue
            self.running.remove(vreq)
            t0 = time.perf_counter()
            self._preempt_request(vreq, now)  # prepends it to self.waiting: the core re-queues it
            self.ltr_stats.preempt_s += time.perf_counter() - t0
            num += 1
        return num

    def _ltr_can_run(self, mirror: Request) -> bool:
        """Could vLLM admit this waiting request now? A deferred one (waiting for a grammar, remote KV or more
        streamed input) is skipped by vLLM, so evicting a running request for it would gain nothing."""
        return self.waiting.vllm_request(mirror.request_id).status not in BLOCKED_STATUSES

    def _ltr_order_running(self) -> None:
        """Put ``self.running`` in the core's order (best first), unless nothing joined, left or moved since."""
        if self.ranked.running_version == self._ltr_running_version and len(self.running) == self._ltr_ranked_len:
            return  # vLLM changes self.running only through calls that reach the core, so it is still ordered
        entries = self.waiting.entries
        order = [entries[m.request_id][0] for m in self.ranked.running()]
        if len(order) != len(self.running):  # a request the core does not know: keep it, last
            known = {r.request_id for r in order}
            order += [r for r in self.running if r.request_id not in known]
        self._ltr_ranked_len = len(order)
        self.running = order
        self._ltr_running_version = self.ranked.running_version

    def _ltr_after(self, out: SchedulerOutput, start: float, num_preempted: int) -> None:
        t0 = time.perf_counter()
        stats = self.ltr_stats
        scheduled: Mapping[str, int] = out.num_scheduled_tokens
        if self.ltr_policy.dynamic_rank:  # only these ranks read progress; the loop costs ~0.1 ms at 256 running
            self.waiting.sync_progress(scheduled)
        self.ranked.end_step(scheduled, stats.last_step_s)
        num_kv_preempted = max(len(out.preempted_req_ids or ()) - num_preempted, 0)
        stats.num_preempted_for_waiting += num_preempted
        stats.num_kv_preemptions += num_kv_preempted
        if self.ltr_step_log is not None:
            self.ltr_step_log.add(step_record(stats.num_steps, start, scheduled, self.requests, len(self.running),
                                              len(self.waiting), num_preempted + num_kv_preempted))
        stats.num_steps += 1
        self.ltr_metrics.on_step(start, self.ltrsched_stats)
        stats.overhead_s += time.perf_counter() - t0

    def update_from_output(self, scheduler_output: Any, model_runner_output: Any) -> Any:
        result = super().update_from_output(scheduler_output, model_runner_output)
        if self.ltr_step_log is not None:
            self.ltr_step_log.mark_busy_end(time.monotonic())
        return result

    # -- reporting ----------------------------------------------------------------------------------------
    def ltrsched_stats(self) -> dict[str, float]:
        """Counters for benchmarks and metrics: scoring cost, steps, preemptions, promotions, plugin time."""
        s, log = self.ltr_scorer.stats, self.ltr_served_log
        return {"scoring_s": s.scoring_s, "num_scored": s.num_scored, "num_client_scores": s.num_client_scores,
                "num_client_scores_refused": s.num_client_scores_refused, "num_score_failures": s.num_failed,
                "num_score_batches": s.num_batches, "num_score_timeouts": s.num_timeouts,
                **self.ltr_stats.as_dict(), "num_promotions": self.ranked.num_promotions,
                "num_tracked": len(self.waiting.entries) + len(self.waiting.pending),
                "num_served_logged": log.num_written if log else 0, "num_served_dropped": log.num_dropped if log else 0,
                **online_stats(self.ltr_online)}

    def shutdown(self) -> None:
        self.ltr_metrics.push(self.ltrsched_stats())
        if self.ltr_step_log is not None:
            self.ltr_step_log.close(time.monotonic())
            self.ltr_step_log = None
        self.ltr_scorer.close()
        if self.ltr_served_log is not None:
            self.ltr_served_log.close()
        if self.ltr_online is not None:
            self.ltr_online.close()  # saves its state when online_state is set
        super().shutdown()


class LtrAsyncScheduler(LtrScheduler, AsyncScheduler):
    """The same with vLLM's AsyncScheduler (async scheduling, on by default on GPU; off on CPU)."""


def make_scheduler(**kwargs: Any) -> Scheduler:
    """``--scheduler-cls ltrsched.vllm.make_scheduler``: picks the async base when async scheduling is on."""
    vllm_config = kwargs["vllm_config"]
    use_async = bool(getattr(vllm_config.scheduler_config, "async_scheduling", False))
    cls = LtrAsyncScheduler if use_async else LtrScheduler
    return cls(**kwargs)
