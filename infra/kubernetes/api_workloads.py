"""The API on EKS as blue/green workloads: one Deployment per colour, an `api-active` and an
`api-preview` Service (each an AWS NLB) selecting one colour each.

Releases own two things here, so `pulumi up` ignores them (docs/design.md): the image each
colour runs, and which colour each Service selects (promotion flips the selectors). The
HorizontalPodAutoscalers own the replica counts. Everything else (security context, probes,
resources) is declared once for both colours, so they cannot drift.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.cloudflare.origin_credential import ORIGIN_HEADER

NAMESPACE = "api"
APP_LABEL = "app"
COLOUR_LABEL = "colour"
CONTAINER = "api"
COLOURS = ("blue", "green")
# Which colour each Service selects when first created; releases flip them afterwards.
INITIAL_SELECTION = {"active": "blue", "preview": "green"}
RELEASE_OWNED_DEPLOYMENT_PROPERTIES = ["spec.template.spec.containers[0].image", "spec.replicas"]
RELEASE_OWNED_SERVICE_PROPERTIES = ["spec.selector"]
HPA_CPU_PERCENT = 70
ORIGIN_SECRET = "origin-credential"
# What the API's pods may reach besides DNS: its datastores in the VPC (Postgres, Redis).
DATASTORE_PORTS = {"postgres": 5432, "redis": 6379}


@dataclass(frozen=True)
class ApiWorkloadsArgs:
    initial_image: str
    container_port: int
    min_replicas: int
    max_replicas: int
    certificate_arn: str
    # Only these sources may reach the load balancers: Cloudflare's published ranges.
    allowed_source_cidrs: Sequence[str]
    # The VPC's range: the nodes (which the NLB's traffic comes through) and the datastores.
    vpc_cidr: str
    # The origin credential (infra/cloudflare/origin_credential.py). An NLB cannot match headers:
    # the pods receive it from a Kubernetes Secret and refuse requests without it.
    origin_credential: pulumi.Input[str]


def _probe(path: str, period: int, timeout: int, failures: int) -> k8s.core.v1.ProbeArgsDict:
    return {
        "http_get": {"path": path, "port": "http"},
        "period_seconds": period,
        "timeout_seconds": timeout,
        "failure_threshold": failures,
    }


def pod_spec(args: ApiWorkloadsArgs, colour: str) -> k8s.core.v1.PodSpecArgsDict:
    """The pod both colours run: non-root, read-only root filesystem, no privilege escalation, no
    capabilities; probes with the runbooks' timings (liveness every 10 s, timeout 5 s, 3 failures;
    readiness every 5 s, timeout 3 s, 2 failures)."""
    return {
        "automount_service_account_token": False,  # the API never calls the Kubernetes API
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": 10001,
            "run_as_group": 10001,
            "fs_group": 10001,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "topology_spread_constraints": [
            {
                "max_skew": 1,
                "topology_key": "topology.kubernetes.io/zone",
                "when_unsatisfiable": "ScheduleAnyway",
                "label_selector": {"match_labels": {APP_LABEL: "api", COLOUR_LABEL: colour}},
            }
        ],
        "containers": [
            {
                "name": CONTAINER,
                "image": args.initial_image,
                "ports": [{"name": "http", "container_port": args.container_port}],
                "env": [
                    {"name": "PORT", "value": str(args.container_port)},
                    {"name": "ORIGIN_CREDENTIAL_HEADER", "value": ORIGIN_HEADER},
                    {
                        "name": "ORIGIN_CREDENTIAL",
                        "value_from": {"secret_key_ref": {"name": ORIGIN_SECRET, "key": "credential"}},
                    },
                ],
                "security_context": {
                    "allow_privilege_escalation": False,
                    "read_only_root_filesystem": True,
                    "privileged": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": {
                    "requests": {"cpu": "250m", "memory": "256Mi"},
                    "limits": {"cpu": "1", "memory": "512Mi"},
                },
                "liveness_probe": _probe("/health/live", period=10, timeout=5, failures=3),
                "readiness_probe": _probe("/health/ready", period=5, timeout=3, failures=2),
                "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
            }
        ],
        # The one writable place, since the root filesystem is read-only.
        "volumes": [{"name": "tmp", "empty_dir": {"size_limit": "64Mi"}}],
    }


class ApiWorkloads(pulumi.ComponentResource):
    def __init__(self, name: str, args: ApiWorkloadsArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__("platform:kubernetes:ApiWorkloads", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": NAMESPACE,
                # Pod Security Admission rejects any pod below the `restricted` profile.
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
            opts=child,
        )
        k8s.core.v1.Secret(
            f"{name}-origin-credential",
            metadata={"name": ORIGIN_SECRET, "namespace": namespace.metadata.name},
            type="Opaque",
            string_data={"credential": args.origin_credential},
            opts=child,
        )
        for colour in COLOURS:
            labels = {APP_LABEL: "api", COLOUR_LABEL: colour}
            metadata: k8s.meta.v1.ObjectMetaArgsDict = {
                "name": f"api-{colour}",
                "namespace": namespace.metadata.name,
                "labels": labels,
            }
            k8s.apps.v1.Deployment(
                f"{name}-{colour}",
                metadata=metadata,
                spec={
                    "replicas": args.min_replicas,
                    "selector": {"match_labels": labels},
                    "strategy": {
                        "type": "RollingUpdate",
                        "rolling_update": {"max_unavailable": 0, "max_surge": "25%"},
                    },
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec(args, colour)},
                },
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=RELEASE_OWNED_DEPLOYMENT_PROPERTIES),
            )
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{colour}-pdb",
                metadata=metadata,
                spec={"max_unavailable": 1, "selector": {"match_labels": labels}},
                opts=child,
            )
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-{colour}-hpa",
                metadata=metadata,
                spec={
                    "scale_target_ref": {
                        "api_version": "apps/v1",
                        "kind": "Deployment",
                        "name": f"api-{colour}",
                    },
                    "min_replicas": args.min_replicas,
                    "max_replicas": args.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "average_utilization": HPA_CPU_PERCENT},
                            },
                        }
                    ],
                },
                opts=child,
            )

        self._network_policies(name, namespace, args)
        self.services = {
            role: self._service(name, role, colour, namespace, args)
            for role, colour in INITIAL_SELECTION.items()
        }
        self.register_outputs({})

    def _network_policies(self, name: str, namespace: k8s.core.v1.Namespace, args: ApiWorkloadsArgs) -> None:
        """Deny everything in the namespace, in and out, then allow what the API needs: requests
        from the load balancer (through the nodes, or from Cloudflare where the NLB preserves the
        client address), DNS, and its datastores. The VPC CNI enforces them (enableNetworkPolicy,
        infra/aws/node_group.py)."""
        child = pulumi.ResourceOptions(parent=self)
        api_pods: k8s.meta.v1.LabelSelectorArgsDict = {"match_labels": {APP_LABEL: "api"}}
        ipv4_sources = [c for c in args.allowed_source_cidrs if ipaddress.ip_network(c).version == 4]

        def policy(suffix: str, spec: k8s.networking.v1.NetworkPolicySpecArgsDict) -> None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{suffix}",
                metadata={"name": suffix, "namespace": namespace.metadata.name},
                spec=spec,
                opts=child,
            )

        policy("default-deny", {"pod_selector": {}, "policy_types": ["Ingress", "Egress"]})
        policy(
            "allow-from-load-balancer",
            {
                "pod_selector": api_pods,
                "policy_types": ["Ingress"],
                "ingress": [
                    {
                        "from_": [{"ip_block": {"cidr": cidr}} for cidr in [args.vpc_cidr, *ipv4_sources]],
                        "ports": [{"protocol": "TCP", "port": "http"}],
                    }
                ],
            },
        )
        policy(
            "allow-dns",
            {
                "pod_selector": api_pods,
                "policy_types": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespace_selector": {
                                    "match_labels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        )
        policy(
            "allow-to-datastores",
            {
                "pod_selector": api_pods,
                "policy_types": ["Egress"],
                "egress": [
                    {
                        "to": [{"ip_block": {"cidr": args.vpc_cidr}}],
                        "ports": [{"protocol": "TCP", "port": port} for port in DATASTORE_PORTS.values()],
                    }
                ],
            },
        )

    def _service(
        self, name: str, role: str, colour: str, namespace: k8s.core.v1.Namespace, args: ApiWorkloadsArgs
    ) -> k8s.core.v1.Service:
        ipv4_sources = [c for c in args.allowed_source_cidrs if ipaddress.ip_network(c).version == 4]
        return k8s.core.v1.Service(
            f"{name}-{role}",
            metadata={
                "name": f"api-{role}",
                "namespace": namespace.metadata.name,
                "annotations": {
                    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": args.certificate_arn,
                    "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "https",
                    "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy": (
                        "ELBSecurityPolicy-TLS13-1-2-2021-06"
                    ),
                    "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
                },
            },
            spec={
                "type": "LoadBalancer",
                "selector": {APP_LABEL: "api", COLOUR_LABEL: colour},
                "ports": [{"name": "https", "port": 443, "target_port": "http", "protocol": "TCP"}],
                # The NLB is IPv4; Cloudflare reaches IPv4 origins from its IPv4 ranges.
                "load_balancer_source_ranges": ipv4_sources,
            },
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=RELEASE_OWNED_SERVICE_PROPERTIES),
        )
