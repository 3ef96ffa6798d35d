"""Traffic routers: the protocol the engine drives, and one module per kind (HAProxy, Cloudflare)."""
