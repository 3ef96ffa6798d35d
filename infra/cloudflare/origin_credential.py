"""The origin credential: a secret request header that only this zone's Cloudflare configuration
adds, and that the origins require (docs/security.md).

Cloudflare's published IP ranges are shared by every Cloudflare customer: an origin that admits
them admits anyone who points a hostname of their own at it. So a Request Header Transform Rule
(the zone's `http_request_late_transform` entry point) sets `X-Azure-FDID` to the credential on
every request for the released hostnames, the load balancers' monitors send it too, and each
origin refuses requests without it: App Service by an access-restriction header condition (a
platform check, before the app), the API's pods by the value they receive from a Kubernetes Secret.

`X-Azure-FDID` is one of the four headers App Service access restrictions can match; Azure made it
for Front Door's id, and its value must be a GUID, which makes a good random credential. Rulesets
are one per zone and phase: this program owns the zone's late-transform entry point.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_cloudflare as cloudflare

ORIGIN_HEADER = "X-Azure-FDID"


def hostname_expression(hostnames: Sequence[str]) -> str:
    """The rule's filter, in Cloudflare's Rules language: requests for one of `hostnames`."""
    return "(http.host in {" + " ".join(f'"{hostname}"' for hostname in hostnames) + "})"


class OriginCredentialRule(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        zone_id: str,
        hostnames: Sequence[str],
        credential: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:cloudflare:OriginCredentialRule", name, None, opts)
        cloudflare.Ruleset(
            f"{name}-ruleset",
            zone_id=zone_id,
            kind="zone",
            phase="http_request_late_transform",
            name="origin credential",
            description="Adds the origin credential every origin of the released services requires",
            rules=[
                cloudflare.RulesetRuleArgs(
                    action="rewrite",
                    expression=hostname_expression(hostnames),
                    description=f"Set {ORIGIN_HEADER} (the origin credential) for the released hostnames",
                    enabled=True,
                    action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                        headers={
                            ORIGIN_HEADER: cloudflare.RulesetRuleActionParametersHeadersArgs(
                                operation="set", value=credential
                            )
                        }
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
