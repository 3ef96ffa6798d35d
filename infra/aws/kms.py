"""The customer-managed key that envelope-encrypts Kubernetes secrets in etcd."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


class SecretsKey(pulumi.ComponentResource):
    def __init__(
        self, name: str, cluster_name: str, *, rotation: bool, protect: bool, opts: pulumi.ResourceOptions
    ) -> None:
        super().__init__("platform:aws:SecretsKey", name, None, opts)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Envelope encryption of Kubernetes secrets in {cluster_name}",
            enable_key_rotation=rotation,
            # The longest waiting period: a key scheduled for deletion by mistake can be recovered.
            deletion_window_in_days=30,
            # Losing the key makes every secret in the cluster unreadable.
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{cluster_name}-secrets",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.key_arn = key.arn
        self.register_outputs({"keyArn": key.arn})
