"""``ltrsched bench serve``: the paper's workloads on a real vLLM engine, each policy side by side in one run."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ltrsched.bench import report
from ltrsched.bench.runs import PolicyRun, RunResult, custom_runs, policy_run
from ltrsched.bench.workload import (
    LENGTHS,
    NATURAL_MAX_TOKENS,
    WORKLOADS,
    BenchRequest,
    burst,
    load_prompts,
    natural,
    poisson,
    total_tokens,
    with_labels,
)
from ltrsched.errors import UserError
from ltrsched.report import add_ratios
from ltrsched.vllm.server import EngineConfig, ServeConfig, without_chunked_prefill


@dataclass(slots=True)
class BenchServeConfig(EngineConfig):
    workload: str = "burst"  # burst, poisson (--rates) or synthetic (burst + K/limit)
    num_requests: int = 200  # ShareGPT first-turn prompts (test split)
    rates: list[float] = field(default_factory=list)  # Poisson arrival rates, req/s
    policies: list[str] = field(default_factory=lambda: ["fcfs", "ltr", "srtf-oracle"])  #
    # named runs (fcfs, ltr, ltr-nostarve, srtf-oracle, vllm, vllm-prio-ltr, ...) or policy specs name[:key=value...],
    # e.g. ltr:starvation_threshold=200:starvation_preempts=true (the paper's Algorithm 1)
    run_config: str = ""  # JSON {"name": {plugin block}}: more named runs for --policies, e.g.
    # {"ltr-online": {"policy": "ltr", "online": true}, "ltr-mine": {"policy": "ltr", "ranker": "DIR"}}
    backend: str = "offline"  # offline (LLMEngine.step) or openai (HTTP streaming)
    url: str = ""  # openai: an existing server (one policy); else one is started
    port: int = 8011  # openai backend: port for the servers it starts
    max_output_len: int = 512  # cap on replayed output lengths, tokens
    lengths: str = "replay"  # replay (ChatGPT's recorded lengths, EOS ignored) or natural (the model stops itself)
    natural_max_tokens: int = NATURAL_MAX_TOKENS  # natural: the cap (temperature 0.7, top_p 0.9, repetition
    # penalty 1.1)
    max_prompt_len: int = 1024  # skip longer prompts, Llama-3 tokens
    k: int = 0  # synthetic: report the time until K requests finished
    time_limit_s: float = 0.0  # synthetic: report how many finished within this
    seed: int = 0  # prompt sample and arrival seed
    out_dir: str = "runs/bench-serve"  # CSV, plots and JSON go here
    step_log: bool = True  # plugin runs write OUT_DIR/<pattern>-<policy>-steps.jsonl (for `ltrsched fit-cost`)
    repeats: int = 1  # run the policy list this many times per pattern, every other time in reverse order (A B B A:
    # an engine that drifts favours no policy); a table per repeat (<pattern>-r1, -r2, ...), then one across them


def check(cfg: BenchServeConfig) -> list[PolicyRun]:
    if cfg.workload not in WORKLOADS:
        raise UserError(f"--workload {cfg.workload!r}: choose one of {', '.join(WORKLOADS)}")
    if cfg.workload == "poisson" and not cfg.rates:
        raise UserError("--workload poisson needs --rates, e.g. --rates 0.25,0.5 (req/s)")
    if cfg.backend not in ("offline", "openai"):
        raise UserError(f"--backend {cfg.backend!r}: choose offline or openai")
    custom = custom_runs(cfg.run_config)
    runs = [policy_run(p, custom) for p in cfg.policies]
    if cfg.lengths not in LENGTHS:
        raise UserError(f"--lengths {cfg.lengths!r}: choose one of {', '.join(LENGTHS)}")
    if cfg.lengths == "natural" and runs[0].is_oracle:
        raise UserError(f"--lengths natural: an oracle is told the lengths the first run produced (same prompts "
                        f"and seeds), so list another policy before {runs[0].name}, e.g. --policies fcfs,"
                        f"{runs[0].name}")
    if cfg.repeats < 1:
        raise UserError(f"--repeats {cfg.repeats}: give 1 or more")
    if cfg.url and len(runs) != 1:
        raise UserError("--url serves one scheduler: give exactly one --policies entry matching that server")
    return runs


SPEED_SPREAD = 0.10  # engine step times further apart than this are reported as a warning


def with_step_log(cfg: BenchServeConfig, run: PolicyRun, out_dir: Path, tag: str) -> PolicyRun:
    """The plugin's per-step log (batch composition, step time) for this run, when asked and the plugin runs."""
    if not cfg.step_log or run.core is None:
        return run
    out_dir.mkdir(parents=True, exist_ok=True)
    return replace(run, extra={**run.extra, "step_log": str(step_log_path(out_dir, tag, run.name).resolve())})


