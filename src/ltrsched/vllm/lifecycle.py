"""Graceful stop of a served engine: stop admitting, let in-flight requests finish for a bounded time, then stop.

vLLM 0.32 already drains on SIGTERM when started with ``--shutdown-timeout N`` (N > 0): its engine core rejects new
requests (the client gets an aborted, empty answer), keeps stepping until no request is left or N s have passed,
then tears down; with N = 0 (vLLM's default) it aborts everything in flight at once. What it does not do is say
how many requests it was still holding when the time ran out, and SIGTERM to the whole process group would hit the
engine children before the API server could drain them. So the supervisor here signals only the API server,
watches the engine's own Prometheus gauges while it drains, stops the whole group after the deadline, and reports
the requests that were in flight at the signal, finished during the drain, and still in flight at the end.
"""

from __future__ import annotations

import signal
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from types import FrameType

from ltrsched.vllm.server import Server

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
SUCCESS = "vllm:request_success_total"  # finished requests, every finish reason (stop, length, abort)
DRAINED_LINE = "[shutdown] EngineCore: request processing complete"  # vLLM's log line once no request is left
TEARDOWN_GRACE_S = 20.0  # s after the drain deadline for vLLM's own teardown before the group is killed


@dataclass(slots=True)
class DrainReport:
    """What happened to the requests in flight when the stop began."""

    num_in_flight_at_signal: int  # running + waiting requests when the signal was forwarded (-1: unknown)
    num_finished_during_drain: int  # requests the engine finished after that (any reason)
    num_dropped: int  # in-flight requests that did not finish: aborted (drain time 0) or cut at the deadline
    drain_s: float  # s from the signal until the API server exited (or was killed)
    clean_exit: bool  # the API server exited by itself within the drain time plus the teardown grace

    def summary(self) -> str:
        left = self.num_dropped
        fate = "none dropped" if left == 0 else ("unknown dropped (no /metrics)" if left < 0 else f"{left} DROPPED")
        return (f"drain: {self.num_in_flight_at_signal} in flight at the signal, {self.num_finished_during_drain} "
                f"finished during the drain, {fate}; {self.drain_s:.1f} s, "
                f"{'clean exit' if self.clean_exit else 'killed after the deadline'}")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {metric name: sum over its label sets} (comments and histograms' parts skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return out


def read_metrics(url: str, timeout_s: float = 2.0) -> dict[str, float] | None:
    """The engine's gauges and counters, or None when /metrics does not answer (stopped, or not yet up)."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=timeout_s) as resp:
            return parse_metrics(resp.read().decode("utf-8", errors="replace"))
    except (urllib.error.URLError, OSError):
        return None


def in_flight(metrics: dict[str, float] | None) -> int:
    return -1 if metrics is None else int(metrics.get(RUNNING, 0.0) + metrics.get(WAITING, 0.0))


def drain(server: Server, timeout_s: float, poll_s: float = 0.5) -> DrainReport:
    """SIGTERM the API server alone (vLLM drains for its ``--shutdown-timeout``), watch, then stop the group."""
    proc = server.proc
    if proc is None:
        return DrainReport(0, 0, 0, 0.0, True)
    first = last = read_metrics(server.url)
    t0 = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    deadline = t0 + timeout_s + TEARDOWN_GRACE_S
    while proc.poll() is None and time.monotonic() < deadline:
        now = read_metrics(server.url, timeout_s=poll_s)
        if now is not None:
            last = now
        time.sleep(poll_s)
    clean = proc.poll() is not None
    drain_s = time.monotonic() - t0
    server.stop()  # whatever is left of the group (engine core, worker): TERM, then KILL
    finished = int(last.get(SUCCESS, 0.0) - first.get(SUCCESS, 0.0)) if first and last else 0
    return DrainReport(in_flight(first), finished, num_dropped(server, timeout_s, first, last), drain_s, clean)


def num_dropped(server: Server, timeout_s: float, first: dict[str, float] | None,
                last: dict[str, float] | None) -> int:
    """Drain time 0: vLLM aborts everything in flight. Else the last poll can precede the last finishes by a poll
    interval, but vLLM logs DRAINED_LINE only once no request is left, so it settles the count."""
    if timeout_s <= 0:
        return in_flight(first)
    return 0 if DRAINED_LINE in server.log_tail(400) else in_flight(last)


def serve_until_stopped(server: Server, drain_timeout_s: float) -> int:
    """Block until the server exits or SIGTERM/SIGINT arrives; on a signal drain it and print the report.

    Returns the exit code for ``ltrsched serve``: 0 after a drain that left nothing in flight, 1 when requests
    were dropped or the server died by itself.
    """
    stop_requested: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert server.proc is not None
        while server.proc.poll() is None and not stop_requested:
            time.sleep(0.2)
        if not stop_requested:
            print(f"the server exited (code {server.proc.returncode}); log: {server.log_path}", file=sys.stderr)
            return 1
        print(f"stopping: no new requests; in-flight ones get up to {drain_timeout_s:g} s", file=sys.stderr)
        report = drain(server, drain_timeout_s)
        print(report.summary(), file=sys.stderr)
        return 0 if report.num_dropped == 0 and report.clean_exit else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
