"""HAProxy and Prometheus configuration for a sandbox, and the topology document it publishes."""

from __future__ import annotations

import yaml

from releases.model import Pool
from releases.sandbox.state import INITIAL_PRODUCTION, ORIGIN_HEADER, POOL_HEADER, Layout, SandboxState
from releases.topology import (
    HAProxyRouterSpec,
    PrometheusMetricsSpec,
    SandboxPostgresSpec,
    SandboxSecretStoreSpec,
    SandboxSlotPairSpec,
    SandboxSlotSpec,
    ServiceTargets,
    Topology,
)

LOOPBACK = "127.0.0.1"


def _staging_colour(colours: list[str]) -> str:
    return next(colour for colour in colours if colour != INITIAL_PRODUCTION)


def haproxy_config(state: SandboxState, origin_credential: str) -> str:
    """One frontend and backend per service. The choices that matter:
    - `option http-server-close`: a new server connection per request, so after a swap no idle
      connection to the old address is reused;
    - `retry-on conn-failure empty-response` with `option redispatch`: a request that cannot
      reach a slot is retried on the other one instead of failing;
    - `balance roundrobin`: a smooth weighted rotation, so each step sends its configured share
      (the router writes weights at their smallest ratio, which keeps a weight change from
      letting one server catch up in a long run of requests; see `HAProxyRouterSpec`). Cloudflare's
      `random` steering has the same expected share; HAProxy's `random` does not: it draws a
      point on a consistent-hash ring with 16 points per unit of weight, and with two servers the
      ring's uneven arcs give the canary 52.5% at equal weights (measured 52-54%);
    - `http-send-name-header`: tells the slot which pool a request came through, which labels
      its latency histogram for the gates;
    - the origin credential: a request without `ORIGIN_HEADER` carrying `origin_credential` is
      refused with 403 before it reaches a slot, as App Service refuses one that did not come
      through this zone's Cloudflare rule (docs/security.md).
    """
    if not origin_credential.replace("-", "").isalnum():
        raise ValueError("the origin credential must be letters, digits and hyphens (a UUID)")
    sections = [
        f"""global
    maxconn 4096
    # The runtime API changes weights and addresses: a unix socket only its owner may use.
    stats socket {state.runtime_api_socket} mode 600 level admin
    # The runtime API answers quickly; keep the default thread count small on a shared machine.
    nbthread 2

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    retries 3
    option redispatch
    retry-on conn-failure empty-response
    option http-server-close

frontend metrics
    bind {LOOPBACK}:{state.haproxy_metrics_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
"""
    ]
    for service, ports in state.services.items():
        production = ports.slots[INITIAL_PRODUCTION].port
        staging = ports.slots[_staging_colour(list(ports.slots))].port
        sections.append(
            f"""
frontend {service}
    bind {LOOPBACK}:{ports.frontend}
    http-request deny deny_status 403 unless {{ req.hdr({ORIGIN_HEADER}) -m str {origin_credential} }}
    default_backend {service}

backend {service}
    balance roundrobin
    http-send-name-header {POOL_HEADER}
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
    server {Pool.STABLE.value} {LOOPBACK}:{production} weight 1 check
    server {Pool.CANARY.value} {LOOPBACK}:{staging} weight 0 check
"""
        )
    return "".join(sections)


def public_url(state: SandboxState, service: str) -> str:
    return f"http://{LOOPBACK}:{state.services[service].frontend}"


def prometheus_config(state: SandboxState) -> str:
    """Scrape HAProxy and every slot process each second (the gates' resolution)."""
    app_targets = [
        {"targets": [f"{LOOPBACK}:{slot.port}"], "labels": {"colour": colour}}
        for ports in state.services.values()
        for colour, slot in ports.slots.items()
    ]
    document = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "haproxy",
                "static_configs": [{"targets": [f"{LOOPBACK}:{state.haproxy_metrics_port}"]}],
            },
            {"job_name": "app", "static_configs": app_targets},
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def topology(state: SandboxState, layout: Layout) -> Topology:
    runtime_api = state.runtime_api_socket
    return Topology(
        environment="sandbox",
        services={
            service: ServiceTargets(
                router=HAProxyRouterSpec(
                    runtime_api=runtime_api, backend=service, public_url=public_url(state, service)
                ),
                slots=SandboxSlotPairSpec(
                    runtime_api=runtime_api,
                    backend=service,
                    slots={
                        colour: SandboxSlotSpec(address=f"{LOOPBACK}:{slot.port}")
                        for colour, slot in ports.slots.items()
                    },
                ),
                metrics=PrometheusMetricsSpec(
                    url=f"http://{LOOPBACK}:{state.prometheus_port}",
                    responses_labels={"proxy": service},
                    latency_histogram="sandbox_request_duration_seconds",
                    latency_labels={"service": service},
                    router_errors_metric="haproxy_frontend_http_responses_total",
                    router_errors_labels={"proxy": service, "code": "5xx"},
                ),
                secrets=SandboxSecretStoreSpec(path=str(layout.secrets)),
                database=SandboxPostgresSpec(backups_dir=str(layout.backups), bin_dir=state.postgres_bin_dir),
            )
            for service, ports in state.services.items()
        },
    )
