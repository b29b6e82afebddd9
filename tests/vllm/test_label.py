"""``ltrsched label`` writes JSONL the predictor's loader accepts, one row per prompt and seeded sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltrsched.cli import main
from ltrsched.predictor.data import load_jsonl
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
