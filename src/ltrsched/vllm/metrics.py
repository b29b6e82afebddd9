"""The plugin's counters as Prometheus metrics (``ltrsched_*``) and a periodic one-line summary in the engine log.

The scheduler runs in vLLM's engine-core process, while ``/metrics`` is served by the API server process. With
``PROMETHEUS_MULTIPROC_DIR`` set (``ltrsched serve`` sets it; vLLM's ``/metrics`` then reads that folder), the
counters written here appear there beside ``vllm:*``. Counters are brought up to date every ``interval_s``, not
every step, so a scrape costs the engine nothing and the bookkeeping a few increments every few seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("vllm.ltrsched")

# stats key (LtrScheduler.ltrsched_stats) -> (metric name, help)
COUNTERS: dict[str, tuple[str, str]] = {
    "num_steps": ("ltrsched_steps", "schedule() calls"),
    "num_scored": ("ltrsched_requests_scored", "requests scored by the in-engine ranker"),
    "num_client_scores": ("ltrsched_client_scores_used", "requests ranked by their own trusted ltr_score"),
    "num_client_scores_refused": ("ltrsched_client_scores_refused",
                                  "ltr_score values sent by clients the operator does not trust (ignored)"),
    "num_score_failures": ("ltrsched_score_failures", "requests no score was found for (served by arrival)"),
    "num_score_timeouts": ("ltrsched_score_timeouts", "ranker calls abandoned after score_timeout_s"),
    "num_preempted_for_waiting": ("ltrsched_preemptions_for_waiting",
                                  "running requests evicted for a better waiting one at max_num_seqs"),
    "num_kv_preemptions": ("ltrsched_kv_preemptions", "running requests evicted under KV-cache pressure"),
    "num_promotions": ("ltrsched_promotions", "starvation promotions"),
    "overhead_s": ("ltrsched_plugin_seconds", "seconds in the plugin's own code (scoring excluded)"),
    "scoring_s": ("ltrsched_scoring_seconds", "seconds the engine waited for the ranker"),
    "num_served_logged": ("ltrsched_served_log_rows", "rows written to the served-request log"),
    "num_served_dropped": ("ltrsched_served_log_dropped", "served-log rows dropped because the writer fell behind"),
    "num_online_rows": ("ltrsched_online_rows", "finished requests the online ranker learned from"),
    "num_online_dropped": ("ltrsched_online_dropped", "finished requests the online ranker fell behind on"),
    "online_learn_s": ("ltrsched_online_learning_seconds", "CPU seconds the online ranker's learner thread used"),
}
GAUGES: dict[str, tuple[str, str]] = {
    "num_tracked": ("ltrsched_tracked_requests", "requests the plugin holds (waiting, running or being scored)"),
    "online_weight": ("ltrsched_online_weight", "the online ranker's share of the blended score (0 to 1)"),
}
_counters: dict[str, Any] = {}  # metric name -> prometheus Counter or Gauge, created once per process


def _counter(name: str, help_text: str) -> Any:
    if name not in _counters:
        from prometheus_client import Counter

        _counters[name] = Counter(name, help_text)  # exported as <name>_total
    return _counters[name]


def _gauge(name: str, help_text: str) -> Any:
    if name not in _counters:
        from prometheus_client import Gauge

        _counters[name] = Gauge(name, help_text, multiprocess_mode="livesum")  # summed over live engine cores
    return _counters[name]


class PluginMetrics:
    """Pushes the deltas of the plugin's counters to Prometheus and logs a summary, each on its own period."""

    def __init__(self, interval_s: float = 5.0, log_interval_s: float = 60.0) -> None:
        self.interval_s = interval_s  # s between counter updates
        self.log_interval_s = log_interval_s  # s between summary lines (0 = never)
        self._sent: dict[str, float] = dict.fromkeys(COUNTERS, 0.0)  # values already exported
        self._next_push = 0.0  # monotonic s of the next update
        self._next_log = log_interval_s if log_interval_s > 0 else float("inf")
        self._started: float | None = None  # monotonic s of the first step seen

    def on_step(self, now: float, stats: Any) -> None:
        """Per step: a time comparison; the work happens at most every ``interval_s``."""
        if self._started is None:
            self._started = now
            self._next_log += now
        if now >= self._next_push:
            self.push(stats())
            self._next_push = now + self.interval_s
        if now >= self._next_log:
            logger.info("%s", summary_line(stats(), now - self._started))
            self._next_log = now + self.log_interval_s

    def push(self, values: Mapping[str, float]) -> None:
        for key, (name, help_text) in GAUGES.items():
            _gauge(name, help_text).set(float(values.get(key, 0.0)))
        for key, (name, help_text) in COUNTERS.items():
            delta = float(values.get(key, 0.0)) - self._sent[key]
            if delta > 0:
                _counter(name, help_text).inc(delta)
                self._sent[key] += delta


def summary_line(s: Mapping[str, float], uptime_s: float) -> str:
    """One line a person reads in the engine log."""
    steps = max(s.get("num_steps", 0.0), 1.0)
    return (f"ltrsched: {s.get('num_steps', 0):.0f} steps in {uptime_s:.0f} s, plugin "
            f"{1e3 * s.get('overhead_s', 0.0) / steps:.2f} ms/step; scored {s.get('num_scored', 0):.0f} "
            f"({s.get('num_score_failures', 0):.0f} unscored, {s.get('num_score_timeouts', 0):.0f} timeouts, "
            f"ranker {s.get('scoring_s', 0.0):.1f} s); client scores {s.get('num_client_scores', 0):.0f} used, "
            f"{s.get('num_client_scores_refused', 0):.0f} refused; preemptions "
            f"{s.get('num_preempted_for_waiting', 0):.0f} for waiting + {s.get('num_kv_preemptions', 0):.0f} KV; "
            f"{s.get('num_promotions', 0):.0f} promotions")
