"""What a rule is, how it is judged, and how it becomes a CrossGuard policy.

A rule is plain data plus a check function, so it can be imported, listed and judged without a
policy pack running: `invoke policy` judges the offline plan with the same `judge` the CrossGuard
policy calls inside `pulumi preview`.

Unknown values. During a preview, a value that depends on something the cloud has not created yet
is unknown; `pulumi_policy` hands the rules a proxy that raises `UnknownValueError` when one is
read. Left to itself, the SDK turns that into an advisory note, so a mandatory rule would pass
silently. Here a rule that reads an unknown value reports a finding marked unknown instead, which
counts as a violation: a rule never passes on a value it could not see. The one exception is a
reference to a resource created in the same update (a KMS key's ARN, a pool's id): see
`policies.values.reference`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy


class Level(Enum):
    MANDATORY = "mandatory"  # a violation fails the preview and `invoke policy`
    ADVISORY = "advisory"  # reported, never blocking

    @property
    def enforcement(self) -> EnforcementLevel:
        return EnforcementLevel(self.value)


@dataclass(frozen=True)
class Reference:
    """The published rule a rule implements: a framework and its item ids."""

    framework: str  # Checkov, CIS, AVM (Azure Verified Modules), MCSB (Microsoft cloud security benchmark)
    items: str  # such as "CKV_AZURE_110"

    def __str__(self) -> str:
        return f"{self.framework} {self.items}"


@dataclass(frozen=True)
class Resource:
    """A resource as the rules see it: its inputs by wire name and the options rules judge."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    protect: bool = False
    # Input name -> URNs of the resources its value comes from; known even when the value is not.
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict[str, Sequence[str]])

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type})"


@dataclass(frozen=True)
class Context:
    stack: str


@dataclass(frozen=True)
class Finding:
    resource: str  # the resource's label: logical name and type
    urn: str
    message: str
    unknown: bool = False  # the value was unknown during preview: counted as a violation

    def to_json(self) -> dict[str, Any]:
        return {"resource": self.resource, "urn": self.urn, "message": self.message, "unknown": self.unknown}


ResourceCheck = Callable[[Resource, Context], Iterable[str]]
StackCheck = Callable[[Sequence[Resource], Context], Iterable[tuple[Resource, str]]]


def _unknown_finding(resource: Resource, error: UnknownValueError) -> Finding:
    return Finding(
        resource.label,
        resource.urn,
        f"{error.message}: a rule cannot pass on a value it cannot see; rerun once it exists",
        unknown=True,
    )


def _checked(resource: Resource) -> Resource:
    """The resource with its properties behind pulumi_policy's unknown-checking proxy (CrossGuard
    already hands them over that way; the proxy leaves an existing proxy as it is)."""
    props = resource.props
    if isinstance(props, dict):
        props = unknown_checking_proxy(props)
    return dataclasses.replace(resource, props=props)


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    level: Level
    reference: Reference | None
    resource_types: tuple[str, ...]
    # Stacks the rule applies to; empty: every stack (production-only redundancy rules name one).
    stacks: tuple[str, ...] = ()

    def applies_in(self, stack: str) -> bool:
        return not self.stacks or stack in self.stacks

    def subjects(self, resources: Iterable[Resource]) -> list[Resource]:
        return [resource for resource in resources if resource.type in self.resource_types]

    def judge(self, resources: Sequence[Resource], context: Context) -> list[Finding]:
        raise NotImplementedError

    def policy(self) -> Policy:
        """This rule as a CrossGuard policy, for `pulumi preview --policy-pack policies`."""
        raise NotImplementedError

    def _framework(self) -> PolicyComplianceFramework | None:
        if self.reference is None:
            return None
        return PolicyComplianceFramework(name=self.reference.framework, reference=self.reference.items)


@dataclass(frozen=True)
class ResourceRule(Rule):
    """Judges each resource of its types on its own."""

    check: ResourceCheck = field(kw_only=True)

    def judge_one(self, resource: Resource, context: Context) -> list[Finding]:
        subject = _checked(resource)
        findings: list[Finding] = []
        try:
            for message in self.check(subject, context):
                findings.append(Finding(resource.label, resource.urn, message))
        except UnknownValueError as error:
            findings.append(_unknown_finding(resource, error))
        return findings

    def judge(self, resources: Sequence[Resource], context: Context) -> list[Finding]:
        return [
            finding for resource in self.subjects(resources) for finding in self.judge_one(resource, context)
        ]

    def policy(self) -> Policy:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type not in self.resource_types:
                return
            if not self.applies_in(_stack()):
                args.not_applicable(f"{' and '.join(self.stacks)} only")
            resource = Resource(args.resource_type, args.name, args.urn, args.props, args.opts.protect)
            for finding in self.judge_one(resource, Context(_stack())):
                report_violation(finding.message, args.urn)

        return ResourceValidationPolicy(
            name=self.id,
            description=self.description,
            validate=validate,
            enforcement_level=self.level.enforcement,
            framework=self._framework(),
        )


@dataclass(frozen=True)
class StackRule(Rule):
    """Judges how resources relate (every VPC has a flow log). Its check reads only types and
    property dependencies, which are known during preview."""

    check: StackCheck = field(kw_only=True)

    def judge(self, resources: Sequence[Resource], context: Context) -> list[Finding]:
        subjects = [_checked(resource) for resource in resources]
        findings: list[Finding] = []
        try:
            for resource, message in self.check(subjects, context):
                findings.append(Finding(resource.label, resource.urn, message))
        except UnknownValueError as error:
            stack = Resource("pulumi:pulumi:Stack", context.stack, "", {})
            findings.append(_unknown_finding(stack, error))
        return findings

    def policy(self) -> Policy:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            if not self.applies_in(_stack()):
                args.not_applicable(f"{' and '.join(self.stacks)} only")
            resources = [
                Resource(
                    r.resource_type,
                    r.name,
                    r.urn,
                    r.props,
                    r.opts.protect,
                    {key: [d.urn for d in deps] for key, deps in r.property_dependencies.items()},
                )
                for r in args.resources
            ]
            for finding in self.judge(resources, Context(_stack())):
                report_violation(finding.message, finding.urn or None)

        return StackValidationPolicy(
            name=self.id,
            description=self.description,
            validate=validate,
            enforcement_level=self.level.enforcement,
            framework=self._framework(),
        )


def _stack() -> str:
    """The stack being previewed: the policy SDK configures Pulumi's runtime from the engine."""
    import pulumi

    return pulumi.get_stack()
