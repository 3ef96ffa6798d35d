"""Slot pairs: the protocol, one module per kind (sandbox processes, App Service, Kubernetes
colours), the HTTP probe they share and the image tag grammar."""
