from __future__ import annotations

from ltrsched.policies.base import Policy
from ltrsched.registry import Registry

POLICIES: Registry[type[Policy]] = Registry("policy")


def register_policy(cls: type[Policy]) -> type[Policy]:
    """Class decorator: registers ``cls`` under ``cls.name``."""
    return POLICIES.register(cls.name)(cls)
