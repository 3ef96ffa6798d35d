"""The customer-managed key that envelope-encrypts Kubernetes secrets in etcd, with an explicit key
policy: its administrators manage it and the EKS cluster's role uses it, and nobody else, not even
the account's root, is granted anything (AWS's default policy gives `kms:*` to the whole account,
which lets any IAM policy in the account use or manage the key)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

# Manage, never use: administrators cannot encrypt or decrypt with the key.
ADMINISTRATION_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]
# What EKS needs for envelope encryption of secrets (the cluster role calls KMS).
USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ListGrants"]


def key_policy(administrators: Sequence[str], users: Sequence[str]) -> str:
    """The key policy: administrators manage the key, users (the EKS cluster role) use it and may
    create grants only for AWS resources. KMS refuses a policy that would lock its caller out, so
    `pulumi up` runs as one of the administrators."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "KeyAdministration",
                    "Effect": "Allow",
                    "Principal": {"AWS": list(administrators)},
                    "Action": ADMINISTRATION_ACTIONS,
                    "Resource": "*",
                },
                {
                    "Sid": "EksSecretsEncryption",
                    "Effect": "Allow",
                    "Principal": {"AWS": list(users)},
                    "Action": USE_ACTIONS,
                    "Resource": "*",
                },
                {
                    "Sid": "EksGrantsForAwsResources",
                    "Effect": "Allow",
                    "Principal": {"AWS": list(users)},
                    "Action": "kms:CreateGrant",
                    "Resource": "*",
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
            ],
        }
    )


class SecretsKey(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cluster_name: str,
        *,
        rotation: bool,
        protect: bool,
        administrators: Sequence[str],
        users: Sequence[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("platform:aws:SecretsKey", name, None, opts)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Envelope encryption of Kubernetes secrets in {cluster_name}",
            enable_key_rotation=rotation,
            # The longest waiting period: a key scheduled for deletion by mistake can be recovered.
            deletion_window_in_days=30,
            policy=key_policy(administrators, users),
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
