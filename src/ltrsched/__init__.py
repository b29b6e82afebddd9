"""ltrsched: shortest-job-first LLM serving with a learned output-length ranker."""

from ltrsched.request import Request, Status

__all__ = ["Request", "Status"]
__version__ = "0.1.0"
