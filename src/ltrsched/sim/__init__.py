"""A fast simulator of a continuous-batching engine (vLLM V1 semantics) driving the shared policy objects.

``engine.Engine`` steps (schedule -> cost -> postprocess) with ``policies.RankedRequests`` ordering every step;
``blocks`` is the KV pool, ``cost`` the step-time model, ``workload`` the paper's workloads, ``scores`` the ranker
or noise-model scores, ``report``/``plots`` the outputs.
"""
