"""The EKS cluster: private endpoint on, public endpoint only for configured CIDRs, every
control-plane log type, secrets envelope-encrypted with a customer-managed key, `API`
authentication (access entries, no aws-auth ConfigMap), and an OIDC provider so pods get IAM roles
through their service accounts instead of the nodes' role.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.iam import service_trust_policy

CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def cluster_role_name(cluster_name: str) -> str:
    """The control plane's role is named, so the secrets key's policy can name it before it exists
    in a preview (its ARN is then known: account and name)."""
    return f"{cluster_name}-eks-cluster"


def cluster_role_arn(cluster_name: str, account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{cluster_role_name(cluster_name)}"


class ClusterRole(pulumi.ComponentResource):
    """The role the EKS control plane assumes. Created before the secrets key, whose policy grants
    it (and only it, besides the key's administrators) the use of the key."""

    def __init__(self, name: str, cluster_name: str, opts: pulumi.ResourceOptions) -> None:
        super().__init__("platform:aws:ClusterRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            name=cluster_role_name(cluster_name),
            assume_role_policy=service_trust_policy("eks.amazonaws.com"),
            opts=child,
        )
        self.policy = aws.iam.RolePolicyAttachment(
            f"{name}-role-policy",
            role=self.role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child,
        )
        self.register_outputs({"roleArn": self.role.arn})


@dataclass(frozen=True)
class ClusterArgs:
    name: str  # the EKS cluster's name, `<namePrefix>-<stack>`
    kubernetes_version: str
    subnet_ids: Sequence[pulumi.Input[str]]
    public_access_cidrs: Sequence[str]
    admin_role_arn: str
    secrets_key_arn: pulumi.Input[str]
    role: ClusterRole
    log_retention_days: int
    protect: bool  # Pulumi `protect`: deleting the cluster must be a deliberate act


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__("platform:aws:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role, policy = args.role.role, args.role.policy
        # Created here, not by EKS, so that the control-plane logs have a retention period.
        logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.name}/cluster",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=args.name,
            version=args.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=True,
                public_access_cidrs=list(args.public_access_cidrs),
            ),
            enabled_cluster_log_types=CONTROL_PLANE_LOG_TYPES,
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # Who administers the cluster is an access entry below, not whoever ran `pulumi up`.
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.secrets_key_arn),
                resources=["secrets"],
            ),
            deletion_protection=True,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[policy, logs]),
        )
        admin = aws.eks.AccessEntry(
            f"{name}-admin",
            cluster_name=cluster.name,
            principal_arn=args.admin_role_arn,
            type="STANDARD",
            opts=child,
        )
        aws.eks.AccessPolicyAssociation(
            f"{name}-admin-policy",
            cluster_name=cluster.name,
            principal_arn=admin.principal_arn,
            policy_arn=CLUSTER_ADMIN_POLICY,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=child,
        )
        issuer = cluster.identities.apply(_oidc_issuer)
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            opts=child,
        )

        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.apply(lambda ca: ca.data or "")
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer
        self.register_outputs({"clusterName": cluster.name})


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    """The cluster's OIDC issuer URL, which EKS reports once the cluster exists."""
    issuers = [oidc.issuer for identity in identities for oidc in identity.oidcs or [] if oidc.issuer]
    if not issuers:
        raise ValueError("the EKS cluster reports no OIDC issuer")
    return issuers[0]
