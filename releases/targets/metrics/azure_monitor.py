"""App Service's per-slot platform metrics (Azure Monitor) as a metric source, for topologies
without a Log Analytics workspace.

Stable traffic is served by the production slot and canary traffic by the staging slot, so each
pool's figures are its slot's `Requests` and `Http5xx`. The client is `MetricsClient` from
`azure-monitor-querymetrics`, where Azure moved the metrics half of `azure-monitor-query` in its
2.0.

Platform metrics arrive minutes late, and until then the newest minutes read 0 or are missing:
the data is complete only up to the last whole minute before `now - delay_seconds` (the
ingestion delay, `releases.clouds.azure_metrics_ingestion_delay_seconds`), and spans are whole
minutes, the first starting after the step's weight change. Platform metrics have no percentile
(`HttpResponseTime` is a mean, which says nothing of a p95), so this source reports no latency
histogram and a gate on it never passes on latency: web's p95 comes from the HTTP logs in Log
Analytics (`log_analytics.py`), which the stacks export.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import AzureError
from azure.monitor.querymetrics import MetricsClient

from releases.model import Pool
from releases.targets.clients.azure_auth import summary
from releases.targets.metrics.protocol import NO_EVIDENCE, MetricsUnavailableError, PoolEvidence
from releases.topology import AzureMonitorMetricsSpec

REQUESTS, ERRORS = "Requests", "Http5xx"
NAMESPACES = {Pool.STABLE: "Microsoft.Web/sites", Pool.CANARY: "Microsoft.Web/sites/slots"}
GRAIN_SECONDS = 60


def _epoch(moment: datetime) -> float:
    return moment.timestamp() if moment.tzinfo else moment.replace(tzinfo=UTC).timestamp()


class AzureMonitorSource:
    def __init__(
        self, target: AzureMonitorMetricsSpec, client: MetricsClient, delay_seconds: float = 180.0
    ) -> None:
        self.target = target
        self.client = client
        self.delay_seconds = delay_seconds

    def align(self, start: float) -> float:
        return math.ceil(start / GRAIN_SECONDS) * GRAIN_SECONDS

    def complete_until(self, pool: Pool, now: float) -> float | None:
        return math.floor((now - self.delay_seconds) / GRAIN_SECONDS) * GRAIN_SECONDS

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        """The whole minutes within [start, end], summed."""

        first, last = self.align(start), math.floor(end / GRAIN_SECONDS) * GRAIN_SECONDS
        if last <= first:
            return NO_EVIDENCE
        resource = (
            self.target.production_resource_id if pool is Pool.STABLE else self.target.staging_resource_id
        )
        try:
            results = self.client.query_resources(
                resource_ids=[resource],
                metric_namespace=NAMESPACES[pool],
                metric_names=[REQUESTS, ERRORS],
                timespan=(datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)),
                granularity=timedelta(seconds=GRAIN_SECONDS),
                aggregations=["Total"],
            )
        except AzureError as error:
            raise MetricsUnavailableError(f"Azure Monitor ({self.target.region}): {summary(error)}") from None
        totals = {REQUESTS: 0.0, ERRORS: 0.0}
        for result in results:
            for metric in result.metrics:
                for series in metric.timeseries:
                    for value in series.data:
                        # Only minutes wholly inside the span: a service answers for the span it was asked.
                        if metric.name in totals and first <= _epoch(value.timestamp) < last:
                            totals[metric.name] += value.total or 0.0
        return PoolEvidence(totals[REQUESTS], min(totals[ERRORS], totals[REQUESTS]))

    def unattributed(self, start: float, end: float) -> PoolEvidence:
        return NO_EVIDENCE
