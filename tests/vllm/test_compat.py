"""The plugin's start-up checks: which vLLM releases it accepts, and that vLLM's Scheduler has what it uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrsched.errors import UserError
from ltrsched.vllm.compat import check_members, check_version, parse_version


@pytest.mark.parametrize(("version", "major_minor"), [
    ("0.32.0", (0, 32)), ("0.33.1+cpu", (0, 33)), ("0.32.0rc1.dev5", (0, 32)), (" 1.0", (1, 0)), ("0.4.1", (0, 4)),
])
def test_parse_version_reads_major_and_minor(version: str, major_minor: tuple[int, int]) -> None:
    assert parse_version(version) == major_minor


@pytest.mark.parametrize("version", ["0.31.2", "0.34.0"])
def test_releases_next_to_the_range_are_refused_naming_it(version: str) -> None:
    with pytest.raises(UserError, match=rf"supports vLLM 0\.32-0\.33, found {version}.*vllm>=0\.32,<0\.34"):
        check_version(version)


@pytest.mark.vllm
def test_vllms_own_scheduler_has_every_member_the_plugin_uses(tiny_llama_dir: Path) -> None:
    from ltrsched.vllm.harness import HarnessConfig, build_scheduler

    scheduler = build_scheduler(HarnessConfig(str(tiny_llama_dir), plugin=False))
    check_members(scheduler)  # raises, naming them, if any is missing

    class Renamed(type(scheduler)):  # type: ignore[misc]
        """A future vLLM that renamed _preempt_request."""

        _preempt_request = None

    scheduler.__class__ = Renamed
    with pytest.raises(UserError, match=r"Scheduler lacks _preempt_request, which ltrsched's plugin needs"):
        check_members(scheduler)


@pytest.mark.vllm  # the message names the installed vLLM's version
def test_member_check_names_every_missing_member() -> None:
    class Stub:
        """A Scheduler without _preempt_request and ``waiting``."""

        running = ()
        max_num_running_reqs = 4
        vllm_config = None
        policy = None

        def schedule(self) -> None: ...
        def add_request(self) -> None: ...
        def finish_requests(self) -> None: ...
        def _free_request(self) -> None: ...
        def update_from_output(self) -> None: ...

    with pytest.raises(UserError, match=r"lacks _preempt_request, waiting, which"):
        check_members(Stub())