def with_own_online_state(run: PolicyRun, out_dir: Path, tag: str) -> PolicyRun:
    """A run that learns online starts from a copy of its ``online_state`` in OUT_DIR and saves its end state
    there, so every repeat starts from the same state and the file named in ``--run-config`` is never overwritten
    (a missing one still means: start from nothing)."""
    source = run.extra.get("online_state")
    if not source:
        return run
    own = out_dir / f"{tag}-{run.name}-online.npz"
    out_dir.mkdir(parents=True, exist_ok=True)
    if Path(source).is_file():
        shutil.copyfile(source, own)
    else:
        own.unlink(missing_ok=True)
    return replace(run, extra={**run.extra, "online_state": str(own.resolve())})


def step_log_path(out_dir: Path, tag: str, name: str) -> Path:
    """Where a run's step log goes: OUT_DIR/<pattern>-<policy>-steps.jsonl."""
    return out_dir / f"{tag}-{name}-steps.jsonl"


def engine_step_times(out_dir: Path, tag: str, results: list[RunResult], reference: int = 0) -> list[float | None]:
    """Each run's decode-only step time relative to run ``reference``'s (the first), at the batch sizes both ran
    (None without a step log). Engines on this kind of machine drift by 10-20% between runs; near saturation that
    moves latency more than a policy does, so the table says when they did."""
    from ltrsched.steplog import decode_step_medians, read_step_log, relative_step_time

    medians = [decode_step_medians(read_step_log(p)) if (p := step_log_path(out_dir, tag, r.name)).is_file()
               else None for r in results]
    ref = medians[reference]
    return [relative_step_time(m, ref) if m is not None and ref is not None else None for m in medians]


def run_policy(cfg: BenchServeConfig, run: PolicyRun, requests: list[BenchRequest], progress: bool) -> RunResult:
    if cfg.backend == "offline":
        from ltrsched.bench.offline import run_offline

        return run_offline(requests, cfg, run, progress=progress)
    from ltrsched.bench.client import run_openai
    from ltrsched.vllm.server import Server

    if cfg.url:
        return run_openai(cfg.url, _served_name(cfg.url), requests, run, progress=progress)
    policy, block = run.server_flags()
    scfg = ServeConfig(**{**_engine_fields(cfg), "port": cfg.port, "policy": policy, "ltrsched_config": block})
    with Server(scfg) as server:
        return run_openai(server.url, server.model_name, requests, run, progress=progress)


def _engine_fields(cfg: EngineConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(cfg).items() if k in EngineConfig.__dataclass_fields__}


def _served_name(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url.rstrip("/") + "/v1/models", timeout=10) as resp:
        return str(json.load(resp)["data"][0]["id"])


def lengths_of(result: RunResult) -> dict[str, int]:
    """Output tokens per request id of a run."""
    return {r.request_id: r.num_output_tokens for r in result.records}


def same_length_share(first: RunResult, other: RunResult) -> float:
    """Share of ``first``'s requests that ``other`` answered with exactly as many tokens (natural lengths: vLLM CPU
    sampling under another batch composition may not be bit-stable)."""
    mine, theirs = lengths_of(first), lengths_of(other)
    return sum(theirs.get(k) == n for k, n in mine.items()) / max(len(mine), 1)


def produced_tokens(cfg: BenchServeConfig, results: list[RunResult], requests: list[BenchRequest]) -> int:
    """Output tokens of a pattern: the replayed lengths, or what the first run's model produced (natural: the caps
    are only a bound)."""
    return sum(lengths_of(results[0]).values()) if cfg.lengths == "natural" else total_tokens(requests)


