"""What the ranker reads: one clean string per request, whatever arrives (text, chat messages, templated text).

In the vLLM engine the prompt is recovered by detokenizing ``prompt_token_ids``, so it carries the served model's
chat template, e.g. SmolLM2's ChatML::

    <|im_start|>system\\nYou are a helpful AI assistant...<|im_end|>\\n
    <|im_start|>user\\nHi!<|im_end|>\\n<|im_start|>assistant\\n

Llama-3 (``<|start_header_id|>user<|end_header_id|>``), Mistral (``[INST] ... [/INST]``) and plain ``User:`` forms
appear too. ``prompt_format="last-user"`` (the default, how the ranker is trained on ShareGPT first turns) keeps
only the last user message with the template removed, so the same request scores the same through the API, the
simulator and the engine. ``"all"`` keeps every message as ``role: content`` lines.
"""

from __future__ import annotations

import re
from typing import Any

PROMPT_FORMATS = ("last-user", "all")
MAX_CHARS = 20_000  # longer prompts keep their first and last MAX_CHARS/2: scoring cost stays bounded, and a
# reader of the tail (head+tail rankers) still sees where a long prompt's instruction usually is

_CHATML = re.compile(r"<\|im_start\|>(\w+)\s*\n?(.*?)(?:<\|im_end\|>|$)", re.S)
_LLAMA3 = re.compile(r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\s*(.*?)(?:<\|eot_id\|>|$)", re.S)
_INST = re.compile(r"\[INST\](.*?)\[/INST\]", re.S)
_SPECIAL = re.compile(r"<\|[a-z_]+\|>|</?s>|<(?:bos|eos|pad)>")


def _messages_from_template(text: str) -> list[dict[str, str]] | None:
    for pattern in (_CHATML, _LLAMA3):
        found = pattern.findall(text)
        if found:
            return [{"role": role, "content": content.strip()} for role, content in found]
    found = _INST.findall(text)
    if found:
        return [{"role": "user", "content": content.strip()} for content in found]
    return None


def _as_messages(prompt: Any) -> list[dict[str, str]] | None:
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        return [{"role": str(m.get("role", "user")), "content": _as_text(m.get("content", ""))} for m in prompt]
    return None


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):  # OpenAI content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(_as_text(p.get("text", "")) if isinstance(p, dict) else _as_text(p) for p in value)
    return value if isinstance(value, str) else str(value)


def _cut(text: str) -> str:
    half = MAX_CHARS // 2
    return text if len(text) <= MAX_CHARS else text[:half] + "\n" + text[-(MAX_CHARS - half - 1):]


def head_tail(text: str, head: int, tail: int) -> str:
    """The first ``head`` and last ``tail`` characters (tail 0: head only), joined by a newline."""
    if tail <= 0 or len(text) <= head + tail:
        return text[:head] if tail <= 0 else text
    return text[:head] + "\n" + text[-tail:]


def normalize(prompt: Any, prompt_format: str = "last-user") -> str:
    """One string for the ranker; never raises. Non-text becomes ``str(x)`` (None -> ""), templates are removed."""
    messages = _as_messages(prompt)
    if messages is None:
        text = _as_text(prompt)
        messages = _messages_from_template(text) if "<|" in text or "[INST]" in text else None
        if messages is None:
            return _cut(_SPECIAL.sub("", text)).strip()
    if prompt_format == "all":
        text = "\n".join(f"{m['role']}: {m['content']}" for m in messages if m["role"] != "system")
    else:
        users = [m["content"] for m in messages if m["role"] == "user"]
        text = users[-1] if users else (messages[-1]["content"] if messages else "")
    return _cut(_SPECIAL.sub("", text)).strip()


def as_messages(prompt: Any) -> list[dict[str, str]]:
    """Chat messages for an engine's chat API: a string becomes one user turn; messages are copied as strings."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
