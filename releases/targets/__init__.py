"""Adapters the engine drives: traffic routers, slot pairs and metric sources.

The engine only knows the protocols in `base`; `connect` picks the implementations a topology
names. Cloud adapters (Cloudflare, App Service, Kubernetes, Azure Monitor) join here.
"""
