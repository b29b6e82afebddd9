"""The LTR scheduler inside vLLM V1: ``--scheduler-cls ltrsched.vllm.make_scheduler`` (vLLM 0.32-0.33).

vLLM is imported only when the factory runs, so ``import ltrsched.vllm`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import Any


def make_scheduler(**kwargs: Any) -> Any:
    """Factory vLLM calls with its scheduler keyword arguments; checks the vLLM version first."""
    from ltrsched.vllm.compat import check_version, installed_version

    check_version(installed_version())
    from ltrsched.vllm.scheduler import make_scheduler as _make

    return _make(**kwargs)


__all__ = ["make_scheduler"]
