"""What one benchmark run is (a policy with its plugin config) and how its per-token timestamps become records."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from ltrsched.bench.workload import BenchRequest
from ltrsched.errors import UserError
from ltrsched.metrics import RequestRecord
from ltrsched.policies import PolicyConfig
from ltrsched.vllm.xargs import TRUE_LEN_KEY


@dataclass(slots=True)
class PolicyRun:
    name: str  # label in tables and file names
    core: PolicyConfig | None  # the plugin's policy; None = vLLM's own scheduler (no plugin)
    client_priority: str = ""  # "true-len" or "ranker": the client sends vLLM `priority` (no plugin only)
    extra: dict[str, Any] = field(default_factory=dict)  # more plugin keys (step_log, ranker, ...)

    @property
    def needs_true_length(self) -> bool:
        """Send each request's replayed length (oracle policies say so on their class)."""
        return self.core is not None and self.core.policy_class.needs_true_length

    @property
    def is_oracle(self) -> bool:
        """Told each request's true length, by the plugin (``needs_true_length``) or as the client's priority."""
        return self.needs_true_length or self.client_priority == "true-len"

    @property
    def reads_score(self) -> bool:
        """Does this run need the ranker (in the engine, or in the client for priority-only mode)?"""
        return (self.core is not None and self.core.policy_class.reads_score) or self.client_priority == "ranker"

    def plugin_block(self) -> dict[str, Any]:
        """The plugin's whole ``ltrsched`` config block for this run, defaults filled in (what is recorded)."""
        from ltrsched.vllm.config import PluginConfig, parse_config

        if self.core is None:
            raise UserError(f"run {self.name!r} uses vLLM's own scheduler; it has no plugin config")
        block = {**self.core.to_mapping(), **self.extra}
        parse_config({"ltrsched": block})  # fail now, naming a bad key
        return {**PluginConfig(core=self.core).to_block(), **self.extra}


    def server_flags(self) -> tuple[str, str]:
        """(``ServeConfig.policy``, ``ServeConfig.ltrsched_config``) of the server that runs this."""
        if self.core is None:
            return ("vllm-priority" if self.client_priority else "vllm"), "{}"
        return self.core.policy, json.dumps(self.plugin_block())


def _runs(*runs: PolicyRun) -> dict[str, PolicyRun]:
    return {run.name: run for run in runs}


# Named runs; any other --policies entry is a policy spec (``name[:key=value...]``) run with the plugin. Each
# policy's starvation default is its class's (on for ltr only), as in the simulator.
POLICY_RUNS: dict[str, PolicyRun] = _runs(
    PolicyRun("fcfs", PolicyConfig.parse("fcfs")),
    PolicyRun("ltr", PolicyConfig.parse("ltr")),
    PolicyRun("ltr-nostarve", PolicyConfig.parse("ltr:starvation_threshold=0")),
    PolicyRun("srtf-oracle", PolicyConfig.parse("srtf-oracle")),
    PolicyRun("sjf-oracle", PolicyConfig.parse("sjf-oracle")),
    PolicyRun("vllm", None),
    # Priority-only mode (no --scheduler-cls): vLLM's own priority scheduler, the client ranks.
    PolicyRun("vllm-prio-ltr", None, client_priority="ranker"),
    PolicyRun("vllm-prio-oracle", None, client_priority="true-len"),
)


# Without the plugin, the same comparison in priority-only mode (vLLM's own scheduler and priority queue).
PRIORITY_ONLY = {"fcfs": "vllm", "ltr": "vllm-prio-ltr", "srtf-oracle": "vllm-prio-oracle",
                 "sjf-oracle": "vllm-prio-oracle"}


def plugin_available() -> bool:
    """Whether ``ltrsched.vllm.make_scheduler`` (the --scheduler-cls factory) exists in this install."""
    import importlib

    try:
        return hasattr(importlib.import_module("ltrsched.vllm"), "make_scheduler")
    except ImportError:
        return False


def custom_runs(spec: str) -> dict[str, PolicyRun]:
    """Runs named in ``--run-config``: JSON ``{"name": {plugin block}}``, each block the plugin's whole
    ``ltrsched`` config (policy keys and plugin keys, e.g. ``{"policy": "ltr", "ranker": "DIR", "online": true}``)."""
    if not spec.strip():
        return {}
    from ltrsched.policies.config import CONFIG_KEYS
    from ltrsched.vllm.config import parse_config

    try:
        doc = json.loads(spec)
    except ValueError as exc:
        raise UserError(f"--run-config is not JSON ({exc}); e.g. '{{\"ltr-online\": {{\"policy\": \"ltr\", "
                        f"\"online\": true}}}}'") from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise UserError("--run-config must map run names to plugin config objects, e.g. "
                        "'{\"ltr-online\": {\"policy\": \"ltr\", \"online\": true}}'")
    out = {}
    for name, block in doc.items():
        if name in POLICY_RUNS:
            raise UserError(f"--run-config: {name!r} is a built-in run; give yours another name")
        where = f"--run-config {name}"
        parse_config({"ltrsched": block})  # a bad key fails here, naming it
        core = PolicyConfig.from_mapping({k: v for k, v in block.items() if k in CONFIG_KEYS}, where)
        out[name] = PolicyRun(name, core, extra={k: v for k, v in block.items() if k not in CONFIG_KEYS})
    return out