def write_labels(path: Path, requests: list[BenchRequest], first: RunResult, cap: int) -> None:
    """The first run's natural lengths as label rows (``ltrsched label``'s format), so ``ltrsched eval --data``
    can score any ranker on the served model's own lengths of the held-out prompts the benchmark used. A row at the
    cap is taken as capped (a lower bound), even if EOS came as its last token."""
    from ltrsched.predictor.data import label_row

    done = {rec.request_id: rec for rec in first.records}
    with open(path, "w") as fh:
        for r in requests:
            if (rec := done.get(r.request_id)) is not None:
                n = rec.num_output_tokens
                row = label_row(r.request_id, r.messages, n, "length" if n >= cap else "stop", 0, r.sampling.seed,
                                rec.num_prompt_tokens)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def needs_ranker(runs: list[PolicyRun]) -> bool:
    return any(run.reads_score for run in runs)


def run_pattern(cfg: BenchServeConfig, runs: list[PolicyRun], requests: list[BenchRequest], out_dir: Path,
                tag: str, progress: bool, labels: dict[str, int] | None = None) -> list[RunResult]:
    """Every policy on one arrival pattern, in order; a natural-length oracle is told ``labels`` (default: the
    first run's lengths)."""
    results: list[RunResult] = []
    for run in runs:
        labelled = requests
        if cfg.lengths == "natural" and run.is_oracle:  # a non-oracle run labelled these prompts and seeds
            labelled = with_labels(requests, labels if labels is not None else lengths_of(results[0]))
        run = with_own_online_state(with_step_log(cfg, run, out_dir, tag), out_dir, tag)
        results.append(run_policy(cfg, run, labelled, progress))
    return results


def repeat_order(runs: list[PolicyRun], repeat: int) -> list[PolicyRun]:
    """Repeat ``repeat`` (from 0) runs the list forward when even and backward when odd: A B, B A, A B, ..."""
    return list(runs) if repeat % 2 == 0 else runs[::-1]


def repeat_tag(tag: str, repeat: int, repeats: int) -> str:
    """A repeat's name in tables and file names: the pattern's own when it runs once, else ``<pattern>-r<k>``."""
    return tag if repeats == 1 else f"{tag}-r{repeat + 1}"


def run_repeats(cfg: BenchServeConfig, runs: list[PolicyRun], tag: str, requests: list[BenchRequest],
                out_dir: Path, doc: dict[str, Any], log: Any, progress: bool) -> list[dict[str, Any]]:
    """One pattern ``cfg.repeats`` times (tables and files per repeat, recorded in ``doc``); returns its rows, or
    with repeats the rows across them (medians; ``bench.report.across_repeats``)."""
    labels: dict[str, int] | None = None  # natural lengths: the first run of the first repeat labels the oracle
    repeats: list[tuple[list[dict[str, Any]], list[float | None]]] = []
    for k in range(cfg.repeats):
        rtag = repeat_tag(tag, k, cfg.repeats)
        results = run_pattern(cfg, repeat_order(runs, k), requests, out_dir, rtag, progress, labels)
        if labels is None:
            labels = lengths_of(results[0])
        rows, doc["output_tokens_by_pattern"][rtag] = report_pattern(cfg, rtag, requests, results, out_dir, log)
        doc["patterns"][rtag] = rows
        if cfg.repeats == 1:
            return rows
        base = next(i for i, r in enumerate(rows) if r["policy"] == rows[0]["baseline"])
        repeats.append((rows, engine_step_times(out_dir, rtag, results, reference=base)))
    rows = report.across_repeats([rows for rows, _ in repeats], [times for _, times in repeats])
    print(report.format_repeats(rows, f"{tag}: {cfg.repeats} repeats, alternating order"), file=log)
    doc.setdefault("repeats", {})[tag] = rows
    return rows


