"""App Service's per-slot platform metrics as the gates' metric source (Azure Monitor metrics).

Stable traffic is served by the production slot and canary traffic by the staging slot, so each
pool's figures are its slot's `Requests`, `Http5xx` and `HttpResponseTime`. The client is
`MetricsClient` from `azure-monitor-querymetrics`, where Azure moved the metrics half of
`azure-monitor-query` in its 2.0. Platform metrics have one-minute grain and no percentiles: the
window is widened to whole minutes, and latency comes as the request-weighted mean, which the
gates judge as a lower bound of the p95.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING

from releases.model import Pool, PoolSample
from releases.targets.azure_auth import summary
from releases.targets.base import MetricsUnavailableError
from releases.topology import AzureMonitorMetrics

if TYPE_CHECKING:
    from azure.monitor.querymetrics import MetricsClient

REQUESTS, ERRORS, RESPONSE_TIME = "Requests", "Http5xx", "HttpResponseTime"
NAMESPACES = {Pool.STABLE: "Microsoft.Web/sites", Pool.CANARY: "Microsoft.Web/sites/slots"}


class AzureMonitorSource:
    def __init__(self, target: AzureMonitorMetrics, client: MetricsClient) -> None:
        self.target = target
        self.client = client

    def sample(self, pool: Pool, window_seconds: float) -> PoolSample:
        from azure.core.exceptions import AzureError

        resource = (
            self.target.production_resource_id if pool is Pool.STABLE else self.target.staging_resource_id
        )
        minutes = max(1, math.ceil(window_seconds / 60))
        try:
            results = self.client.query_resources(
                resource_ids=[resource],
                metric_namespace=NAMESPACES[pool],
                metric_names=[REQUESTS, ERRORS, RESPONSE_TIME],
                timespan=timedelta(minutes=minutes),
                granularity=timedelta(minutes=1),
                aggregations=["Total", "Average"],
            )
        except AzureError as error:
            raise MetricsUnavailableError(f"Azure Monitor ({self.target.region}): {summary(error)}") from None
        # metric -> minute -> (total, average); minutes align the response time with its requests.
        points: dict[str, dict[object, tuple[float, float | None]]] = {}
        for result in results:
            for metric in result.metrics:
                for series in metric.timeseries:
                    for value in series.data:
                        points.setdefault(metric.name, {})[value.timestamp] = (
                            value.total or 0.0,
                            value.average,
                        )
        requests = points.get(REQUESTS, {})
        errors = sum(total for total, _ in points.get(ERRORS, {}).values())
        weighted = [
            (average, requests[minute][0])
            for minute, (_, average) in points.get(RESPONSE_TIME, {}).items()
            if average is not None and minute in requests and requests[minute][0] > 0
        ]
        served = sum(count for _, count in weighted)
        mean = sum(average * count for average, count in weighted) / served if served else None
        total_requests = sum(total for total, _ in requests.values())
        return PoolSample(requests=total_requests, errors=errors, p95_seconds=None, mean_seconds=mean)
