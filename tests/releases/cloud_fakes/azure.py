"""Azure as the web service's cloud: an Entra token endpoint, ARM's web app configuration, slot
settings, Key Vault reference status and `slotsswap` (a long-running operation), Azure Monitor's
metrics batch API (with its ingestion delay), Log Analytics' query API over the slots' HTTP logs,
Key Vault's secrets (behind its authentication challenge), a Postgres Flexible Server's on-demand
backups (a long-running operation), and the two slots themselves answering their health paths
with the version their image carries.

State is linked the way the platform links it: setting the staging slot's image restarts that
slot (not ready for `restart_seconds`, then serving the new tag); a swap exchanges what the two
slots run; metrics come from whatever version each slot serves (`bad_versions` answer 10% 5xx).
"""

from __future__ import annotations

import itertools
import math
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import trustme
from werkzeug import Request

from tests.releases.cloud_fakes.http import FakeAPI, Reply, json_body

TENANT = "00000000-0000-0000-0000-0000000000aa"
CLIENT_ID = "00000000-0000-0000-0000-0000000000bb"
CLIENT_SECRET = "azure-test-secret-5f1c9a"  # a secret: must never appear in output or the journal
ACCESS_TOKEN = "arm-access-token-77e0c2"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-platform-staging"
APP = "app-platform-staging"
SLOT = "staging"
REPOSITORY = "registry.example.com/web"
SERVER = "pg-platform-staging"
DATABASE_URL = "postgresql://app:vault-held-password-93b1@pg.internal:5432/app"  # a secret too
WORKSPACE = "00000000-0000-0000-0000-0000000000cc"  # the Log Analytics workspace (its customerId)
LOG_TICK_SECONDS = 0.1  # HTTP log rows are grouped by this much time


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


@dataclass(frozen=True)
class HttpLogGroup:
    """AppServiceHTTPLogs rows of one slot in one tick: same time, same time taken."""

    time_generated: float
    resource_id: str  # _ResourceId, lower-case as Log Analytics stores it
    ok: int  # ScStatus 200
    errors: int  # ScStatus 500
    time_taken_ms: int


SUMMARY = re.compile(r"(\w+)\s*=\s*(count\(\)|countif\((\w+)\s*(<=|>=)\s*(\d+)\))")
RESOURCE = re.compile(r"_ResourceId =~ '((?:[^'\\]|\\.)*)'")
WINDOW = re.compile(r"TimeGenerated >= datetime\(([^)]+)\) and TimeGenerated < datetime\(([^)]+)\)")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _evaluate_http_logs(
    query: str, timespan: str | None, logs: list[HttpLogGroup], visible_before: float
) -> tuple[list[dict[str, str]], list[int]]:
    """The subset of KQL the gates send: `AppServiceHTTPLogs | where _ResourceId =~ '...' | where
    TimeGenerated >= datetime(..) and TimeGenerated < datetime(..) | summarize name = count(),
    name = countif(Column <= N), ...`; anything else is a syntax error."""
    resource, window = RESOURCE.search(query), WINDOW.search(query)
    if (
        not query.startswith("AppServiceHTTPLogs")
        or resource is None
        or window is None
        or "summarize" not in query
    ):
        raise ValueError(f"this fake answers the gates' query shape only, not {query!r}")
    start, end = _epoch(window[1]), _epoch(window[2])
    if timespan:  # the API's own timespan restricts the query further
        span_start, span_end = (_epoch(part) for part in timespan.split("/"))
        start, end = max(start, span_start), min(end, span_end)
    rows = [
        log
        for log in logs
        if log.resource_id == resource[1].lower()
        and start <= log.time_generated < end
        and log.time_generated < visible_before
    ]
    columns, values = [], []
    for name, expression, column, operator, number in SUMMARY.findall(query.split("summarize", 1)[1]):
        total = 0
        for log in rows:
            if expression == "count()":
                total += log.ok + log.errors
            elif column == "ScStatus" and operator == ">=":
                threshold = int(number)
                total += (log.errors if threshold <= 500 else 0) + (log.ok if threshold <= 200 else 0)
            elif column == "TimeTaken" and operator == "<=":
                total += (log.ok + log.errors) if log.time_taken_ms <= int(number) else 0
            else:
                raise ValueError(f"unsupported condition {expression}")
        columns.append({"name": name, "type": "long"})
        values.append(total)
    return columns, values


