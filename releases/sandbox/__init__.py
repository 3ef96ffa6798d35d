"""The local sandbox: HAProxy, Prometheus and the demo app's slot processes on 127.0.0.1, all
under one state directory (docs/design.md)."""
