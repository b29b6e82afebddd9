from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from ltrsched.errors import MissingModelError, UserError
from ltrsched.sim.scores import kendall_tau, make_scores
from ltrsched.sim.workload import TRACE_FILES, default_traces_dir, load_items, read_trace, with_arrivals


def test_azure_and_mooncake_traces_replay_times_and_lengths() -> None:
    az = load_items("azure-conv", 3)
    assert [(it.prompt_len, it.output_len) for it in az] == [(374, 44), (396, 109), (879, 55)]
    assert az[0].arrival_time == 0.0 and az[1].arrival_time == pytest.approx(4.314579)
    mc = load_items("mooncake-synthetic", 3)
    assert [(it.arrival_time, it.prompt_len, it.output_len) for it in mc] == [
        (0.0, 40160, 6), (0.0, 36640, 4), (0.04, 23769, 3)]


def test_packaged_traces_are_the_published_files(tmp_path: Path) -> None:
    # The README beside the traces lists each shipped file's SHA-256; every trace the CLI names is among them.
    root = default_traces_dir()
    readme = (root / "README.md").read_text(encoding="utf-8")
    sums = [line.split() for line in readme.splitlines() if re.fullmatch(r"[0-9a-f]{64}  \S+", line)]
    listed = {name: digest for digest, name in sums}
    assert set(TRACE_FILES.values()) | {"LICENSE-AzurePublicDataset.txt", "LICENSE-Mooncake.txt"} == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, name
    assert sum((root / name).stat().st_size for name in listed) < 6_000_000  # small enough to ship in the wheel
    # --traces-dir reads the same layout from any other folder.
    (tmp_path / "azure").mkdir()
    (tmp_path / "azure" / "AzureLLMInferenceTrace_conv.csv").write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,7,3\n")
    assert [(it.prompt_len, it.output_len) for it in load_items("azure-conv", 5, traces_dir=tmp_path)] == [(7, 3)]
    with pytest.raises(UserError, match=r"--traces-dir .*: no mooncake/synthetic_trace\.jsonl there"):
        load_items("mooncake-synthetic", 5, traces_dir=tmp_path)


def test_malformed_trace_rows_name_file_and_line(tmp_path: Path) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                        "2023-11-16 18:15:46.6805900,374,44\n"
                        "2023-11-16 18:15:50.9951690,lots,109\n")
    with pytest.raises(UserError, match=r"t\.csv:3: ContextTokens is 'lots'"):
        read_trace(csv_path)
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"timestamp": 0, "input_length": 10, "output_length": 5}\n{"timestamp": 3, "input_length": 10}\n')
    with pytest.raises(UserError, match=r"t\.jsonl:2: missing 'input_length' or 'output_length'"):
        read_trace(jsonl)
    jsonl.write_text('{"timestamp": 0, "input_length": 10, "output_length": 0}\n')
    with pytest.raises(UserError, match=r"t\.jsonl:1: output_length is 0"):
        read_trace(jsonl)
    with pytest.raises(UserError, match="no trace file"):
        read_trace(tmp_path / "absent.csv")


def test_poisson_arrivals_have_the_asked_rate_and_burst_is_at_zero() -> None:
    items = load_items("random", 4000)
    timed = with_arrivals(items, "poisson", rate=8.0)
    times = np.array([it.arrival_time for it in timed])
    assert times[0] == 0.0 and np.all(np.diff(times) >= 0)
    assert len(times) / times[-1] == pytest.approx(8.0, rel=0.05)
    gaps = np.diff([it.arrival_time for it in with_arrivals(items, "gamma", rate=8.0, cv=3.0)])
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.2)
    assert all(it.arrival_time == 0.0 for it in with_arrivals(timed, "burst"))
    with pytest.raises(UserError, match="rate must be > 0"):
        with_arrivals(items, "poisson", rate=0.0)


def test_sharegpt_items_are_held_out_and_filtered_as_the_paper() -> None:
    items = load_items("sharegpt", 300)
    assert len(items) == 300 and len({it.id for it in items}) == 300
    assert all(4 <= it.prompt_len <= 1024 and it.prompt_len + it.output_len <= 20480 for it in items)
    assert all(isinstance(it.prompt, str) and it.prompt for it in items)


@pytest.mark.parametrize("tau", [0.0, 0.5, 0.8])
def test_tau_noise_model_hits_the_asked_tau(tau: float) -> None:
    items = load_items("random", 3000, seed=1)
    scores = make_scores(f"tau:{tau}", items)
    assert kendall_tau(scores, [it.output_len for it in items]) == pytest.approx(tau, abs=0.04)
    assert kendall_tau(make_scores("oracle", items), [it.output_len for it in items]) > 0.99


def test_scores_refuse_silent_fallbacks(tmp_path: Path) -> None:
    with pytest.raises(MissingModelError, match="no ranker at"):
        make_scores(f"ranker:{tmp_path / 'nothing'}", load_items("sharegpt", 5), progress=False)
    with pytest.raises(UserError, match="needs prompt texts"):
        make_scores("ranker", load_items("random", 5))
    with pytest.raises(UserError, match="tau:X"):
        make_scores("tau:high", load_items("random", 5))


def test_one_seed_gives_one_timeline_in_the_simulator_and_the_real_engine_benchmark() -> None:
    from ltrsched.bench.workload import BenchRequest, poisson

    items = load_items("random", 50)
    sim = [it.arrival_time for it in with_arrivals(items, "poisson", rate=2.0, seed=3)]
    real = [r.arrival_s for r in poisson([BenchRequest(f"r{i}", [], 1) for i in range(50)], 2.0, seed=3)]
    assert sim == real
    assert sim != [it.arrival_time for it in with_arrivals(items, "poisson", rate=2.0, seed=4)]