def policy_run(name: str, custom: dict[str, PolicyRun] | None = None) -> PolicyRun:
    """A named run (built in, or from ``custom_runs``), or a plugin run of the policy spec ``name`` (e.g.
    ``ltr:starvation_threshold=0``)."""
    if custom and name in custom:
        return custom[name]
    if name in POLICY_RUNS:
        return POLICY_RUNS[name]
    try:
        return PolicyRun(name, PolicyConfig.parse(name))
    except UserError as exc:
        raise UserError(f"--policies entry {name!r} is neither a named run ({', '.join(POLICY_RUNS)}) nor a "
                        f"policy spec: {exc}") from None


def sampling_extra_args(run: PolicyRun, req: BenchRequest) -> dict[str, Any] | None:
    return {TRUE_LEN_KEY: req.true_len()} if run.needs_true_length else None


def client_priorities(run: PolicyRun, requests: list[BenchRequest]) -> dict[str, int]:
    """vLLM ``priority`` per request id (lower first) for priority-only runs; empty otherwise.

    "ranker": the default ranker's score turned into its rank among the workload (a monotone map, so the
    order equals the score order); "true-len": the true length itself (``BenchRequest.true_len``).
    """
    if run.client_priority == "true-len":
        return {r.request_id: r.true_len() for r in requests}
    if run.client_priority != "ranker":
        return {}
    from ltrsched.predictor import default_ranker

    scores = default_ranker().score([r.messages for r in requests])
    order = sorted(range(len(requests)), key=lambda i: -float(scores[i]))
    return {requests[i].request_id: rank for rank, i in enumerate(order)}


@dataclass(slots=True)
class RunResult:
    name: str  # the PolicyRun's name
    records: list[RequestRecord]  # one per finished request
    wall_s: float  # s from the first arrival to the last token
    engine_start_s: float = 0.0  # s to build the engine (not in wall_s)
    plugin: dict[str, float] = field(default_factory=dict)  # the plugin's counters, when readable
    num_failed: int = 0  # requests that errored or never finished


@dataclass(slots=True)
class _Progress:
    arrival_s: float  # s, planned arrival
    first_s: float | None = None  # s, first token
    last_s: float = 0.0  # s, latest token
    max_gap_s: float = 0.0  # s, longest gap between token arrivals
    num_tokens: int = 0
    num_prompt_tokens: int = 0
    finished: bool = False


class RequestTracker:
    """Collects token timestamps per request; times are s from the run's start."""

    def __init__(self, requests: list[BenchRequest], progress: bool = True, label: str = "") -> None:
        self._state = {r.request_id: _Progress(arrival_s=r.arrival_s) for r in requests}
        self._bar: Any = None
        if progress:
            from tqdm import tqdm

            self._bar = tqdm(total=len(requests), desc=label or "requests", unit="req", file=sys.stderr,
                             dynamic_ncols=True)

    def on_tokens(self, request_id: str, t: float, num_new: int, num_prompt_tokens: int = 0,
                  finished: bool = False) -> None:
        st = self._state[request_id]
        if num_new > 0:
            if st.first_s is None:
                st.first_s = t
            else:
                st.max_gap_s = max(st.max_gap_s, t - st.last_s)
            st.last_s = t
            st.num_tokens += num_new
        if num_prompt_tokens:
            st.num_prompt_tokens = num_prompt_tokens
        if finished and not st.finished:
            st.finished = True
            if self._bar is not None:
                self._bar.update(1)

    def set_totals(self, request_id: str, num_tokens: int, num_prompt_tokens: int) -> None:
        """Overwrite counts with the server's own (a streamed chunk may carry several tokens)."""
        st = self._state[request_id]
        st.num_tokens, st.num_prompt_tokens = num_tokens, num_prompt_tokens

    def finish(self, request_id: str) -> None:
        self.on_tokens(request_id, self._state[request_id].last_s, 0, finished=True)

    def records(self) -> list[RequestRecord]:
        return [RequestRecord(request_id=rid, arrival_time=st.arrival_s, first_token_time=st.first_s,
                              finish_time=st.last_s, num_prompt_tokens=st.num_prompt_tokens,
                              num_output_tokens=st.num_tokens, max_itl_s=st.max_gap_s)
                for rid, st in self._state.items() if st.finished and st.first_s is not None]

    @property
    def num_unfinished(self) -> int:
        return sum(1 for st in self._state.values() if not st.finished)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
