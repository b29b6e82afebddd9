"""One description of "a policy as a host runs it", built by every host: the simulator, the vLLM plugin, benchmarks.

A ``PolicyConfig`` names a registered policy, its own parameters, and the core's starvation prevention and
hysteresis. It is written two ways, both parsed here and coerced by each field's *declared* type:

- a spec string, ``name[:key=value...]`` (the CLI): ``ltr:starvation_threshold=0``, ``mlfq:growth=2``;
- a mapping of JSON values (the plugin's ``--additional-config``): ``{"policy": "ltr", "quantum": 5}``.

Keys that are not host keys are the policy's own parameters (fields of its dataclass).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ltrsched.errors import UserError
from ltrsched.policies.base import Policy
from ltrsched.policies.ranked import RankedRequests, StarvationConfig
from ltrsched.policies.registry import POLICIES


@dataclass(slots=True)
class PolicyConfig:
    policy: str = "ltr"  # registered policy name (ltrsched.policies.POLICIES)
    params: dict[str, Any] = field(default_factory=dict)  # the policy's own keyword arguments
    starvation_threshold: int | None = None  # steps unscheduled before promotion; 0 = off; None = the policy's default
    quantum: int = 10  # scheduled steps a promotion lasts
    starvation_preempts: bool = False  # may a promoted request evict a running one (True: the paper's fork)
    displace_margin: float = 0.0  # rank units a waiting request must win by to evict a running one (hysteresis)
    label: str = ""  # how reports name it; "" = the spec it was parsed from, or the policy name

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise UserError(f"unknown policy {self.policy!r}; known: {', '.join(POLICIES.names())}")
        if self.starvation_threshold is None:
            self.starvation_threshold = POLICIES.get(self.policy).starvation_threshold
        if self.quantum < 0 or (self.quantum == 0 and self.starvation_threshold > 0):
            # 0 with promotions on would switch them off silently: say so instead
            raise UserError(f"policy {self.policy!r}: quantum must be >= 1 while starvation_threshold > 0 "
                            f"(got {self.quantum}; set starvation_threshold=0 to turn promotions off)")
        self.label = self.label or self.policy
        self.make_policy()  # fail now, naming a bad parameter

    @property
    def policy_class(self) -> type[Policy]:
        return POLICIES.get(self.policy)

    def make_policy(self) -> Policy:
        try:
            return self.policy_class(**self.params)
        except TypeError as exc:
            raise UserError(f"bad parameters for policy {self.policy!r}: {exc}") from None

    def starvation(self) -> StarvationConfig:
        return StarvationConfig(int(self.starvation_threshold or 0), self.quantum, self.starvation_preempts)

    def build(self) -> RankedRequests:
        """A fresh policy object and the ``RankedRequests`` that every host drives."""
        return RankedRequests(self.make_policy(), self.starvation(), self.displace_margin)

    def to_mapping(self) -> dict[str, Any]:
        """The plugin's JSON form (``label`` left out: it names a run, not a behaviour)."""
        out = dataclasses.asdict(self)
        del out["label"]
        return out

    @classmethod
    def parse(cls, spec: str) -> PolicyConfig:
        """``name[:key=value...]``; each value is coerced by its field's declared type."""
        name, *pairs = spec.strip().split(":")
        if name not in POLICIES:
            raise UserError(f"unknown policy {name!r} in {spec!r}; known: {', '.join(POLICIES.names())}")
        values: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for pair in pairs:
            key, eq, text = pair.partition("=")
            if not eq:
                raise UserError(f"policy spec {spec!r}: {pair!r} is not key=value")
            if key in HOST_KEYS:
                values[key] = from_text(text, HOST_FIELD_TYPES[key], f"{spec!r}: {key}")
            else:
                params[key] = from_text(text, _param_type(name, key, spec), f"{spec!r}: {key}")
        return cls(policy=name, params=params, label=spec.strip(), **values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "policy config") -> PolicyConfig:
        """From JSON values; unknown keys are an error that lists the known ones."""
        unknown = [k for k in values if k not in CONFIG_KEYS]
        if unknown:
            raise UserError(f"unknown key {where}.{unknown[0]!r}; known keys: {', '.join(CONFIG_KEYS)}")
        out = {k: from_json(v, CONFIG_FIELD_TYPES[k], f"{where}.{k}") for k, v in values.items()}
        name = out.get("policy", "ltr")
        if name not in POLICIES:
            raise UserError(f"{where}.policy {name!r} is not a policy; known: {', '.join(POLICIES.names())}")
        out["params"] = {k: from_json(v, _param_type(name, k, f"{where}.params"), f"{where}.params.{k}")
                         for k, v in (out.get("params") or {}).items()}
        return cls(**out)


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}


CONFIG_FIELD_TYPES = _field_types(PolicyConfig)
CONFIG_KEYS = tuple(k for k in CONFIG_FIELD_TYPES if k != "label")  # what the plugin's JSON block may hold
HOST_KEYS = ("starvation_threshold", "quantum", "starvation_preempts", "displace_margin")  # spec keys for the host
HOST_FIELD_TYPES = {k: CONFIG_FIELD_TYPES[k] for k in HOST_KEYS}


def _param_type(policy: str, key: str, where: str) -> Any:
    types = _field_types(POLICIES.get(policy))
    if key not in types:
        known = ", ".join([*HOST_KEYS, *types]) or "none"
        raise UserError(f"{where}: policy {policy!r} has no parameter {key!r}; known: {known}")
    return types[key]


def _is_optional(typ: Any) -> bool:
    return typing.get_origin(typ) in (typing.Union, types.UnionType) and type(None) in typing.get_args(typ)


def _plain(typ: Any) -> Any:
    """``X | None`` -> X; ``dict[str, Any]`` -> dict; anything else unchanged."""
    if _is_optional(typ):
        typ = next(a for a in typing.get_args(typ) if a is not type(None))
    return typing.get_origin(typ) or typ


def from_text(text: str, typ: Any, where: str) -> Any:
    """A spec value as the declared type: int, float, bool (true/false/1/0/yes/no) or str."""
    plain = _plain(typ)
    try:
        if plain is bool:
            lowered = text.strip().lower()
            if lowered not in _BOOLS:
                raise ValueError(text)
            return _BOOLS[lowered]
        if plain in (int, float, str):
            return plain(text)
    except ValueError:
        raise UserError(f"{where} must be {_TYPE_WORDS.get(plain, plain)}, got {text!r}") from None
    raise UserError(f"{where} cannot be set in a spec string (it is a {plain.__name__})")


def from_json(value: Any, typ: Any, where: str) -> Any:
    """A JSON value checked against the declared type; ints are accepted where a float is declared."""
    plain = _plain(typ)
    if value is None and _is_optional(typ):
        return None
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str),
          dict: lambda v: isinstance(v, dict)}.get(plain)
    if ok is None or not ok(value):
        raise UserError(f"{where} must be {_TYPE_WORDS.get(plain, plain)}, got {value!r}")
    return float(value) if plain is float else value


_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a JSON object"}
