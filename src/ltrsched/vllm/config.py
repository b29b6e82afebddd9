"""The ``ltrsched`` block of vLLM's ``--additional-config``: which policy, starvation, preemption, ranker, step log.

Parsed once when the scheduler is built, so a typo fails engine start-up with the key's name instead of being
silently ignored for the whole run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ltrsched.errors import UserError

CONFIG_KEY = "ltrsched"  # the key of --additional-config that holds this block
SCORING_MODES = ("auto", "on", "off")
SCORE_POLICIES = frozenset({"ltr", "po", "classification"})  # policies whose rank reads Request.score


@dataclass(slots=True)
class PluginConfig:
    """What ``--additional-config '{"ltrsched": {...}}'`` may set; every key is optional."""

    policy: str = "ltr"  # a name from ltrsched.policies.POLICIES
    params: dict[str, Any] = field(default_factory=dict)  # keyword arguments of that policy
    starvation_threshold: int = 200  # scheduler steps unscheduled before promotion; <= 0 turns it off
    quantum: int = 10  # scheduled steps a promotion lasts
    starvation_preempts: bool = False  # may a promoted request evict a running one (True: the paper's fork)
    preempt_for_waiting: bool = True  # evict lower-ranked running requests at max_num_seqs (vLLM issue #40004)
    displace_margin: float = 0.0  # rank units a waiting request must win by to evict (hysteresis)
    ranker: str = ""  # ranker folder, or "pkg.module:factory"; "" = the cached default ranker
    scoring: str = "auto"  # score arrivals in the engine: auto (when the policy reads scores), on, off
    score_batch_size: int = 64  # prompts per ranker call
    step_log: str = ""  # JSONL path for the per-step log (ltrsched.steplog); "" = none


_FIELDS = {f.name: f for f in dataclasses.fields(PluginConfig)}


def _check_type(key: str, value: Any, default: Any) -> Any:
    """Coerce ints to floats where a float is expected; anything else of the wrong type is an error."""
    where = f"--additional-config {CONFIG_KEY}.{key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise UserError(f"{where} must be a string, got {value!r}")
        return value
    if not isinstance(value, dict):
        raise UserError(f"{where} must be a JSON object, got {value!r}")
    return dict(value)


def parse_config(additional_config: Any) -> PluginConfig:
    """Read ``additional_config["ltrsched"]``; an unknown key or a bad value raises ``UserError`` naming it."""
    block = (additional_config or {}).get(CONFIG_KEY, {}) if isinstance(additional_config, dict) else {}
    if block is None:
        block = {}
    if not isinstance(block, dict):
        raise UserError(f"--additional-config {CONFIG_KEY} must be a JSON object, e.g. "
                        f"'{{\"{CONFIG_KEY}\": {{\"policy\": \"ltr\"}}}}'; got {block!r}")
    defaults = PluginConfig()
    values: dict[str, Any] = {}
    for key, value in block.items():
        if key not in _FIELDS:
            raise UserError(f"unknown key {CONFIG_KEY}.{key!r} in --additional-config; known keys: "
                            f"{', '.join(_FIELDS)}")
        values[key] = _check_type(key, value, getattr(defaults, key))
    cfg = PluginConfig(**values)
    if cfg.scoring not in SCORING_MODES:
        raise UserError(f"--additional-config {CONFIG_KEY}.scoring must be one of {', '.join(SCORING_MODES)}; "
                        f"got {cfg.scoring!r}")
    if cfg.score_batch_size < 1:
        raise UserError(f"--additional-config {CONFIG_KEY}.score_batch_size must be >= 1; got {cfg.score_batch_size}")
    if cfg.quantum < 0:
        raise UserError(f"--additional-config {CONFIG_KEY}.quantum must be >= 0; got {cfg.quantum}")
    return cfg


def build_policy(cfg: PluginConfig) -> Any:
    """The policy object named by the config; errors name ``ltrsched.policy`` or ``ltrsched.params``."""
    from ltrsched.policies import POLICIES, make_policy

    if cfg.policy not in POLICIES:
        raise UserError(f"--additional-config {CONFIG_KEY}.policy {cfg.policy!r} is not a policy; known: "
                        f"{', '.join(sorted(POLICIES))}")
    try:
        return make_policy(cfg.policy, **cfg.params)
    except ValueError as exc:
        raise UserError(f"--additional-config {CONFIG_KEY}.params: {exc}") from None


def wants_scores(cfg: PluginConfig) -> bool:
    if cfg.scoring == "auto":
        return cfg.policy in SCORE_POLICIES
    return cfg.scoring == "on"
