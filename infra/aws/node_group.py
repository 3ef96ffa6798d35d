"""The managed node group: nodes in private subnets, launched from a template that requires IMDSv2
with a hop limit of 1 (a pod cannot reach the node's instance metadata and borrow its role), with
encrypted root volumes, and a node role holding only what the kubelet needs. The VPC CNI's own
permissions go to its service account (IAM roles for service accounts), not to every node.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.iam import service_account_trust_policy, service_trust_policy

# What the kubelet needs: join the cluster and pull images. Nothing else.
NODE_POLICIES = {
    "worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "ecr-read": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
}
CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"


@dataclass(frozen=True)
class NodeGroupArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    subnet_ids: Sequence[pulumi.Input[str]]
    instance_types: Sequence[str]
    min_size: int
    desired_size: int
    max_size: int
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    metadata_hop_limit: int  # 1: a pod cannot reach the node's instance metadata


class NodeGroup(pulumi.ComponentResource):
    def __init__(self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__("platform:aws:NodeGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        role = aws.iam.Role(
            f"{name}-role", assume_role_policy=service_trust_policy("ec2.amazonaws.com"), opts=child
        )
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-{kind}", role=role.name, policy_arn=arn, opts=child)
            for kind, arn in NODE_POLICIES.items()
        ]
        cni_role = aws.iam.Role(
            f"{name}-vpc-cni-role",
            assume_role_policy=service_account_trust_policy(
                args.oidc_provider_arn, args.oidc_issuer, "kube-system", "aws-node"
            ),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(f"{name}-vpc-cni", role=cni_role.name, policy_arn=CNI_POLICY, opts=child)
        aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=args.cluster_name,
            addon_name="vpc-cni",
            service_account_role_arn=cni_role.arn,
            # The CNI's network policy agent: without it, NetworkPolicies (the API namespace's
            # default deny) are accepted by the API server and enforced by nobody.
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            resolve_conflicts_on_update="OVERWRITE",
            opts=child,
        )

        template = aws.ec2.LaunchTemplate(
            f"{name}-template",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=args.metadata_hop_limit,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=50, volume_type="gp3", encrypted="true", delete_on_termination="true"
                    ),
                )
            ],
            update_default_version=True,
            opts=child,
        )
        aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=args.cluster_name,
            version=args.kubernetes_version,
            node_role_arn=role.arn,
            subnet_ids=list(args.subnet_ids),
            instance_types=list(args.instance_types),
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=args.min_size, desired_size=args.desired_size, max_size=args.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            # The cluster autoscaler owns the current size; `pulumi up` keeps the bounds only.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=attachments, ignore_changes=["scalingConfig.desiredSize"]
            ),
        )
        self.register_outputs({})
