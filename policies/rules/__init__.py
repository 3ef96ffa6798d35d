"""Every rule of the pack, by area. Importing this starts nothing: the pack is served only by
policies/__main__.py, which `pulumi preview --policy-pack policies` runs."""

from __future__ import annotations

from policies.rule import Rule
from policies.rules import app_service, aws, azure_network, cloudflare, data_stores, kubernetes, protection

RULES: tuple[Rule, ...] = (
    *app_service.RULES,
    *data_stores.RULES,
    *azure_network.RULES,
    *aws.RULES,
    *kubernetes.RULES,
    *cloudflare.RULES,
    *protection.RULES,
)
