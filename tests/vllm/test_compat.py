"""The supported-version check of the vLLM plugin (0.32-0.33) and its member check."""

from __future__ import annotations

import pytest

from ltrsched.errors import UserError
from ltrsched.vllm.compat import check_members, check_version, parse_version


@pytest.mark.parametrize("version", ["0.32.0", "0.32.5+cpu", "0.33.0", "0.33.1rc2.dev7"])
def test_supported_versions_pass(version: str) -> None:
    assert check_version(version) in {(0, 32), (0, 33)}


@pytest.mark.parametrize("version", ["0.31.9", "0.34.0", "1.0.0", "0.4.1"])
def test_unsupported_version_gives_a_clear_error(version: str) -> None:
    with pytest.raises(UserError) as exc:
        check_version(version)
    msg = str(exc.value)
    assert f"found {version}" in msg and "0.32-0.33" in msg
    assert "vllm>=0.32,<0.34" in msg and "priority-only" in msg  # says how to fix it


def test_unreadable_version_is_a_user_error() -> None:
    with pytest.raises(UserError, match="cannot read the vLLM version 'dev'"):
        parse_version("dev")


def test_installed_vllm_is_supported() -> None:
    pytest.importorskip("vllm")
    from ltrsched.vllm.compat import installed_version

    assert check_version(installed_version()) in {(0, 32), (0, 33)}


def test_member_check_names_what_is_missing() -> None:
    class Renamed:
        """A Scheduler from a future vLLM that renamed _preempt_request and dropped ``waiting``."""

        running = ()
        max_num_running_reqs = 4
        vllm_config = None
        policy = None

        def schedule(self) -> None: ...
        def add_request(self) -> None: ...
        def finish_requests(self) -> None: ...
        def update_from_output(self) -> None: ...

    with pytest.raises(UserError, match=r"lacks _preempt_request, waiting"):
        check_members(Renamed())


def test_member_check_accepts_vllms_scheduler() -> None:
    pytest.importorskip("vllm")
    from vllm.v1.core.sched.scheduler import Scheduler

    from ltrsched.vllm.compat import REQUIRED_ATTRS, REQUIRED_MEMBERS

    for name in REQUIRED_MEMBERS:
        assert callable(getattr(Scheduler, name)), name
    assert REQUIRED_ATTRS  # instance attributes are checked on a built scheduler (tests/vllm/test_plugin_sched.py)
