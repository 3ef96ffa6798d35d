"""The CrossGuard entry point: `pulumi preview --policy-pack policies` runs this file, which
serves every rule to the Pulumi engine until the engine stops it. Nothing else imports it."""

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.rules import RULES

PolicyPack(
    name="platform-security",
    policies=[rule.policy() for rule in RULES],
    # Each rule states its own level; a rule that forgot would block rather than pass.
    enforcement_level=EnforcementLevel.MANDATORY,
)
