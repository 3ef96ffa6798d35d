"""Kubernetes components: the provider for the EKS cluster and the API's blue/green workloads."""
