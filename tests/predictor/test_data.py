import json

import pytest

from ltrsched.errors import UserError
from ltrsched.predictor.data import LengthExample, load_jsonl, load_jsonl_report, parse_row, split_of
from ltrsched.predictor.tokens import count_tokens

GOOD = [
    {"prompt": "Write a haiku about the sea.", "output_len": 17},
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                  {"role": "user", "content": "Tell me a joke"}], "output": "Why did the chicken cross the road?"},
]
BAD = [  # (row, what the message must say)
    ({"prompt": 5, "output_len": 3}, "'prompt' must be a string"),
    ({"prompt": "x", "output_len": -1}, "negative"),
    ({"prompt": "x", "output_len": "12"}, "'output_len' must be an integer"),
    ({"prompt": "x", "output_len": True}, "'output_len' must be an integer"),
    ({"prompt": "   ", "output_len": 3}, "'prompt' is empty"),
    ({"output_len": 3}, "missing 'prompt'"),
    ({"prompt": "x"}, "missing 'output_len'"),
    ({"messages": [{"role": "user"}], "output_len": 3}, "'messages' must be"),
    ({"prompt": "x", "output_len": 3, "finish_reason": 1}, "'finish_reason' must be a string"),
    ({"prompt_sha256": "ab12", "features": [3, 9], "output_len": 3}, "a hashed served-log row .*holds no prompt"),
]


def _write(path, rows, raw_lines=()):
    with open(path, "wb") as fh:
        for row in rows:
            fh.write((json.dumps(row) + "\n").encode())
        for line in raw_lines:
            fh.write(line)


def test_good_rows_and_llama3_lengths(tmp_path):
    path = tmp_path / "log.jsonl"
    _write(path, GOOD)
    ex = load_jsonl(path)
    assert [e.output_len for e in ex] == [17, count_tokens(["Why did the chicken cross the road?"])[0]]
    assert ex[0].prompt_len == count_tokens(["Write a haiku about the sea."])[0] == 8  # Write a ha iku about the sea .
    assert isinstance(ex[1].prompt, list) and ex[1].id == "line2"
    assert isinstance(ex[0], LengthExample)


@pytest.mark.parametrize(("row", "message"), BAD)
def test_bad_row_names_file_and_line(tmp_path, row, message):
    path = tmp_path / "log.jsonl"
    _write(path, [*GOOD, row])
    with pytest.raises(UserError, match=rf"log\.jsonl:3: .*{message}"):
        load_jsonl(path)


def test_invalid_utf8_and_bad_json_name_their_line(tmp_path):
    path = tmp_path / "log.jsonl"
    _write(path, GOOD, [b'{"prompt": "caf\xe9", "output_len": 3}\n'])
    with pytest.raises(UserError, match=r":3: invalid UTF-8"):
        load_jsonl(path)
    _write(path, GOOD, [b'{"prompt": \n'])
    with pytest.raises(UserError, match=r":3: "):
        load_jsonl(path)


def test_skip_bad_counts_every_skipped_row(tmp_path, capsys):
    path = tmp_path / "log.jsonl"
    _write(path, [GOOD[0], BAD[0][0], GOOD[1], BAD[1][0]], [b"\xff\xfe\n", b"\n"])
    examples, bad = load_jsonl_report(path, skip_bad=True)
    assert len(examples) == 2
    assert [b.line for b in bad] == [2, 4, 5]
    load_jsonl(path, skip_bad=True)
    assert "skipped 3 bad row(s)" in capsys.readouterr().err


def test_split_is_deterministic_and_keeps_conversation_parts_together():
    assert split_of("QWJhYvA_0") == split_of("QWJhYvA_1") == split_of("QWJhYvA")
    counts = {"train": 0, "val": 0, "test": 0}
    for i in range(2000):
        counts[split_of(f"conv{i}")] += 1
    assert 1500 < counts["train"] < 1700 and 120 < counts["test"] < 280


def test_fixture_rows_are_real_sharegpt(sharegpt_small):
    train, held_out = sharegpt_small
    assert len(train) == 320 and len(held_out) == 160
    assert {split_of(e.id.split(":")[0]) for e in held_out} == {"test"}


def test_parse_row_without_output_for_prompt_sets():
    assert parse_row({"prompt": "hi"}, need_output=False) == ("hi", None, None)
    with pytest.raises(ValueError, match="missing 'output_len'"):
        parse_row({"prompt": "hi"})
    with pytest.raises(ValueError, match="'prompt' is empty"):
        parse_row({"prompt": " "}, need_output=False)


def test_label_reads_prompt_files_with_the_training_row_checker(tmp_path):
    import subprocess
    import sys

    from ltrsched.vllm.label import read_prompt_file

    path = tmp_path / "prompts.jsonl"
    _write(path, [{"id": "a", "prompt": "Write a haiku"}, GOOD[1]])
    rows = read_prompt_file(path)
    assert rows[0] == ("a", [{"role": "user", "content": "Write a haiku"}])
    assert rows[1][0] == "line2" and rows[1][1][-1] == {"role": "user", "content": "Tell me a joke"}
    _write(path, [{"id": "a", "prompt": "ok"}, {"messages": [{"role": "user"}]}])
    with pytest.raises(UserError, match=r"prompts\.jsonl:2: 'messages' must be"):
        read_prompt_file(path)
    code = "import sys, ltrsched.vllm.label; sys.exit('ltrsched.bench' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0  # label needs no bench code
