"""The API's blue/green workloads, per stack."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from infra.kubernetes.api_workloads import COLOURS
from infra.offline import Plan
from infra.settings import SIZING

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"


def container(plan: Plan, colour: str) -> dict[str, Any]:
    return plan.one(DEPLOYMENT, f"api-{colour}").inputs["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("colour", COLOURS)
def test_containers_run_locked_down(plan: Plan, colour: str) -> None:
    pod = plan.one(DEPLOYMENT, f"api-{colour}").inputs["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    context = container(plan, colour)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("colour", COLOURS)
def test_requests_limits_and_the_runbooks_probe_timings(plan: Plan, colour: str) -> None:
    api = container(plan, colour)
    assert set(api["resources"]) == {"requests", "limits"}
    assert api["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert (api["livenessProbe"]["periodSeconds"], api["livenessProbe"]["timeoutSeconds"]) == (10, 5)
    assert api["livenessProbe"]["failureThreshold"] == 3
    assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert (api["readinessProbe"]["periodSeconds"], api["readinessProbe"]["timeoutSeconds"]) == (5, 3)
    assert api["readinessProbe"]["failureThreshold"] == 2


def test_both_colours_are_alike_but_for_their_colour(plan: Plan) -> None:
    blue, green = (json.dumps(plan.one(DEPLOYMENT, f"api-{c}").inputs, sort_keys=True) for c in COLOURS)
    assert blue.replace("blue", "green") == green


def test_releases_own_images_and_selectors(plan: Plan) -> None:
    for colour in COLOURS:
        deployment = plan.one(DEPLOYMENT, f"api-{colour}")
        assert "spec.template.spec.containers[0].image" in deployment.ignore_changes
        assert "spec.replicas" in deployment.ignore_changes  # the autoscaler's
    for role in ("active", "preview"):
        assert plan.one(SERVICE, f"api-{role}").ignore_changes == ["spec.selector"]


def test_active_selects_blue_and_preview_green_at_creation(plan: Plan) -> None:
    selectors = {
        role: plan.one(SERVICE, f"api-{role}").inputs["spec"]["selector"] for role in ("active", "preview")
    }
    assert selectors == {
        "active": {"app": "api", "colour": "blue"},
        "preview": {"app": "api", "colour": "green"},
    }


def test_services_are_tls_nlbs_reachable_only_from_cloudflare(plan: Plan) -> None:
    for role in ("active", "preview"):
        service = plan.one(SERVICE, f"api-{role}").inputs
        annotations = service["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"].startswith("arn:aws:acm:")
        assert service["spec"]["type"] == "LoadBalancer"
        sources = [ipaddress.ip_network(c) for c in service["spec"]["loadBalancerSourceRanges"]]
        assert sources and all(net.prefixlen > 0 for net in sources)
        assert ipaddress.ip_network("104.16.0.0/13") in sources


def test_autoscaling_and_disruption_budget_per_colour(plan: Plan) -> None:
    sizing = SIZING[plan.stack]
    for colour in COLOURS:
        hpa = plan.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", f"api-{colour}-hpa").inputs[
            "spec"
        ]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (sizing.api_min_replicas, sizing.api_max_replicas)
        assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
        assert hpa["scaleTargetRef"]["name"] == f"api-{colour}"
        pdb = plan.one("kubernetes:policy/v1:PodDisruptionBudget", f"api-{colour}-pdb").inputs["spec"]
        assert pdb["maxUnavailable"] == 1 and pdb["selector"]["matchLabels"]["colour"] == colour


def test_the_namespace_enforces_the_restricted_pod_security_profile(plan: Plan) -> None:
    namespace = plan.one("kubernetes:core/v1:Namespace").inputs["metadata"]
    assert namespace["name"] == "api"
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_provider_authenticates_with_short_lived_tokens(plan: Plan) -> None:
    kubeconfig = json.loads(plan.one("pulumi:providers:kubernetes").inputs["kubeconfig"])
    user = kubeconfig["users"][0]["user"]
    assert user["exec"]["command"] == "aws" and user["exec"]["args"][:2] == ["eks", "get-token"]
    assert "token" not in user and "client-key-data" not in user


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def test_the_namespace_denies_by_default_and_allows_what_the_api_needs(plan: Plan) -> None:
    policies = {p.inputs["metadata"]["name"]: p.inputs for p in plan.of_type(NETWORK_POLICY)}
    assert {p["metadata"]["namespace"] for p in policies.values()} == {"api"}
    assert policies["default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    vpc = "10.50.0.0/16" if plan.stack == "production" else "10.40.0.0/16"
    ingress = policies["allow-from-load-balancer"]["spec"]["ingress"][0]
    sources = [entry["ipBlock"]["cidr"] for entry in ingress["from"]]
    assert sources[0] == vpc and all(ipaddress.ip_network(cidr).version == 4 for cidr in sources)
    assert ingress["ports"] == [{"protocol": "TCP", "port": "http"}]
    dns = policies["allow-dns"]["spec"]["egress"][0]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert sorted(port["protocol"] for port in dns["ports"]) == ["TCP", "UDP"]
    datastores = policies["allow-to-datastores"]["spec"]["egress"][0]
    assert datastores["to"] == [{"ipBlock": {"cidr": vpc}}]
    assert sorted(port["port"] for port in datastores["ports"]) == [5432, 6379]


@pytest.mark.parametrize("colour", COLOURS)
def test_images_are_pinned_by_digest(plan: Plan, colour: str) -> None:
    image = container(plan, colour)["image"]
    assert (
        image.startswith("ghcr.io/example/platform-api:1.0.0@sha256:") and len(image.rsplit(":", 1)[1]) == 64
    )


@pytest.mark.parametrize("colour", COLOURS)
def test_pods_receive_the_origin_credential_from_a_secret(plan: Plan, colour: str) -> None:
    env = {variable["name"]: variable for variable in container(plan, colour)["env"]}
    assert env["ORIGIN_CREDENTIAL_HEADER"]["value"] == "X-Azure-FDID"
    assert env["ORIGIN_CREDENTIAL"]["valueFrom"] == {
        "secretKeyRef": {"name": "origin-credential", "key": "credential"}
    }
    secret = plan.one("kubernetes:core/v1:Secret", "api-origin-credential")
    assert secret.inputs["stringData"] == "[secret]"
