from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ltrsched.policies.base import Policy
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request


@register_policy
@dataclass(slots=True)
class Classification(Policy):
    """S3-style: the predicted length class (``score`` = class index, higher = shorter), then arrival.

    Unlike ``ltr``, scores are floored to whole classes, so requests in one class are served FCFS.
    """

    name: ClassVar[str] = "classification"
    reads_score: ClassVar[bool] = True

    def rank(self, req: Request) -> float:
        return -float(math.floor(req.score))
