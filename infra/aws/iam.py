"""IAM helpers shared by the AWS components: trust policies written once."""

from __future__ import annotations

import json

import pulumi


def service_trust_policy(service: str) -> str:
    """A role only the named AWS service may assume (for example `eks.amazonaws.com`)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def service_account_trust_policy(
    oidc_provider_arn: pulumi.Input[str], oidc_issuer: pulumi.Input[str], namespace: str, name: str
) -> pulumi.Output[str]:
    """A role only one Kubernetes service account may assume, through the cluster's OIDC provider
    (IAM roles for service accounts): the token's `sub` and `aud` are both pinned."""

    def policy(arn: str, issuer: str) -> str:
        host = issuer.removeprefix("https://")
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": arn},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{host}:sub": f"system:serviceaccount:{namespace}:{name}",
                                f"{host}:aud": "sts.amazonaws.com",
                            }
                        },
                    }
                ],
            }
        )

    return pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(lambda args: policy(args[0], args[1]))