class Slot:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.ready_at = 0.0
        self.app_settings: dict[str, str] = {"NODE_ENV": "production"}
        # Key Vault references among the settings, by name: App Service's resolution status.
        self.references: dict[str, str] = {"DATABASE_URL": "Resolved"}


class FakeAzure(FakeAPI):
    def __init__(self, ca: trustme.CA, restart_seconds: float = 0.3) -> None:
        super().__init__(ca)
        self.restart_seconds = restart_seconds
        self.slots = {"production": Slot("1.0.0"), SLOT: Slot("1.0.0")}
        self.sticky_names: list[str] = []
        self.bad_versions: set[str] = set()
        self.requests_per_minute = 600.0
        self.operations: dict[str, int] = {}  # swap operation -> polls left before it completes
        # Key Vault: secret name -> (value, enabled).
        self.vault: dict[str, tuple[str, bool]] = {
            name: (DATABASE_URL if name == "database-url" else f"value-of-{name}", True)
            for name in (
                "database-url",
                "redis-url",
                "nextauth-secret",
                "stripe-secret-key",
                "stripe-webhook-secret",
                "applicationinsights-connection-string",
            )
        }
        self.backups: dict[str, str | None] = {}  # on-demand backup -> completed time (None: running)
        self.backup_error: str | None = None  # the error ARM answers a backup request with
        # The error a backup's status monitor reports once it ran (accepted with 202, then Failed).
        self.backup_async_failure: str | None = None
        self.backup_operations: dict[str, tuple[str, int]] = {}  # operation -> (backup, polls left)
        # What every time-dependent answer is judged by (a test may move it).
        self.clock: Callable[[], float] = time.time
        # Azure Monitor: minutes are complete this long after they end; until then zero or missing.
        self.ingestion_delay_seconds = 0.0
        self.late_minutes = "zero"
        self.metric_queries: list[tuple[datetime, datetime]] = []
        # Log Analytics: the slots' HTTP logs, grouped by second, visible after the delay.
        self.logs_per_second = 200.0
        self.logs_ingestion_delay_seconds = 0.5
        self.http_logs: list[HttpLogGroup] = []
        self.log_queries: list[str] = []
        self._logged_until = float(math.floor(time.time()))
        self._ids = itertools.count(1)
        site = self.site_id
        slot = rf"{site}/slots/{SLOT}"
        self.route("GET", rf"/{TENANT}/v2.0/.well-known/openid-configuration", self._openid)
        self.route("POST", rf"/{TENANT}/oauth2/v2.0/token", self._token)
        self.route("GET", rf"{slot}/config/web", self._get_config)
        self.route("PATCH", rf"{slot}/config/web", self._patch_config)
        self.route("GET", rf"{site}/config/slotConfigNames", self._sticky)
        self.route("POST", rf"{site}/config/appsettings/list", lambda r, m: self._settings("production"))
        self.route("POST", rf"{slot}/config/appsettings/list", lambda r, m: self._settings(SLOT))
        self.route("GET", rf"{slot}/config/configreferences/appsettings", self._references)
        self.route("POST", rf"{slot}/slotsswap", self._swap)
        self.route("GET", r"/operations/(?P<id>\d+)", self._operation)
        self.route("POST", rf"/subscriptions/{SUBSCRIPTION}/metrics:getBatch", self._metrics)
        self.route("POST", r"/v1/workspaces/(?P<workspace>[0-9a-f-]+)/query", self._query_logs)
        server = (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
            f"Microsoft.DBforPostgreSQL/flexibleServers/{SERVER}"
        )
        self.route("PUT", rf"{server}/backups/(?P<name>[\w-]+)", self._start_backup)
        self.route("GET", rf"{server}/backups/(?P<name>[\w-]+)", self._backup)
        self.route("GET", r"/azureAsyncOperation/(?P<operation>[\w-]+)", self._backup_status)
        self.route("GET", r"/operationResults/(?P<operation>[\w-]+)", self._backup_result)
        self.route("GET", r"/secrets", self._secrets)
        self.route("GET", r"/secrets/(?P<name>[\w-]+)/?", self._secret)
        self.route("GET", r"/apps/(?P<slot>\w+)/health", self._health)
        self.route("GET", r"/apps/(?P<slot>\w+)/health/ready", self._ready)

    site_id = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Web/sites/{APP}"
    )

    def slot_url(self, slot: str) -> str:
        return f"{self.url}/apps/{slot}"

    def serving(self) -> dict[str, str]:
        return {name: slot.tag for name, slot in self.slots.items()}

    # -- Entra ----------------------------------------------------------------------------------

    def _openid(self, request: Request, match: re.Match[str]) -> Reply:
        base = f"{self.url}/{TENANT}"
        return 200, {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
        }

    def _token(self, request: Request, match: re.Match[str]) -> Reply:
        if request.form.get("client_id") != CLIENT_ID or request.form.get("client_secret") != CLIENT_SECRET:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret",
            }
        return 200, {"token_type": "Bearer", "expires_in": 3600, "access_token": ACCESS_TOKEN}

    def _authorised(self, request: Request) -> Reply | None:
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return 401, {
                "error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}
            }
        return None

    # -- ARM -------------------------------------------------------------------------------------

    def _get_config(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        return 200, {
            "id": f"{self.site_id}/slots/{SLOT}/config/web",
            "name": "web",
            "properties": {"linuxFxVersion": f"DOCKER|{REPOSITORY}:{self.slots[SLOT].tag}"},
        }

    def _patch_config(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        image = json_body(request)["properties"]["linuxFxVersion"]
        prefix = f"DOCKER|{REPOSITORY}:"
        if not image.startswith(prefix):
            return 400, {"error": {"code": "BadRequest", "message": f"unexpected image {image}"}}
        self._log_until(self.clock())  # what was served until now, by the version serving it
        self.slots[SLOT].tag = image.removeprefix(prefix)
        self.slots[SLOT].ready_at = time.monotonic() + self.restart_seconds  # the slot restarts
        return self._get_config(request, match)

    def _sticky(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        return 200, {"properties": {"appSettingNames": self.sticky_names, "connectionStringNames": []}}

    def _settings(self, slot: str) -> Reply:
        return 200, {"properties": self.slots[slot].app_settings}

    def _references(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        base = f"{self.site_id}/slots/{SLOT}/config/configreferences/appsettings"
        return 200, {
            "value": [
                {
                    "id": f"{base}/{name}",
                    "name": name,
                    "type": "Microsoft.Web/sites/slots/config/configreferences",
                    "properties": {
                        "reference": f"@Microsoft.KeyVault(VaultName=kv-platform;SecretName={name.lower()})",
                        "status": status,
                        "source": "KeyVault",
                    },
                }
                for name, status in self.slots[SLOT].references.items()
            ]
        }

    def _swap(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        if json_body(request).get("targetSlot") != "production":
            return 400, {"error": {"code": "BadRequest", "message": "targetSlot must be production"}}
        operation = str(next(self._ids))
        self.operations[operation] = 2
        location = f"{self.url}/operations/{operation}?api-version=2025-05-01"
        return 202, None, {"Location": location, "Retry-After": "1"}

    def _operation(self, request: Request, match: re.Match[str]) -> Reply:
        left = self.operations[match["id"]]
        if left > 0:
            self.operations[match["id"]] = left - 1
            return 202, None, {"Location": f"{self.url}{request.full_path}", "Retry-After": "1"}
        if left == 0:  # completes exactly once: the slots exchange what they run, warm
            self._log_until(self.clock())
            self.slots["production"], self.slots[SLOT] = self.slots[SLOT], self.slots["production"]
            self.operations[match["id"]] = -1
        return 200, None

    # -- Flexible Server backups ------------------------------------------------------------------

    def _start_backup(self, request: Request, match: re.Match[str]) -> Reply:
        """`BackupsAutomaticAndOnDemand_Create`: 202 with `Azure-AsyncOperation` (the status
        monitor, polled until Succeeded or Failed) and `Location` (the operation's result)."""
        if denied := self._authorised(request):
            return denied
        if self.backup_error is not None:
            return 400, {"error": {"code": "BackupFailed", "message": self.backup_error}}
        name = match["name"]
        self.backups[name] = None
        operation = f"backup-{next(self._ids)}"
        self.backup_operations[operation] = (name, 1)  # polls left while InProgress
        version = "api-version=2026-10-01"
        return (
            202,
            None,
            {
                "Azure-AsyncOperation": f"{self.url}/azureAsyncOperation/{operation}?{version}",
                "Location": f"{self.url}/operationResults/{operation}?{version}",
                "Retry-After": "1",
            },
        )

    def _backup_status(self, request: Request, match: re.Match[str]) -> Reply:
        """The Azure-AsyncOperation status monitor: InProgress, then Succeeded, or Failed with the
        error (`backup_async_failure`) reported asynchronously, after the 202."""
        if denied := self._authorised(request):
            return denied
        operation = match["operation"]
        name, polls_left = self.backup_operations[operation]
        document: dict[str, Any] = {"name": operation, "startTime": datetime.now(UTC).isoformat()}
        if polls_left > 0:
            self.backup_operations[operation] = (name, polls_left - 1)
            return 200, {**document, "status": "InProgress"}, {"Retry-After": "1"}
        if self.backup_async_failure is not None:
            error = {"code": "InternalServerError", "message": self.backup_async_failure}
            return 200, {**document, "status": "Failed", "error": error}
        if self.backups.get(name) is None:
            self.backups[name] = datetime.now(UTC).isoformat()
        return 200, {**document, "status": "Succeeded", "endTime": self.backups[name]}

    def _backup_result(self, request: Request, match: re.Match[str]) -> Reply:
        """The Location header's operation result: 202 while running, then 200."""
        if denied := self._authorised(request):
            return denied
        name, polls_left = self.backup_operations[match["operation"]]
        if polls_left > 0 or self.backups.get(name) is None:
            return 202, None, {"Location": f"{self.url}{request.full_path}", "Retry-After": "1"}
        return 200, None

    def _backup(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        name = match["name"]
        if name not in self.backups:
            return 404, {"error": {"code": "ResourceNotFound", "message": f"backup {name} not found"}}
        return 200, {
            "id": f"{request.path}",
            "name": name,
            "type": "Microsoft.DBforPostgreSQL/flexibleServers/backups",
            "properties": {
                "backupType": "Customer On-Demand",
                "completedTime": self.backups[name],
                "source": "Automatic",
            },
        }

    # -- Key Vault -------------------------------------------------------------------------------

    def _vault_challenge(self, request: Request) -> Reply | None:
        """Key Vault answers an unauthenticated request with a challenge naming the tenant."""
        if request.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}":
            return None
        challenge = f'Bearer authorization="{self.url}/{TENANT}", resource="https://vault.azure.net"'
        return (
            401,
            {"error": {"code": "Unauthorized", "message": "AKV10000"}},
            {"WWW-Authenticate": challenge},
        )

    def _secrets(self, request: Request, match: re.Match[str]) -> Reply:
        if challenge := self._vault_challenge(request):
            return challenge
        return 200, {
            "value": [
                {"id": f"{self.url}/secrets/{name}", "attributes": {"enabled": enabled}}
                for name, (_, enabled) in self.vault.items()
            ],
            "nextLink": None,
        }

    def _secret(self, request: Request, match: re.Match[str]) -> Reply:
        if challenge := self._vault_challenge(request):
            return challenge
        name = match["name"]
        if name not in self.vault:
            return 404, {
                "error": {
                    "code": "SecretNotFound",
                    "message": f"A secret with (name/id) {name} was not found in this key vault.",
                }
            }
        value, enabled = self.vault[name]
        return 200, {"value": value, "id": f"{self.url}/secrets/{name}/1", "attributes": {"enabled": enabled}}

    def _metrics(self, request: Request, match: re.Match[str]) -> Reply:
        """Azure Monitor's metrics batch API (`metrics:getBatch`, Microsoft.Insights data plane):
        the asked timespan cut into the asked interval, only the asked aggregations, and the
        newest minutes as the service gives them: zero (or, with `late_minutes="missing"`, no
        value at all) until `ingestion_delay_seconds` after the minute ends."""
        if denied := self._authorised(request):
            return denied
        resource = json_body(request)["resourceids"][0]
        slot = SLOT if resource.endswith(f"/slots/{SLOT}") else "production"
        names = urllib.parse.unquote(request.args["metricnames"]).split(",")
        if request.args.get("interval", "PT1M") != "PT1M":
            return 400, {
                "code": "BadRequest",
                "message": "this fake serves PT1M only, as App Service's grain",
            }
        aggregations = [a.strip().lower() for a in request.args.get("aggregation", "average").split(",")]
        start = _minute(datetime.fromisoformat(request.args["starttime"].replace("Z", "+00:00")))
        end = _minute(datetime.fromisoformat(request.args["endtime"].replace("Z", "+00:00")))
        self.metric_queries.append((start, end))
        bad = self.slots[slot].tag in self.bad_versions
        complete_before = datetime.fromtimestamp(self.clock() - self.ingestion_delay_seconds, UTC)
        per_minute = {
            "Requests": {
                "total": self.requests_per_minute,
                "count": 1.0,
                "average": self.requests_per_minute,
            },
            "Http5xx": {"total": self.requests_per_minute * (0.1 if bad else 0.0), "count": 1.0},
            "HttpResponseTime": {"average": 0.9 if bad else 0.08, "count": self.requests_per_minute},
        }
        minutes = [start + timedelta(minutes=i) for i in range(int((end - start).total_seconds() // 60))]

        def point(name: str, minute: datetime) -> dict[str, Any]:
            if minute + timedelta(minutes=1) <= complete_before:
                values = per_minute.get(name, {})
                return {key: values.get(key, 0.0) for key in aggregations if key in values}
            if self.late_minutes == "missing":
                return {}
            return {key: 0.0 for key in aggregations if key in ("total", "count")}

        metrics = [
            {
                "id": f"{resource}/providers/Microsoft.Insights/metrics/{name}",
                "type": "Microsoft.Insights/metrics",
                "name": {"value": name, "localizedValue": name},
                "unit": "Count",
                "timeseries": [
                    {
                        "metadatavalues": [],
                        "data": [{"timeStamp": m.isoformat(), **point(name, m)} for m in minutes],
                    }
                ],
            }
            for name in names
        ]
        return 200, {
            "values": [
                {
                    "starttime": start.isoformat(),
                    "endtime": end.isoformat(),
                    "interval": "PT1M",
                    "namespace": request.args["metricnamespace"],
                    "resourceregion": "westeurope",
                    "resourceid": resource,
                    "value": metrics,
                }
            ]
        }

    # -- Log Analytics ---------------------------------------------------------------------------

    def _log_until(self, now: float) -> None:
        """App Service writes its HTTP log as requests are served: whole seconds up to `now`, each
        slot's as the version it serves then behaves (`bad_versions`: 10% 5xx, 900 ms)."""
        tick = self._logged_until
        while tick + LOG_TICK_SECONDS <= now:
            for name, slot in self.slots.items():
                bad = slot.tag in self.bad_versions
                count = round(self.logs_per_second * LOG_TICK_SECONDS)
                errors = count // 10 if bad else 0
                resource = (self.site_id if name == "production" else f"{self.site_id}/slots/{name}").lower()
                middle = tick + LOG_TICK_SECONDS / 2
                self.http_logs.append(
                    HttpLogGroup(middle, resource, count - errors, errors, 900 if bad else 80)
                )
            tick += LOG_TICK_SECONDS
        self._logged_until = tick

    def _query_logs(self, request: Request, match: re.Match[str]) -> Reply:
        """Log Analytics' query API (`POST /v1/workspaces/{workspaceId}/query`): the KQL shape the
        gates send, evaluated on the slots' HTTP logs, answered as the documented tables. Rows are
        visible only `logs_ingestion_delay_seconds` after they were written."""
        if denied := self._authorised(request):
            return denied
        if match["workspace"] != WORKSPACE:
            return 404, {
                "error": {"code": "WorkspaceNotFoundError", "message": f"workspace {match['workspace']}"}
            }
        body = json_body(request)
        now = self.clock()
        self._log_until(now)
        try:
            visible_before = now - self.logs_ingestion_delay_seconds
            columns, row = _evaluate_http_logs(
                body["query"], body.get("timespan"), self.http_logs, visible_before
            )
        except ValueError as error:
            inner = {"code": "SyntaxError", "message": str(error)}
            message = "The request had some invalid properties"
            return 400, {"error": {"code": "BadArgumentError", "message": message, "innererror": inner}}
        self.log_queries.append(body["query"])
        return 200, {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": [row]}]}

    # -- the slots themselves --------------------------------------------------------------------

    def _health(self, request: Request, match: re.Match[str]) -> Reply:
        slot = self.slots[match["slot"]]
        return 200, {"status": "healthy", "version": slot.tag}

    def _ready(self, request: Request, match: re.Match[str]) -> Reply:
        ready = time.monotonic() >= self.slots[match["slot"]].ready_at
        return (200, {"status": "ready"}) if ready else (503, {"status": "starting"})