def report_pattern(cfg: BenchServeConfig, tag: str, requests: list[BenchRequest], results: list[RunResult],
                   out_dir: Path, log: Any) -> tuple[list[dict[str, Any]], int]:
    """One pattern's table (printed), records CSV, CDF plot and, for natural lengths, its label rows; returns the
    table's rows and the output tokens the pattern produced."""
    rows = [report.summarize_run(r, cfg.k, cfg.time_limit_s) for r in results]
    add_ratios(rows)
    natural_lengths = cfg.lengths == "natural"
    if natural_lengths:
        for row, result in zip(rows, results, strict=True):
            row["same_len_share"] = same_length_share(results[0], result)
    produced = produced_tokens(cfg, results, requests)
    made = f"{produced} output tokens" + (f" (natural, cap {cfg.natural_max_tokens})" if natural_lengths else "")
    title = f"{tag}: {len(requests)} requests, {made}, max_num_seqs {cfg.max_num_seqs}, backend {cfg.backend}"
    print(report.format_table(rows, title), file=log)
    print_engine_speeds(rows, engine_step_times(out_dir, tag, results), log)
    if natural_lengths and len(results) > 1:
        print(f"same length as the {results[0].name} run (same prompts and seeds): "
              + ", ".join(f"{r['policy']} {r['same_len_share']:.1%}" for r in rows[1:]), file=log)
    report.write_records_csv(out_dir / f"{tag}-records.csv", results, tag)
    if natural_lengths:
        write_labels(out_dir / f"{tag}-labels.jsonl", requests, results[0], cfg.natural_max_tokens)
    report.plot_cdf(out_dir / f"{tag}-cdf.png", results, title=tag)
    return rows, produced


def print_engine_speeds(rows: list[dict[str, Any]], step_times: list[float | None], log: Any) -> None:
    """Record each run's engine step time against the first run's; say so when they differ by over SPEED_SPREAD."""
    for row, t in zip(rows, step_times, strict=True):
        row["step_time_vs_first"] = t
    known = [(row["policy"], t) for row, t in zip(rows, step_times, strict=True) if t is not None]
    if len(known) < 2:
        return
    line = ", ".join(f"{name} {t:.2f}x" for name, t in known[1:])
    print(f"decode-only step time against the {known[0][0]} run at the same batch sizes: {line}", file=log)
    if max(abs(t - 1.0) for _, t in known) > SPEED_SPREAD:
        print(f"warning: the engines ran more than {SPEED_SPREAD:.0%} apart in speed; near saturation that moves "
              "latency more than a policy does: rerun in another order before reading the ratios", file=log)


def bench_serve(cfg: BenchServeConfig, as_json: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run every policy on every arrival pattern; print tables, write CSV/PNG/JSON to ``out_dir``."""
    runs = check(cfg)
    if cfg.lengths == "natural":
        cfg = without_chunked_prefill(cfg, "natural lengths (every request is seeded)")
    if needs_ranker(runs):
        from ltrsched.predictor import ensure_default_ranker

        ensure_default_ranker(progress=progress)
    base = load_prompts(cfg.num_requests, cfg.max_output_len, cfg.max_prompt_len, seed=cfg.seed)
    if cfg.lengths == "natural":
        base = natural(base, cfg.natural_max_tokens, cfg.seed)
    out_dir = Path(cfg.out_dir)
    patterns: list[tuple[str, float | None]] = (
        [(f"poisson-{r:g}", r) for r in cfg.rates] if cfg.workload == "poisson" else [(cfg.workload, None)])
    doc: dict[str, Any] = {"config": asdict(cfg), "num_output_tokens": None if cfg.lengths == "natural" else
                           total_tokens(base), "output_tokens_by_pattern": {}, "patterns": {},
                           "plugin_configs": {run.name: run.plugin_block() for run in runs if run.core is not None}}
    rows_by_rate: dict[float, list[dict[str, Any]]] = {}
    log = sys.stderr if as_json else sys.stdout
    for tag, rate in patterns:
        requests = poisson(base, rate, seed=cfg.seed) if rate is not None else burst(base)
        rows = run_repeats(cfg, runs, tag, requests, out_dir, doc, log, progress)
        if rate is not None:
            rows_by_rate[rate] = rows
    if rows_by_rate:
        report.plot_vs_rate(out_dir / "latency-vs-rate.png", rows_by_rate)
    (out_dir / "summary.json").write_text(json.dumps(doc, indent=2, default=str))
    labels = ", label rows" if cfg.lengths == "natural" else ""
    print(f"wrote {out_dir}/ (records CSV, CDF plots, summary.json{labels})", file=log)
    if as_json:
        print(json.dumps(doc, default=str))
    return doc
