"""App Service's HTTP logs in Log Analytics as web's metric source: per-request data, so the p95
is judged from the requests themselves rather than from a mean.

The stacks send each slot's `AppServiceHTTPLogs` to the workspace (infra/azure/diagnostics.py) and
export its id in `release_targets`. One KQL query per look and pool, through `LogsQueryClient`
(`azure-monitor-query` 2.0, `POST /v1/workspaces/{id}/query`), counts the slot's requests in the
span, its 5xx (`ScStatus`), and its requests at or under each latency bound (`TimeTaken`, in
milliseconds): a histogram with exact bounds, the p95 limit among them. Logs are ingested minutes
late (Microsoft documents 20 s to 3 min, more under load): data is taken as complete up to
`now - delay_seconds` (`releases.clouds.log_analytics_ingestion_delay_seconds`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from azure.core.exceptions import AzureError
from azure.monitor.query import LogsQueryClient, LogsQueryStatus

from releases.model import Pool
from releases.targets.clients.azure_auth import summary
from releases.targets.metrics.protocol import NO_EVIDENCE, MetricsUnavailableError, PoolEvidence
from releases.topology import AzureMonitorMetricsSpec

# The demo app's buckets (and Prometheus' habit): the gate's limit is added to them.
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


def _literal(text: str) -> str:
    """A KQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _when(epoch: float) -> str:
    return f"datetime({datetime.fromtimestamp(epoch, UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')})"


def http_logs_query(resource_id: str, start: float, end: float, bounds: tuple[float, ...]) -> str:
    """Requests, 5xx and requests at or under each bound, of one slot, in [start, end)."""
    counts = ", ".join(
        f"le_{index} = countif(TimeTaken <= {round(bound * 1000)})" for index, bound in enumerate(bounds)
    )
    return (
        "AppServiceHTTPLogs"
        f" | where _ResourceId =~ {_literal(resource_id.lower())}"
        f" | where TimeGenerated >= {_when(start)} and TimeGenerated < {_when(end)}"
        f" | summarize requests = count(), errors = countif(ScStatus >= 500), {counts}"
    )


class LogAnalyticsSource:
    def __init__(
        self,
        target: AzureMonitorMetricsSpec,
        client: LogsQueryClient,
        delay_seconds: float = 300.0,
        latency_limit_seconds: float | None = None,
    ) -> None:
        if target.log_analytics_workspace_id is None:
            raise ValueError("the topology names no Log Analytics workspace")
        self.target = target
        self.workspace = target.log_analytics_workspace_id
        self.client = client
        self.delay_seconds = delay_seconds
        extra = () if latency_limit_seconds is None else (latency_limit_seconds,)
        self.bounds = tuple(sorted(set(LATENCY_BOUNDS + extra)))

    def align(self, start: float) -> float:
        return start

    def complete_until(self, pool: Pool, now: float) -> float | None:
        return now - self.delay_seconds

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:

        resource = (
            self.target.production_resource_id if pool is Pool.STABLE else self.target.staging_resource_id
        )
        query = http_logs_query(resource, start, end, self.bounds)
        # The timespan bounds the scan; the query's own filter makes the span exact.
        timespan = (
            datetime.fromtimestamp(math.floor(start), UTC),
            datetime.fromtimestamp(math.ceil(end), UTC),
        )
        try:
            response = self.client.query_workspace(self.workspace, query, timespan=timespan)
        except AzureError as error:
            raise MetricsUnavailableError(
                f"Log Analytics workspace {self.workspace}: {summary(error)}"
            ) from None
        if response.status is not LogsQueryStatus.SUCCESS:
            # A partial result is incomplete data: judging it could pass on what is missing.
            raise MetricsUnavailableError(f"Log Analytics answered a partial result for {pool.value}")
        tables = getattr(response, "tables", None) or []
        if not tables or not tables[0].rows:
            return NO_EVIDENCE
        row = dict(zip(tables[0].columns, tables[0].rows[0], strict=True))
        requests = float(row.get("requests") or 0)
        latency = tuple(
            (bound, float(row.get(f"le_{index}") or 0)) for index, bound in enumerate(self.bounds)
        )
        return PoolEvidence(
            requests, min(float(row.get("errors") or 0), requests), (*latency, (math.inf, requests))
        )

    def unattributed(self, start: float, end: float) -> PoolEvidence:
        return NO_EVIDENCE
