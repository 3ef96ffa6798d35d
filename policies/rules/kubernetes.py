"""Kubernetes workloads: every container of every pod template runs unprivileged, read-only,
probed, bounded and pinned to a version."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from policies.rule import Context, Level, Reference, Resource, ResourceCheck, ResourceRule, Rule, StackRule
from policies.values import MISSING, expect, items, pinned_image, requires, shown, value_at

WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
)
POD_SPEC = "spec.template.spec"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
PROBE_ACTIONS = ("httpGet", "tcpSocket", "grpc", "exec")


def _containers(workload: Resource) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each container (init containers too), named as messages show it."""
    for kind in ("containers", "initContainers"):
        for index, container in enumerate(items(workload.props, f"{POD_SPEC}.{kind}")):
            if isinstance(container, Mapping):
                name = value_at(container, "name")
                yield f"{kind}[{index}] ({name if isinstance(name, str) else '?'})", container


ContainerCheck = Callable[[Mapping[str, Any]], Iterator[str]]


def _per_container(judge: ContainerCheck) -> ResourceCheck:
    def check(workload: Resource, _: Context) -> Iterator[str]:
        containers = list(_containers(workload))
        if not containers:
            yield f"{POD_SPEC}.containers is not set; expected the pod's containers"
        for where, container in containers:
            for message in judge(container):
                yield f"{where}: {message}"

    return check


def _run_as_non_root(workload: Resource, _: Context) -> Iterator[str]:
    # Set for the whole pod, or else for every container.
    if value_at(workload.props, f"{POD_SPEC}.securityContext.runAsNonRoot") is True:
        return
    for where, container in _containers(workload):
        if value_at(container, "securityContext.runAsNonRoot") is not True:
            yield f"{where}: securityContext.runAsNonRoot is not true (nor the pod's); expected true"


def _read_only_root(container: Mapping[str, Any]) -> Iterator[str]:
    yield from expect(container, "securityContext.readOnlyRootFilesystem", [True], "true")


def _no_privilege_escalation(container: Mapping[str, Any]) -> Iterator[str]:
    yield from expect(container, "securityContext.allowPrivilegeEscalation", [False], "false")


def _not_privileged(container: Mapping[str, Any]) -> Iterator[str]:
    yield from expect(container, "securityContext.privileged", [False], "false")


def _drop_all(container: Mapping[str, Any]) -> Iterator[str]:
    if "ALL" not in items(container, "securityContext.capabilities.drop"):
        yield 'securityContext.capabilities.drop does not list "ALL"; expected every capability dropped'
    added = items(container, "securityContext.capabilities.add")
    if added:
        yield f"securityContext.capabilities.add lists {len(added)} capability(ies); expected none"


def _probe(kind: str) -> ContainerCheck:
    def judge(container: Mapping[str, Any]) -> Iterator[str]:
        probe = value_at(container, kind)
        if probe is MISSING:
            yield f"{kind} is not set; expected an HTTP, TCP, gRPC or exec probe"
        elif all(value_at(probe, action) is MISSING for action in PROBE_ACTIONS):
            yield f"{kind} has no action; expected httpGet, tcpSocket, grpc or exec"

    return judge


def _limits(container: Mapping[str, Any]) -> Iterator[str]:
    for resource in ("cpu", "memory"):
        if value_at(container, f"resources.limits.{resource}") is MISSING:
            yield f"resources.limits.{resource} is not set; expected a limit"


def _image_pinned(container: Mapping[str, Any]) -> Iterator[str]:
    image = value_at(container, "image")
    if image is MISSING:
        yield "image is not set; expected an image pinned to a version"
    elif not pinned_image(str(image)):
        yield f"image is {shown(image)}; expected an image pinned to a version, not latest"


def _image_digest(container: Mapping[str, Any]) -> Iterator[str]:
    image = value_at(container, "image")
    if image is MISSING:
        yield "image is not set; expected an image pinned by digest (repo@sha256:...)"
    elif not isinstance(image, str) or not DIGEST.search(image):
        yield f"image is {shown(image)}; expected an image pinned by digest (repo@sha256:<64 hex digits>)"


