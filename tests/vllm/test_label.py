"""``ltrsched label`` writes JSONL the predictor's loader accepts, one row per prompt and seeded sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltrsched.cli import main
from ltrsched.errors import UserError
from ltrsched.predictor.data import load_jsonl
from ltrsched.vllm.label import LabelConfig, done_ids, sampling_of, seed_of
from tests.bench.tiny_llama import build_tiny_llama

pytestmark = [pytest.mark.vllm]


def test_label_writes_valid_jsonl_with_per_request_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = build_tiny_llama(tmp_path / "tiny")
    prompts = tmp_path / "prompts.jsonl"
    texts = ["write a short poem about the sea", "what is the capital of france?", "explain the scheduler"]
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "labels.jsonl"
    rc = main(["label", "--model", str(model), "--prompts", str(prompts), "--num-prompts", "3", "--samples", "2",
               "--max-tokens", "12", "--max-model-len", "256", "--kv-cache-gib", "1", "--out", str(out),
               "--json", "--no-progress"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["num_rows"] == 6 and "optimal_tau_lists" in summary

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["sample"]) for r in rows] == [(f"p{i}", s) for i in range(3) for s in range(2)]
    assert len({r["seed"] for r in rows}) == 6
    assert all(1 <= r["output_len"] <= 12 and r["finish_reason"] in ("stop", "length") for r in rows)
    assert all(r["messages"][-1] == {"role": "user", "content": texts[int(r["id"][1:])]} for r in rows)
    examples = load_jsonl(out)  # what `ltrsched train` reads
    assert [e.output_len for e in examples] == [r["output_len"] for r in rows]


def test_label_rejects_a_missing_prompt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["label", "--prompts", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x.jsonl")])
    assert rc == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_label_resume_keeps_written_rows_and_labels_only_the_rest(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    model = build_tiny_llama(tmp_path / "tiny")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"question number {i}"}) + "\n" for i in range(5)))
    out = tmp_path / "labels.jsonl"
    common = ["label", "--model", str(model), "--prompts", str(prompts), "--max-tokens", "8", "--max-model-len",
              "256", "--kv-cache-gib", "1", "--out", str(out), "--json", "--no-progress", "--chunk", "2"]
    assert main([*common, "--num-prompts", "3"]) == 0
    first = out.read_text().splitlines()
    assert [json.loads(x)["id"] for x in first] == ["p0", "p1", "p2"]  # chunks of 2 and 1, appended in order
    capsys.readouterr()
    assert main([*common, "--num-prompts", "5", "--resume"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    lines = out.read_text().splitlines()
    assert lines[:3] == first  # kept as written, not relabelled
    assert [json.loads(x)["id"] for x in lines[3:]] == ["p3", "p4"]
    assert [json.loads(x)["seed"] for x in lines] == [seed_of(0, i, 0) for i in range(5)]  # as one run's seeds
    assert summary["num_prompts"] == 5 and summary["num_rows"] == 5


def test_resume_names_a_corrupt_line_of_the_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "labels.jsonl"
    out.write_text(json.dumps({"id": "p0", "output_len": 3}) + "\n{not json\n")
    with pytest.raises(UserError, match=r"labels\.jsonl:2: not a label row"):
        done_ids(out, 1)


def test_natural_labels_sample_as_the_natural_benchmark() -> None:
    from ltrsched.bench.workload import NATURAL, NATURAL_MAX_TOKENS

    cfg = LabelConfig(natural=True, temperature=1.0, max_tokens=5)
    assert sampling_of(cfg) == (NATURAL.temperature, NATURAL.top_p, NATURAL.repetition_penalty, NATURAL_MAX_TOKENS)
    assert sampling_of(LabelConfig(temperature=0.5, top_p=0.8, repetition_penalty=1.2, max_tokens=9)) == (
        0.5, 0.8, 1.2, 9)


def test_a_kv_cache_larger_than_the_machine_is_one_line_naming_the_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE")  # the suite's 1 GiB would win over --kv-cache-gib
    model = build_tiny_llama(tmp_path / "tiny")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p0", "prompt": "hello"}) + "\n")
    out = tmp_path / "labels.jsonl"
    rc = main(["label", "--model", str(model), "--prompts", str(prompts), "--num-prompts", "1", "--max-tokens", "4",
               "--max-model-len", "256", "--kv-cache-gib", "100000", "--out", str(out), "--no-progress"])
    assert rc == 2  # a user error, not a traceback
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "reserve 100000 GiB of KV cache" in err and "smaller --kv-cache-gib" in err
    assert not out.exists() or out.read_text() == ""  # nothing half-written
