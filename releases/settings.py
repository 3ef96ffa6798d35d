"""Release settings: the one place the release side reads configuration.

Defaults are the runbooks' figures: steps 10 -> 50 -> 100, five
consecutive health checks before traffic, error rate 1%, p95 latency 500 ms, five minutes of
bake per step. `tasks.py` layers per-environment overrides on top (the sandbox bakes for seconds,
not minutes) from invoke's configuration, so an operator can change them in `invoke.yaml`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from releases.errors import BadInput
from releases.state_files import secure_state_directory

ENVIRONMENTS = ("sandbox", "staging", "production")
# The services the platform releases (the topology contract names them per environment).
SERVICES = ("web", "api")

ModelT = TypeVar("ModelT", bound=BaseModel)

Seconds = Annotated[float, Field(gt=0, le=24 * 3600)]

# A configured step that waits for an operator: the walk holds after the canary step before it
# until `invoke promote` (Argo Rollouts' indefinite `pause: {}`).
APPROVE = "approve"
PlanStep = int | Literal["approve"]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HealthGate(_Settings):
    """Before any traffic: the staging slot reports healthy, ready and the target version this
    many times in a row."""

    consecutive: int = Field(default=5, ge=1, le=100)
    interval_seconds: Seconds = 1.0
    timeout_seconds: Seconds = 300.0


class AnalysisGate(_Settings):
    """During each step: a bake that judges the evidence gathered since the step's weight change
    (docs/gates.md). Every verdict comes from sequential tests that stay valid however often the
    bake looks, so a step may stop early on a clear failure but passes only on evidence.

    Per pool and criterion, two one-sided mixture sequential probability ratio tests (test
    martingales, Ville's inequality) on counts: the error rate against `max_error_rate`, and the
    share of requests slower than `max_p95_seconds` against 5% (the p95 is under the limit exactly
    when fewer than 5% of requests are slower). FAIL when "within the limit" is rejected at
    `fail_alpha`, PASS when "at or over the limit" is rejected at `pass_beta`, after at least
    `bake_seconds` of data and `min_requests` requests. Canary against stable: errors by exact
    (Clopper-Pearson) bounds on each rate, latency by a Mann-Whitney test on the histograms, both
    at `comparison_alpha` spent over the comparison looks; they can only fail a step.
    """

    # The least data a PASS needs, counted from when the step's data starts arriving (a source's
    # ingestion delay adds to it): the runbooks' five minutes of watching.
    bake_seconds: Seconds = 300.0
    # The deadline per step: data still too thin to decide by then holds the release (traffic
    # unchanged), counted from the weight change plus the source's ingestion delay.
    max_bake_seconds: Seconds = 3600.0
    # No judged request, or no fresh data, for this long (plus the ingestion delay) holds early:
    # waiting longer for evidence that is not arriving gains nothing.
    max_idle_seconds: Seconds = 600.0
    interval_seconds: Seconds = 10.0
    max_error_rate: float = Field(default=0.01, gt=0, lt=1)
    max_p95_seconds: Seconds = 0.5
    # P(FAIL) for a pool truly within a limit, per test: low, since a FAIL rolls back.
    fail_alpha: float = Field(default=0.001, gt=0, lt=0.5)
    # P(PASS) for a pool truly at a limit, per test: 1 - pass_beta is the stated confidence.
    pass_beta: float = Field(default=0.05, gt=0, lt=0.5)
    # A PASS also needs this many requests on the judged pool, whatever the tests say.
    min_requests: int = Field(default=100, ge=1)
    # Canary against stable, spent over the comparison looks (alpha_k = alpha * 6 / (pi^2 k^2)).
    comparison_alpha: float = Field(default=0.01, gt=0, lt=0.5)
    # The canary fails when its error rate is shown above stable's by more than this (default:
    # half of max_error_rate), ...
    comparison_error_margin: float | None = Field(default=None, ge=0, lt=1)
    # ... or when a canary request is shown slower than a stable one with probability above this
    # (Vargha and Delaney's A; 0.64 is their "medium" effect).
    comparison_latency_effect: float = Field(default=0.64, gt=0.5, lt=1)

    @property
    def error_margin(self) -> float:
        margin = self.comparison_error_margin
        return self.max_error_rate / 2 if margin is None else margin


# Secret names as App Service app settings and Key Vault both accept them (Key Vault allows no
# underscore, app settings no hyphen in environment-variable form: each store names its own).
SecretName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,126}$")]


class SmokeCheck(_Settings):
    """One HTTP request to a slot and what its answer must be."""

    path: str = Field(pattern=r"^/[A-Za-z0-9._~/?=&%-]*$")
    status: int = Field(default=200, ge=100, le=599)
    contains: str | None = None  # text the body must contain


class SmokeTests(_Settings):
    """Run against the staging slot before any traffic and against production right after the
    promotion: the HTTP checks, then the command (with `SMOKE_URL`, the slot's address). Either may
    be empty; a failure is a failed gate."""

    checks: tuple[SmokeCheck, ...] = ()
    command: tuple[str, ...] = ()
    timeout_seconds: Seconds = 60.0


class Migrations(_Settings):
    """The command a release that carries migrations runs once, with `DATABASE_URL` (read from the
    secret store under `database_url_secret`) and `RELEASE_VERSION`, before its version is deployed."""

    command: tuple[str, ...] = ()
    database_url_secret: SecretName = "DATABASE_URL"
    timeout_seconds: Seconds = 1800.0
    # An on-demand backup (and its verification) must finish within this before anything migrates.
    backup_timeout_seconds: Seconds = 3600.0


class EnvironmentSettings(_Settings):
    # Canary percentages up to 100 (the promotion), with `approve` after a canary step where the
    # walk waits for an operator: `[10, 50, approve, 100]` (or the text "10, 50, approve, 100").
    steps: tuple[PlanStep, ...] = (10, 50, 100)
    # Per service, checked before any traffic moves: present (and enabled) in its secret store.
    required_secrets: dict[str, tuple[SecretName, ...]] = {}
    smoke: SmokeTests = SmokeTests()
    migrations: Migrations = Migrations()
    confirm: bool = False
    lease_seconds: Seconds = 30.0
    health: HealthGate = HealthGate()
    analysis: AnalysisGate = AnalysisGate()
    # After the swap: the new production is watched this long before the release is complete.
    verify_seconds: Seconds = 300.0
    # How often `status --watch` reads the router and the slots (the journal it reads every second):
    # in the clouds each read is an API request, and Cloudflare's budget is shared.
    watch_observe_seconds: Seconds = 10.0

    @property
    def bake_seconds(self) -> float:
        return self.analysis.bake_seconds

    @property
    def percents(self) -> tuple[int, ...]:
        """The traffic steps, without approvals: (10, 50, 100)."""
        return tuple(step for step in self.steps if step != APPROVE)

    @property
    def approvals(self) -> frozenset[int]:
        """The canary percentages after which the walk waits for `invoke promote`."""
        return frozenset(
            before
            for before, step in zip(self.steps, self.steps[1:], strict=False)
            if step == APPROVE and isinstance(before, int)
        )

    def with_bake(self, seconds: float) -> EnvironmentSettings:
        """These settings with every canary step baking `seconds` (`release --bake`, one run)."""
        analysis = self.analysis.model_copy(update={"bake_seconds": seconds})
        return self.model_copy(update={"analysis": analysis})

    @field_validator("steps", mode="before")
    @classmethod
    def _steps_from_text(cls, steps: Any) -> Any:
        if isinstance(steps, str):
            items = [item.strip() for item in steps.split(",")]
            return [int(item) if item.isdigit() else item for item in items]
        return steps

    @field_validator("steps")
    @classmethod
    def _steps_rise_to_promotion(cls, steps: tuple[PlanStep, ...]) -> tuple[PlanStep, ...]:
        percents = [step for step in steps if step != APPROVE]
        if not percents or percents[-1] != 100 or steps[-1] == APPROVE:
            raise ValueError("steps must end with 100 (the promotion)")
        if any(not 1 <= step <= 100 for step in percents) or percents != sorted(set(percents)):
            raise ValueError("steps must be distinct percentages in 1..100, rising")
        for before, step in zip((None, *steps), steps, strict=False):
            if step == APPROVE and (before is None or before == APPROVE):
                raise ValueError(
                    "`approve` must follow a canary step (as in 10, 50, approve, 100): the walk waits "
                    "there with that step's traffic"
                )
        return steps


class CloudSettings(_Settings):
    """Where the cloud adapters send their requests and how patient they are.

    Endpoints default to the public clouds; each SDK's own setting is what they change (ARM's base
    URL, the metrics client's regional endpoint, the kubeconfig). Cloudflare's base URL is the
    SDK's own `CLOUDFLARE_BASE_URL`, its token `CLOUDFLARE_API_TOKEN`; Azure credentials are
    whatever `DefaultAzureCredential` finds (service principal variables, workload or managed
    identity, `az login`).
    """

    azure_resource_manager: str = Field(default="https://management.azure.com", pattern=r"^https://")
    # `{region}` is the app's Azure region (the metrics API is regional).
    azure_metrics_endpoint: str = Field(
        default="https://{region}.metrics.monitor.azure.com", pattern=r"^https://"
    )
    # Platform metrics are complete this long after the minute they count (until then the newest
    # minutes read 0): a gate on them judges only older minutes, so its bake lasts this much longer.
    azure_metrics_ingestion_delay_seconds: Seconds = 180.0
    # Log Analytics' query API, and how late App Service's HTTP logs arrive in the workspace
    # (Microsoft documents 20 s to 3 min; 5 min leaves room under load).
    log_analytics_endpoint: str = Field(default="https://api.loganalytics.io", pattern=r"^https://")
    log_analytics_ingestion_delay_seconds: Seconds = 300.0
    # Only for private clouds whose authority Microsoft's instance discovery does not know.
    azure_disable_instance_discovery: bool = False
    # None: the Kubernetes client's own choice ($KUBECONFIG, then ~/.kube/config).
    kubeconfig: Path | None = None
    # Cloudflare allows 1,200 API requests per 5 minutes per user; one release uses a fifth of that
    # at most, so two services releasing at once and an operator's dashboard still fit.
    cloudflare_requests_per_5_minutes: int = Field(default=240, ge=1, le=1200)
    # A Retry-After longer than this means the account is blocked: stop and report, never wait it out.
    max_retry_after_seconds: Seconds = 30.0
    # Total time one call may spend retrying 429s, 5xx and timeouts before it is given up.
    retry_timeout_seconds: Seconds = 60.0
    request_timeout_seconds: Seconds = 30.0
    # A slot swap warms the instances first; App Service allows it up to 30 minutes.
    swap_timeout_seconds: Seconds = 1800.0
    # How often a Flexible Server's on-demand backup is polled while it runs.
    backup_polling_seconds: Seconds = 10.0
    # Key Vault checks that the vault's host lies under the resource its auth challenge names; only
    # a private DNS name that breaks that rule (or a local fake) needs this off.
    key_vault_verify_challenge_resource: bool = True


class NotificationSettings(_Settings):
    """Where state changes are announced: a Slack-compatible incoming webhook, whose URL carries
    a token and so comes from an environment variable, never from a configuration file."""

    webhook_url_env: str = Field(default="RELEASE_WEBHOOK_URL", pattern=r"^[A-Z_][A-Z0-9_]*$")
    # One attempt, briefly: an announcement must not hold up the release (or rollback) it reports.
    timeout_seconds: Seconds = 3.0


STATE_URL_VARIABLE = "PLATFORM_STATE_URL"


class StateUrlSecret(_Settings):
    """The state store's URL kept in Key Vault (a team's, so that no file holds its password): the
    vault, and the secret's name in app-setting form (PLATFORM_STATE_URL is `platform-state-url`)."""

    vault_url: str = Field(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")
    name: SecretName = STATE_URL_VARIABLE


class ReleaseSettings(_Settings):
    project_dir: Path  # where the Pulumi project (and its stacks) lives
    state_dir: Path
    # The state store (journal, lock, request budget): SQLite under the state directory by default,
    # `postgresql://...` for a team. Its password is a secret: shown only through StateStore.display.
    state_url: SecretStr = SecretStr("")
    state_url_secret: StateUrlSecret | None = None  # used when no URL is given
    environments: dict[str, EnvironmentSettings]
    clouds: CloudSettings = CloudSettings()
    notifications: NotificationSettings = NotificationSettings()
    webhook_url: SecretStr | None = None  # from notifications.webhook_url_env; None: announce nothing

    def environment(self, name: str) -> EnvironmentSettings:
        if name not in self.environments:
            known = ", ".join(self.environments)
            raise BadInput(f"unknown --env {name!r}; expected one of: {known}")
        return self.environments[name]

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal.sqlite"

    @property
    def reports_dir(self) -> Path:
        """Each finished release's deployment log (markdown)."""
        return self.state_dir / "reports"

    @property
    def sandbox_dir(self) -> Path:
        return self.state_dir / "sandbox"


def load_release_settings(config: Mapping[str, Any], project_dir: Path) -> ReleaseSettings:
    """Build settings from invoke's `releases` configuration section.

    `PLATFORM_STATE_DIR` overrides the state directory (tests and CI point it at a scratch
    directory); otherwise it is `state_dir` from the configuration, relative to the project. The
    state store's URL is `PLATFORM_STATE_URL` (CI fills it from a secret), else `state_url` from the
    configuration, else the SQLite file in the state directory. The webhook URL comes from the
    variable `notifications.webhook_url_env` names.
    """
    state_dir = Path(os.environ.get("PLATFORM_STATE_DIR") or config.get("state_dir") or ".state")
    if not state_dir.is_absolute():
        state_dir = project_dir / state_dir
    environments = {
        name: _validated(EnvironmentSettings, config.get(name), f"releases.{name}") for name in ENVIRONMENTS
    }
    clouds = _validated(CloudSettings, config.get("clouds"), "releases.clouds")
    notifications = _validated(NotificationSettings, config.get("notifications"), "releases.notifications")
    webhook_url = os.environ.get(notifications.webhook_url_env) or None
    if webhook_url is not None:
        _check_webhook_url(webhook_url, notifications.webhook_url_env)
    state_url = os.environ.get(STATE_URL_VARIABLE) or config.get("state_url") or ""
    url_secret = config.get("state_url_secret")
    settings = ReleaseSettings(
        project_dir=project_dir,
        state_dir=state_dir,
        state_url=SecretStr(str(state_url)),
        state_url_secret=(
            _validated(StateUrlSecret, url_secret, "releases.state_url_secret") if url_secret else None
        ),
        environments=environments,
        clouds=clouds,
        notifications=notifications,
        webhook_url=SecretStr(webhook_url) if webhook_url else None,
    )
    # Before the journal is first opened, so it is born 0600 in a 0700 directory.
    secure_state_directory(settings.state_dir, settings.journal_path)
    return settings


def _check_webhook_url(url: str, variable: str) -> None:
    """Refuse, as bad input, a webhook URL that could not be posted to: not http(s), no host, a
    port that is not a number or out of range, white space. Checked when settings load, so a
    release never starts with a notifier that fails at its first announcement. The value holds a
    token: messages name the variable and what is wrong, never the value."""
    form = "an http(s) URL (a Slack-compatible webhook)"
    if not url.startswith(("https://", "http://")):
        raise BadInput(f"{variable} must be {form}")
    try:
        parsed = httpx.URL(url)
        port = parsed.port
        httpx.Request("POST", parsed)  # what sending builds: anything it refuses is refused here
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        # The error's own message quotes the offending part of the URL: its kind is enough.
        raise BadInput(
            f"{variable} is not a valid URL ({type(error).__name__}: check its host and port); "
            f"expected {form}"
        ) from None
    if not parsed.host:
        raise BadInput(f"{variable} has no host; expected {form}")
    if port is not None and not 0 < port < 65536:
        raise BadInput(f"{variable} has a port out of range (1-65535); expected {form}")
    if any(character.isspace() for character in url):
        raise BadInput(f"{variable} contains white space; expected {form}")


def _validated(model: type[ModelT], section: Any, where: str) -> ModelT:
    try:
        return model.model_validate(dict(section or {}))
    except ValidationError as error:
        problems = "; ".join(
            f"{where}.{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            for issue in error.errors()
        )
        raise BadInput(f"release configuration is invalid: {problems}") from None
