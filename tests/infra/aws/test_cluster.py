"""The EKS cluster and its node group, per stack: the security settings one by one."""

from __future__ import annotations

import json

from infra.aws.cluster import CLUSTER_ADMIN_POLICY, CONTROL_PLANE_LOG_TYPES
from infra.offline import Plan

CLUSTER = "aws:eks/cluster:Cluster"


def test_the_public_endpoint_admits_only_the_configured_cidrs(plan: Plan) -> None:
    vpc_config = plan.one(CLUSTER).inputs["vpcConfig"]
    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert "0.0.0.0/0" not in vpc_config["publicAccessCidrs"]


def test_the_cluster_runs_in_the_private_subnets(plan: Plan) -> None:
    subnets = plan.one(CLUSTER).inputs["vpcConfig"]["subnetIds"]
    assert subnets and all("private" in subnet for subnet in subnets)


def test_every_control_plane_log_type_is_enabled(plan: Plan) -> None:
    assert sorted(plan.one(CLUSTER).inputs["enabledClusterLogTypes"]) == sorted(
        ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    )
    assert len(CONTROL_PLANE_LOG_TYPES) == 5


def test_secrets_are_encrypted_with_a_rotating_protected_key(plan: Plan) -> None:
    encryption = plan.one(CLUSTER).inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    key = plan.one("aws:kms/key:Key")
    assert encryption["provider"]["keyArn"].endswith(key.name)
    assert key.inputs["enableKeyRotation"] is True
    assert key.protect is True


def test_authentication_is_api_mode_with_an_explicit_admin_entry(plan: Plan) -> None:
    access = plan.one(CLUSTER).inputs["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    entry = plan.one("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"] == "arn:aws:iam::123456789012:role/platform-admin"
    association = plan.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert association.inputs["policyArn"] == CLUSTER_ADMIN_POLICY


def test_the_cluster_has_an_oidc_provider_for_service_account_roles(plan: Plan) -> None:
    oidc = plan.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert oidc.inputs["url"].startswith("https://oidc.eks.")


def test_the_version_comes_from_config_and_the_cluster_is_protected(plan: Plan) -> None:
    cluster = plan.one(CLUSTER)
    assert cluster.inputs["version"] == "1.34"
    assert cluster.protect is True and cluster.inputs["deletionProtection"] is True


def test_nodes_require_imdsv2_with_hop_limit_1(plan: Plan) -> None:
    metadata = plan.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["metadataOptions"]
    assert metadata["httpTokens"] == "required"
    assert metadata["httpPutResponseHopLimit"] == 1


def test_the_node_group_uses_the_template_and_private_subnets(plan: Plan) -> None:
    nodes = plan.one("aws:eks/nodeGroup:NodeGroup")
    assert nodes.inputs["launchTemplate"]["id"].endswith("api-nodes-template")
    assert all("private" in subnet for subnet in nodes.inputs["subnetIds"])
    assert "scalingConfig.desiredSize" in nodes.ignore_changes


def test_node_role_holds_only_what_the_kubelet_needs(plan: Plan) -> None:
    attached = {
        a.inputs["policyArn"]
        for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == "api-nodes-role"
    }
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    }


def test_the_cni_role_is_for_the_aws_node_service_account_only(plan: Plan) -> None:
    role = plan.one("aws:iam/role:Role", "api-nodes-vpc-cni-role")
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert sorted(condition.values()) == ["sts.amazonaws.com", "system:serviceaccount:kube-system:aws-node"]
    addon = plan.one("aws:eks/addon:Addon")
    assert addon.inputs["addonName"] == "vpc-cni"
    assert addon.inputs["serviceAccountRoleArn"].endswith("api-nodes-vpc-cni-role")


def test_the_secrets_key_has_an_explicit_policy_for_its_administrators_and_the_cluster(plan: Plan) -> None:
    policy = json.loads(plan.one("aws:kms/key:Key").inputs["policy"])
    grants = {statement["Sid"]: statement for statement in policy["Statement"]}
    admin, cluster = "arn:aws:iam::123456789012:role/platform-admin", f"platform-{plan.stack}-eks-cluster"
    assert grants["KeyAdministration"]["Principal"] == {"AWS": [admin]}
    assert not any(
        action in ("kms:Encrypt", "kms:Decrypt") for action in grants["KeyAdministration"]["Action"]
    )
    assert grants["EksSecretsEncryption"]["Principal"] == {
        "AWS": [f"arn:aws:iam::123456789012:role/{cluster}"]
    }
    # Nothing broader: no account root, no wildcard principal, no kms:*.
    principals = [arn for statement in policy["Statement"] for arn in statement["Principal"]["AWS"]]
    assert set(principals) == {admin, f"arn:aws:iam::123456789012:role/{cluster}"}
    assert "kms:*" not in json.dumps(policy)
    # The role it names is the control plane's, created under that name.
    role = plan.one("aws:iam/role:Role", "api-cluster-role")
    assert role.inputs["name"] == cluster
    assert plan.one(CLUSTER).inputs["roleArn"].endswith("api-cluster-role")


def test_audit_and_flow_logs_are_kept_a_year(plan: Plan) -> None:
    for name in ("api-cluster-control-plane-logs", "api-network-flow-logs"):
        assert plan.one("aws:cloudwatch/logGroup:LogGroup", name).inputs["retentionInDays"] == 365


def test_the_vpc_cni_enforces_network_policies(plan: Plan) -> None:
    addon = plan.one("aws:eks/addon:Addon", "api-nodes-vpc-cni")
    assert json.loads(addon.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