def _denies_everything(policy: Resource) -> bool:
    """A NetworkPolicy selecting every pod, for ingress and egress, with no rule allowing any."""
    selector = value_at(policy.props, "spec.podSelector")
    every_pod = isinstance(selector, Mapping) and all(
        not value_at(selector, key) or value_at(selector, key) is MISSING
        for key in ("matchLabels", "matchExpressions")
    )
    types = items(policy.props, "spec.policyTypes")
    return (
        every_pod
        and "Ingress" in types
        and "Egress" in types
        and not items(policy.props, "spec.ingress")
        and not items(policy.props, "spec.egress")
    )


def _default_deny(resources: Sequence[Resource], _: Context) -> Iterator[tuple[Resource, str]]:
    """Each namespace the program declares has a default-deny NetworkPolicy. A policy is tied to
    its namespace by the dependency of its `metadata` on it (known in every preview)."""
    for namespace in (r for r in resources if r.type == NAMESPACE):
        policies = [
            r
            for r in resources
            if r.type == NETWORK_POLICY and namespace.urn in r.property_dependencies.get("metadata", ())
        ]
        if not policies:
            yield (
                namespace,
                "no NetworkPolicy names this namespace; expected a default deny (ingress and egress)",
            )
        elif not any(_denies_everything(policy) for policy in policies):
            yield (
                namespace,
                (
                    "no NetworkPolicy of this namespace denies by default; expected one selecting every pod "
                    "(podSelector {}) for Ingress and Egress with no rules"
                ),
            )


def _rule(
    rule_id: str, description: str, reference: Reference, check: ResourceCheck, level: Level = Level.MANDATORY
) -> Rule:
    return ResourceRule(rule_id, description, level, reference, WORKLOADS, check=check)


RULES: tuple[Rule, ...] = (
    _rule(
        "k8s-run-as-non-root",
        "Pods run as a non-root user",
        Reference("Checkov", "CKV_K8S_23"),
        _run_as_non_root,
    ),
    _rule(
        "k8s-read-only-root-filesystem",
        "Containers have a read-only root filesystem",
        Reference("Checkov", "CKV_K8S_22"),
        _per_container(_read_only_root),
    ),
    _rule(
        "k8s-no-privilege-escalation",
        "Containers cannot gain privileges (allowPrivilegeEscalation false)",
        Reference("Checkov", "CKV_K8S_20"),
        _per_container(_no_privilege_escalation),
    ),
    _rule(
        "k8s-not-privileged",
        "No container is privileged",
        Reference("Checkov", "CKV_K8S_16"),
        _per_container(_not_privileged),
    ),
    _rule(
        "k8s-drop-all-capabilities",
        "Containers drop every Linux capability and add none",
        Reference("Checkov", "CKV_K8S_37, CKV_K8S_28"),
        _per_container(_drop_all),
    ),
    _rule(
        "k8s-liveness-probe",
        "Containers have a liveness probe",
        Reference("Checkov", "CKV_K8S_8"),
        _per_container(_probe("livenessProbe")),
    ),
    _rule(
        "k8s-readiness-probe",
        "Containers have a readiness probe",
        Reference("Checkov", "CKV_K8S_9"),
        _per_container(_probe("readinessProbe")),
    ),
    _rule(
        "k8s-resource-limits",
        "Containers have CPU and memory limits",
        Reference("Checkov", "CKV_K8S_11, CKV_K8S_13"),
        _per_container(_limits),
    ),
    _rule(
        "k8s-image-pinned",
        "Container images are pinned to a version, never latest",
        Reference("Checkov", "CKV_K8S_14"),
        _per_container(_image_pinned),
    ),
    _rule(
        "k8s-image-digest",
        "Container images are pinned by digest, so a slot runs exactly the image that was released",
        Reference("Checkov", "CKV_K8S_43"),
        _per_container(_image_digest),
    ),
    StackRule(
        "k8s-namespace-default-deny",
        "Every namespace has a default-deny NetworkPolicy (ingress and egress); workloads get named allows",
        Level.MANDATORY,
        Reference("Checkov", "CKV2_K8S_6"),
        (NAMESPACE, NETWORK_POLICY),
        check=_default_deny,
    ),
    _rule(
        "k8s-no-service-account-token",
        "Pods mount no service account token unless they call the Kubernetes API",
        Reference("Checkov", "CKV_K8S_38"),
        requires((f"{POD_SPEC}.automountServiceAccountToken", [False], "false")),
        Level.ADVISORY,
    ),
)
