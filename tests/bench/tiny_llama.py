"""The tiny random Llama the engine tests run on: the package's own builder (``ltrsched.vllm.models``)."""

from ltrsched.vllm.models import build_tiny_llama

__all__ = ["build_tiny_llama"]
