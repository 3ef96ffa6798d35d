"""Metric sources: the protocol and its evidence, one module per kind (Prometheus, Azure Monitor,
Log Analytics)."""
