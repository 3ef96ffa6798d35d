"""Adapters the engine drives, one folder per role: `routers/`, `slots/`, `metrics/`, `secrets/`,
`backups/`, each with its `protocol.py` beside the implementations; `clients/` holds what cloud
adapters share (retries, Azure credentials). `factory.connect` builds one service's adapters
(`bundle.Targets`) from its topology; the topology's models are the adapters' specs
(`HAProxyRouterSpec` describes what `routers.haproxy.HAProxyRouter` drives).
"""
