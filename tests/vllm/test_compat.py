"""The plugin's start-up check that vLLM's Scheduler has the private members it uses (version: test_compat_config)."""

from __future__ import annotations

import pytest

from ltrsched.errors import UserError
from ltrsched.vllm.compat import check_members


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
