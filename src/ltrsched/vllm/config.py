"""The ``ltrsched`` block of vLLM's ``--additional-config``: the policy (a ``PolicyConfig``) and the plugin's own keys.

The block is flat JSON: ``{"policy": "ltr", "starvation_threshold": 0, "ranker": "/models/r", ...}``. Keys of
``PolicyConfig`` describe the policy exactly as the simulator and the benchmarks do; the rest are the plugin's.
Parsed once when the scheduler is built, so a typo fails engine start-up with the key's name instead of being
silently ignored for the whole run.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from ltrsched.errors import UserError
from ltrsched.policies.config import CONFIG_KEYS, PolicyConfig, from_json
from ltrsched.predictor.blend import MARGIN_Z
from ltrsched.predictor.online import LEARNING_RATE, RESIDUAL

CONFIG_KEY = "ltrsched"  # the key of --additional-config that holds this block
SCORING_MODES = ("auto", "on", "off")


@dataclass(slots=True)
class PluginConfig:
    """What ``--additional-config '{"ltrsched": {...}}'`` may set; every key is optional."""

    core: PolicyConfig = field(default_factory=PolicyConfig)  # the block's policy keys (policy, params, starvation...)
    preempt_for_waiting: bool = True  # evict lower-ranked running requests at max_num_seqs (vLLM issue #40004)
    ranker: str = ""  # ranker folder, or "pkg.module:factory"; "" = the cached default ranker
    scoring: str = "auto"  # score arrivals in the engine: auto (when the policy reads scores), on, off
    score_batch_size: int = 64  # prompts per ranker call
    score_timeout_s: float = 5.0  # a ranker call that takes longer is abandoned: that batch goes by arrival
    score_threads: int = 1  # torch threads of the in-engine ranker (more stall the engine's own OpenMP threads)
    trust_client_scores: bool = False  # use a client's vllm_xargs ltr_score (off: any client could jump the queue)
    client_score_token: str = ""  # if set, a client score counts only with vllm_xargs ltrsched_token equal to it
    step_log: str = ""  # JSONL path for the per-step log (ltrsched.steplog); "" = none
    served_log: str = ""  # JSONL path: one row per finished request (prompt, lengths, finish reason); "" = none
    served_log_hashed: bool = False  # store a hash and hashed n-grams instead of the prompt text
    served_log_max_mb: float = 256.0  # rotate the served log past this size (MB)
    served_log_backups: int = 3  # rotated served logs kept (path.1 ... path.N)
    online: bool = False  # learn the served model's lengths from finished requests and blend (vllm/online.py)
    online_state: str = ""  # .npz file the online ranker is loaded from at start-up and saved to at shutdown
    online_learning_rate: float = LEARNING_RATE  # the online ranker's SGD step
    online_residual: float = RESIDUAL  # the shipped score's weight inside the online model (0: a model of its own)
    online_window: int = 512  # recent finished requests the blend weight is chosen on
    online_min_rows: int = 100  # finished requests in the window before the online ranker gets any weight
    online_margin: float = MARGIN_Z  # standard errors by which the blend must beat the shipped ranker on the window
    online_n_features: int = 2**18  # the online ranker's hashed n-gram features (a power of two)
    metrics_interval_s: float = 5.0  # s between updates of the ltrsched_* Prometheus counters
    log_interval_s: float = 60.0  # s between one-line summaries in the engine log; 0 = none

    @property
    def wants_scores(self) -> bool:
        """Does the engine run the ranker on arrivals? ``auto``: when the policy's rank reads scores."""
        if self.scoring == "auto":
            return self.core.policy_class.reads_score
        return self.scoring == "on"

    def to_block(self) -> dict[str, Any]:
        """The flat JSON block that ``parse_config`` reads back (what benchmarks record and replay)."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "core"}
        return {**self.core.to_mapping(), **out}


_PLUGIN_TYPES = {k: v for k, v in typing.get_type_hints(PluginConfig).items() if k != "core"}
KNOWN_KEYS = (*CONFIG_KEYS, *_PLUGIN_TYPES)


def parse_config(additional_config: Any) -> PluginConfig:
    """Read ``additional_config["ltrsched"]``; an unknown key or a bad value raises ``UserError`` naming it."""
    block = (additional_config or {}).get(CONFIG_KEY, {}) if isinstance(additional_config, dict) else {}
    if block is None:
        block = {}
    if not isinstance(block, dict):
        raise UserError(f"--additional-config {CONFIG_KEY} must be a JSON object, e.g. "
                        f"'{{\"{CONFIG_KEY}\": {{\"policy\": \"ltr\"}}}}'; got {block!r}")
    where = f"--additional-config {CONFIG_KEY}"
    unknown = [k for k in block if k not in KNOWN_KEYS]
    if unknown:
        raise UserError(f"unknown key {CONFIG_KEY}.{unknown[0]!r} in --additional-config; known keys: "
                        f"{', '.join(KNOWN_KEYS)}")
    core = PolicyConfig.from_mapping({k: v for k, v in block.items() if k in CONFIG_KEYS}, where)
    own = {k: from_json(v, _PLUGIN_TYPES[k], f"{where}.{k}") for k, v in block.items() if k in _PLUGIN_TYPES}
    cfg = PluginConfig(core=core, **own)
    if cfg.scoring not in SCORING_MODES:
        raise UserError(f"{where}.scoring must be one of {', '.join(SCORING_MODES)}; got {cfg.scoring!r}")
    if cfg.score_batch_size < 1:
        raise UserError(f"{where}.score_batch_size must be >= 1; got {cfg.score_batch_size}")
    if cfg.metrics_interval_s <= 0 or cfg.log_interval_s < 0:
        raise UserError(f"{where}.metrics_interval_s must be > 0 and log_interval_s >= 0; got "
                        f"{cfg.metrics_interval_s} and {cfg.log_interval_s}")
    if cfg.served_log_max_mb <= 0 or cfg.served_log_backups < 0:
        raise UserError(f"{where}.served_log_max_mb must be > 0 and served_log_backups >= 0; got "
                        f"{cfg.served_log_max_mb} and {cfg.served_log_backups}")
    if cfg.score_threads < 1:
        raise UserError(f"{where}.score_threads must be >= 1; got {cfg.score_threads}")
    if cfg.score_timeout_s <= 0:
        raise UserError(f"{where}.score_timeout_s must be > 0; got {cfg.score_timeout_s}")
    _check_online(cfg, where)
    return cfg


def _check_online(cfg: PluginConfig, where: str) -> None:
    """The online keys: only with ``online`` on, only where the ranker scores arrivals, sane numbers."""
    if not cfg.online:
        if cfg.online_state:
            raise UserError(f"{where}.online_state is set but online is off; add \"online\": true")
        return
    if not cfg.wants_scores:
        raise UserError(f"{where}.online needs the in-engine ranker: scoring is {cfg.scoring!r} and policy "
                        f"{cfg.core.label!r} {'reads' if cfg.core.policy_class.reads_score else 'does not read'} "
                        "scores; use a score-reading policy (ltr) with scoring auto or on")
    if cfg.online_learning_rate <= 0:
        raise UserError(f"{where}.online_learning_rate must be > 0; got {cfg.online_learning_rate}")
    if cfg.online_window < 16 or not 0 <= cfg.online_min_rows <= cfg.online_window:
        raise UserError(f"{where}.online_window must be >= 16 and online_min_rows between 0 and it; got "
                        f"{cfg.online_window} and {cfg.online_min_rows}")
    if cfg.online_residual < 0:
        raise UserError(f"{where}.online_residual must be >= 0; got {cfg.online_residual}")
    if cfg.online_margin < 0:
        raise UserError(f"{where}.online_margin must be >= 0 (standard errors); got {cfg.online_margin}")
    n = cfg.online_n_features
    if n < 16 or n & (n - 1):
        raise UserError(f"{where}.online_n_features must be a power of two >= 16; got {n}")

