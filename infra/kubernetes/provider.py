"""A Kubernetes provider for the EKS cluster, authenticated like `kubectl` after
`aws eks update-kubeconfig`: a short-lived token from `aws eks get-token` on every connection, so
the kubeconfig holds no credential and the stack state holds no secret."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s


def kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": [
                "eks",
                "get-token",
                "--cluster-name",
                cluster_name,
                "--region",
                region,
                "--output",
                "json",
            ],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
                }
            ],
            "users": [{"name": cluster_name, "user": user}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
        }
    )


def cluster_provider(
    name: str,
    cluster_name: pulumi.Output[str],
    endpoint: pulumi.Output[str],
    certificate_authority: pulumi.Output[str],
    region: str,
) -> k8s.Provider:
    config = pulumi.Output.all(cluster_name, endpoint, certificate_authority).apply(
        lambda values: kubeconfig(values[0], values[1], values[2], region)
    )
    return k8s.Provider(name, kubeconfig=config)
