"""Operator tasks. Thin on purpose: parse arguments, call the library, show the result.

Exit codes: 0 done, 1 unexpected failure, 2 bad input, 3 refused with nothing changed (lock held,
precondition not met, sandbox not running, lock taken over), 4 a gate failed (rolled back, or held
with --hold), 5 held (the gate's evidence stayed too thin to judge by the step's deadline; traffic
unchanged), 130 / 143 interrupted by SIGINT / SIGTERM.

Release tasks import nothing from Pulumi or any cloud SDK: `invoke status` must stay fast.
"""

from __future__ import annotations

import json as json_module
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from contract import EXIT_BAD_INPUT, SECRET_APP_SETTINGS

if TYPE_CHECKING:
    from releases.console import ConsoleProgress
    from releases.engine import Engine, Result
    from releases.journal import Journal
    from releases.notify import Notifier
    from releases.settings import ReleaseSettings
    from releases.topology import Topology

PROJECT_DIR = Path(__file__).resolve().parent

# Short options, the same in every task that has the option; no other option gets one, so `-h`
# is always help (invoke's own short options came from first letters: `release -h` was --hold).
SHORT_OPTIONS = {"env": "e", "service": "s", "version": "v", "percent": "p", "yes": "y", "reason": "r"}


class OperatorTask(Task[Any]):
    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        if name in SHORT_OPTIONS:
            opts["names"] = [*opts["names"], SHORT_OPTIONS[name]]
        return opts


def task(*args: Any, **kwargs: Any) -> Any:
    """invoke's @task with this file's short options."""
    return invoke_task(*args, klass=OperatorTask, auto_shortflags=False, **kwargs)


# Per-environment release settings over the runbook defaults (releases/settings.py). The sandbox
# bakes for seconds so that a whole rehearsal takes minutes, not hours.
DEFAULTS: dict[str, Any] = {
    "releases": {
        "default_environment": "sandbox",
        "default_service": "web",
        "state_dir": ".state",
        # The state store: empty for SQLite under the state directory; a team sets
        # PLATFORM_STATE_URL=postgresql://... (or this key, without a password in the file).
        "state_url": "",
        "sandbox": {
            "lease_seconds": 10,
            "health": {"consecutive": 5, "interval_seconds": 0.2, "timeout_seconds": 15},
            # A step passes on evidence (about 390 clean canary requests against a 1% limit), so at
            # thin load it extends; with no traffic or no fresh metrics it holds after 15 s.
            "analysis": {
                "bake_seconds": 8,
                "interval_seconds": 1,
                "max_bake_seconds": 600,
                "max_idle_seconds": 15,
                "min_requests": 50,
            },
            "verify_seconds": 5,
            "watch_observe_seconds": 1,
            "required_secrets": {
                "web": ["DATABASE_URL", "REDIS_URL", "SESSION_SECRET"],
                "api": ["DATABASE_URL", "REDIS_URL"],
            },
            "smoke": {
                # Not `/`: its injected faults are for the metric gates, which judge thousands of
                # requests; one smoke request would catch a 30% error rate only now and then.
                "checks": [
                    {"path": "/health", "status": 200, "contains": '"database": "connected"'},
                    {"path": "/health", "status": 200, "contains": '"redis": "connected"'},
                ],
                "timeout_seconds": 5,
            },
            "migrations": {
                "command": [sys.executable, "-m", "releases.sandbox.migrate"],
                "timeout_seconds": 60,
                "backup_timeout_seconds": 120,
            },
        },
        "staging": {
            "analysis": {"bake_seconds": 120},
            "verify_seconds": 120,
            "required_secrets": {"web": list(SECRET_APP_SETTINGS)},
            "smoke": {"checks": [{"path": "/health/ready", "status": 200}]},
        },
        "production": {
            "confirm": True,
            # Argo's indefinite pause: `release --auto` holds after 50% until `invoke promote`.
            "steps": [10, 50, "approve", 100],
            "required_secrets": {"web": list(SECRET_APP_SETTINGS)},
            "smoke": {"checks": [{"path": "/health/ready", "status": 200}]},
        },
    }
}


def _plain(value: Any) -> Any:
    """invoke's configuration proxies as plain dicts and lists, for validation."""
    if hasattr(value, "keys"):
        return {key: _plain(value[key]) for key in value}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _settings(c: Context) -> ReleaseSettings:
    from releases.settings import load_release_settings

    return load_release_settings(_plain(c.config.releases), PROJECT_DIR)


@contextmanager
def _operator_errors() -> Iterator[None]:
    """Domain errors become a message and their exit code; anything else is a bug (exit 1).
    SIGTERM unwinds like Ctrl-C, so the engine can journal either (exit 130 / 143)."""
    from releases import signals
    from releases.errors import ReleaseError, Terminated

    try:
        with signals.interruptible():
            yield
    except ReleaseError as error:
        text = str(error)  # "gate failed at 10%: ..." already says what it is
        raise Exit(
            text if text.startswith(error.prefix) else f"{error.prefix}: {text}", code=error.exit_code
        ) from None
    except (KeyboardInterrupt, Terminated) as interruption:  # outside any release step
        raise Exit(
            f"interrupted by {signals.signal_name(interruption)}", code=signals.exit_code(interruption)
        ) from None


def _journal(settings: ReleaseSettings) -> Journal:
    """The journal on the state store the settings name (`PLATFORM_STATE_URL`, `releases.state_url`,
    or SQLite under the state directory); an old schema is refused there with the command to run."""
    import getpass

    from releases.journal import Journal
    from releases.state.store import open_store
    from releases.state.url import state_url

    store = open_store(state_url(settings))
    store.check_schema()  # at start: an old schema is refused before anything is observed or done
    return Journal(store, operator=getpass.getuser())


def _engine(
    c: Context,
    env: str,
    service: str,
    progress: ConsoleProgress | None = None,
    topology: Topology | None = None,
    topology_file: str = "",
    bake_seconds: float | None = None,
) -> Engine:
    """The engine for one service. `topology` is passed in by callers that build several engines,
    so the environment is described (and the sandbox checked) once, not once per service."""
    from releases.engine import Engine
    from releases.environments import topology as read_topology
    from releases.targets.factory import connect

    settings = _settings(c)
    environment = env or c.config.releases.default_environment
    service = service or c.config.releases.default_service
    policy = settings.environment(environment)
    if bake_seconds is not None:  # `release --bake`: this run only
        policy = policy.with_bake(bake_seconds)
    journal = _journal(settings)
    described = topology or read_topology(
        settings, environment, Path(topology_file) if topology_file else None
    )
    targets = connect(settings, described, service)
    return Engine(
        environment,
        service,
        targets,
        policy,
        journal,
        progress,
        notifier=_notifier(settings),
        reports_dir=settings.reports_dir,
    )


def _notifier(settings: ReleaseSettings) -> Notifier | None:
    if settings.webhook_url is None:
        return None
    from releases.notify import Webhook

    return Webhook(settings.webhook_url.get_secret_value(), settings.notifications.timeout_seconds)


def _parse_percent(text: str) -> int:
    from releases.engine import validate_percent
    from releases.errors import BadInput

    if not text.strip().isdigit():
        raise BadInput(f"--percent must be a whole number from 1 to 100, got {text!r}")
    return validate_percent(int(text))


def _confirm(engine: Engine, yes: bool, what: str) -> None:
    from releases.errors import Refused

    if yes or not engine.settings.confirm:
        return
    where = engine.environment
    if not sys.stdin.isatty():
        raise Refused(f"{what} in {where} needs confirmation: pass --yes (no terminal to ask on)")
    if input(f"{what} in {where}. Proceed? [y/N] ").strip().lower() not in ("y", "yes"):
        raise Refused("not confirmed; nothing was changed")


def _console() -> Any:
    from rich.console import Console

    return Console()


@task(
    help={
        "percent": "1-99 sets the canary weight; 100 promotes (swap, then all traffic to stable)",
        "version": "the version to release; required on the first step (deploys it to the staging slot)",
        "env": "sandbox (default), staging or production",
        "service": "web (default) or api",
        "auto": "walk every step (10 -> 50 -> 100 by default) with its gates",
        "dry_run": "observe and print the plan, change nothing",
        "yes": "do not ask for confirmation (production asks otherwise)",
        "hold": "when a gate fails, keep traffic as it is instead of rolling back",
        "topology": "a release_targets JSON file to use instead of the stack output (cloud environments)",
        "migration": "the release carries a migration: reversible or irreversible (first step only); "
        "it runs once, after a verified backup, before the version is deployed",
        "force": "with --percent 100: promote although the current step's gate did not pass (needs --reason)",
        "reason": "why: journaled with the release (and required by --force)",
        "bake": "bake each canary step this long, this run only: 90s, 10m, 1.5h or seconds (45)",
    }
)
def release(
    c: Context,
    percent: str = "",
    version: str | None = None,  # None: not given; '' is given, and refused by the version rule
    env: str = "",
    service: str = "",
    auto: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    hold: bool = False,
    topology: str = "",
    migration: str = "",
    force: bool = False,
    reason: str = "",
    bake: str = "",
) -> None:
    """Move a release one step (--percent N) or all the way (--auto), with its gates."""
    from releases.console import ConsoleProgress, describe_result
    from releases.durations import parse_duration
    from releases.errors import BadInput
    from releases.model import Migration
    from releases.targets.slots.image_tags import check_version

    console = _console()
    with _operator_errors():
        if auto == bool(percent):
            raise BadInput("give exactly one of --percent N (1-100) or --auto")
        step = None if auto else _parse_percent(percent)
        if version is not None:
            check_version(version)  # before anything is read: the engine checks it again, the same way
        bake_seconds = parse_duration(bake, "--bake") if bake else None
        if migration and migration not in set(Migration):
            raise BadInput(f"--migration must be reversible or irreversible, got {migration!r}")
        declared = Migration(migration) if migration else None
        progress = ConsoleProgress(console)
        engine = _engine(c, env, service, progress, topology_file=topology, bake_seconds=bake_seconds)
        why = reason.strip() or None

        def run(dry: bool) -> list[Result]:
            if step is None:
                return engine.auto(version, hold, dry, declared, why)
            return [engine.release(step, version, hold, dry, declared, force, why)]

        if not dry_run and engine.settings.confirm and not yes:
            # Production: the operator sees what will happen (version, weights, every step) first.
            _show_plans(console, engine, run(True), "plan")
            _confirm(engine, yes, f"releasing {engine.service}")
        try:
            results = run(dry_run)
        finally:
            progress.close()
        if dry_run:  # a real run reported each action and each step's end as it went
            _show_plans(console, engine, results, "plan (dry run, nothing changed)")
        console.print(describe_result(results[-1]), highlight=False)


def _show_plans(console: Any, engine: Engine, results: list[Result], title: str) -> None:
    from releases.console import plan_table

    live = engine.observe()
    first = results[0].release
    version = first.version if first is not None else None
    console.print(
        f"{engine.environment}/{engine.service}: production serves {live.production.version}, weights "
        f"{live.weights}" + (f"; releasing {version}" if version else ""),
        highlight=False,
    )
    for result in results:
        if result.actions:
            console.print(plan_table(result.actions, f"{engine.environment}/{engine.service}: {title}"))


@task(
    help={
        "env": "sandbox (default), staging or production",
        "service": "web (default) or api",
        "dry_run": "observe and print the plan, change nothing",
        "yes": "do not ask for confirmation (production asks otherwise)",
        "topology": "a release_targets JSON file to use instead of the stack output (cloud environments)",
        "past_migration": "roll back past an irreversible migration (only once the database is restored)",
        "reason": "why: journaled with the release",
    }
)
def rollback(
    c: Context,
    env: str = "",
    service: str = "",
    dry_run: bool = False,
    yes: bool = False,
    topology: str = "",
    past_migration: bool = False,
    reason: str = "",
) -> None:
    """Put all traffic back on the previous version, from any shell.

    Weights to stable, and a swap back if the release was promoted. Works while a release runs in
    another shell: it takes the lock over, and that release stops at its next check."""
    from releases.console import describe_result, plan_table

    console = _console()
    with _operator_errors():
        engine = _engine(c, env, service, topology_file=topology)
        if not dry_run:
            _confirm(engine, yes, f"rolling back {engine.service}")
        result = engine.rollback(
            dry_run=dry_run, past_migration=past_migration, reason=reason.strip() or None
        )
        if result.actions:
            title = "plan (dry run, nothing changed)" if dry_run else "rolled back"
            console.print(plan_table(result.actions, f"{engine.environment}/{engine.service}: {title}"))
        console.print(describe_result(result), highlight=False)


@task(
    help={
        "env": "sandbox (default), staging or production",
        "service": "one service (default: every service of the environment)",
        "json": "print one JSON document instead of a table",
        "topology": "a release_targets JSON file to use instead of the stack output (cloud environments)",
        "watch": "a live view, refreshed every second until Ctrl-C: the bake's time left and figures too",
    }
)
def status(
    c: Context, env: str = "", service: str = "", json_: bool = False, topology: str = "", watch: bool = False
) -> None:
    """Show weights, what each slot serves, the release and who holds the lock."""
    from releases.console import status_document, status_table
    from releases.environments import topology as read_topology
    from releases.errors import BadInput
    from releases.watch import Watcher

    with _operator_errors():
        if watch and json_:
            raise BadInput("give --watch or --json, not both (--watch is for a terminal)")
        settings = _settings(c)
        environment = env or c.config.releases.default_environment
        described = read_topology(settings, environment, Path(topology) if topology else None)
        services = [service] if service else sorted(described.services)
        engines = [_engine(c, environment, name, topology=described) for name in services]
        if watch:
            _watch(engines)
            return
        views = [Watcher(engine).view(0.0) for engine in engines]
    statuses = [view.status for view in views]
    bakes = {view.status.service: view.figures for view in views}
    if json_:
        print(json_module.dumps(status_document(statuses, bakes), indent=2))
    else:
        _console().print(status_table(statuses, bakes))


def _watch(engines: list[Engine]) -> None:
    """`status --watch`: redraw about once a second until Ctrl-C, which ends it normally (exit 0)."""
    import time

    from rich.live import Live

    from releases.console import watch_view
    from releases.watch import Watcher

    watchers = [Watcher(engine) for engine in engines]

    def frame() -> Any:
        return watch_view([watcher.view(time.monotonic()) for watcher in watchers], time.time())

    try:
        with Live(frame(), console=_console(), auto_refresh=False, redirect_stdout=False) as live:
            while True:
                time.sleep(1)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        return


def _control(c: Context, control: str, env: str, service: str, reason: str, full: bool = False) -> None:
    """Journal a control for the release running now, then wait briefly for it to act on it."""
    from releases.controls import Control, acknowledgement, request

    with _operator_errors():
        settings = _settings(c)
        environment = env or c.config.releases.default_environment
        service = service or c.config.releases.default_service
        policy = settings.environment(environment)
        journal = _journal(settings)
        since = journal.last_seq()
        record = request(journal, environment, service, Control(control), reason.strip() or None, full)
        # The release looks once per analysis interval: a few of them, and a moment for the store.
        seen = acknowledgement(
            journal, record, Control(control), since, 3 * policy.analysis.interval_seconds + 2
        )
    what = "promote --full" if full else control
    where = f"{environment}/{service} {record.version}"
    if seen is None:
        every = policy.analysis.interval_seconds
        print(
            f"{what} journaled for {where}; the running release acts on it at its next check "
            f"(every {every:g} s): `invoke status --watch` shows it"
        )
    else:
        print(f"{what}: {where} {seen}")


CONTROL_HELP = {
    "env": "sandbox (default), staging or production",
    "service": "web (default) or api",
    "reason": "why: journaled with the control, shown in history and the deployment log",
}


@task(help={**CONTROL_HELP, "full": "skip the remaining steps: promote now (swap, then all traffic)"})
def promote(c: Context, env: str = "", service: str = "", reason: str = "", full: bool = False) -> None:
    """End the running release's current bake now and go on (or approve an approval step), from any shell.

    Its gate figures so far are journaled with who promoted and why. With --full the remaining
    steps are skipped (journaled as such): the swap, then all traffic to the new version."""
    _control(c, "promote", env, service, reason, full)


@task(help=CONTROL_HELP)
def pause(c: Context, env: str = "", service: str = "", reason: str = "") -> None:
    """Hold the running release at its current step, from any shell (the bake clock stops).

    Traffic stays as it is and the gates still watch it (a failure still rolls back); `invoke resume`
    continues the bake with the time it had left."""
    _control(c, "pause", env, service, reason)


@task(help=CONTROL_HELP)
def resume(c: Context, env: str = "", service: str = "", reason: str = "") -> None:
    """Continue a paused release's bake with the time it had left, from any shell."""
    _control(c, "resume", env, service, reason)


@task(
    help={
        "env": "only this environment",
        "service": "only this service (web or api)",
        "limit": "only the last N releases (default: all)",
        "json": "print one JSON document instead of a table",
    }
)
def history(c: Context, env: str = "", service: str = "", limit: str = "", json_: bool = False) -> None:
    """Every release in the journal, oldest first: id, duration, versions, outcome, who and why."""
    from releases.console import history_document, history_table
    from releases.errors import BadInput
    from releases.settings import SERVICES

    with _operator_errors():
        settings = _settings(c)
        if env:
            settings.environment(env)
        if service and service not in SERVICES:
            raise BadInput(f"unknown --service {service!r}; expected one of: {', '.join(SERVICES)}")
        if limit and not (limit.isdigit() and int(limit) > 0):
            raise BadInput(f"--limit must be a whole number of releases above 0 (20), got {limit!r}")
        records = _journal(settings).releases(env or None, service or None)
        if limit:
            records = records[-int(limit) :]
    if json_:
        print(json_module.dumps(history_document(records), indent=2))
    else:
        _console().print(history_table(records))


@task(
    help={
        "env": "stack to plan: staging or production (required)",
        "json": "print one JSON document (resources with their inputs, outputs) instead of tables",
    }
)
def plan(c: Context, env: str = "", json_: bool = False) -> None:
    """Show what a stack declares, offline.

    The Pulumi program under Pulumi's mocks: no credentials and no Pulumi CLI. Secret values are
    shown as "[secret]"."""
    # Imported here so that `invoke --list` and the release tasks never load Pulumi.
    from infra.offline import run_offline
    from infra.program import build
    from infra.settings import SettingsError

    if not env:
        raise Exit("--env is required: staging or production", code=EXIT_BAD_INPUT)
    try:
        result = run_offline(PROJECT_DIR, env, build)
    except SettingsError as error:
        raise Exit(f"plan --env {env}: {error}", code=EXIT_BAD_INPUT) from None

    if json_:
        print(json_module.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        from infra.inventory import inventory

        _console().print(inventory(result))


@task(help={"json": "print one JSON document (every difference, with what allows it) instead of a table"})
def parity(c: Context, json_: bool = False) -> None:
    """Compare staging with production, offline, difference by difference.

    Exits 1 when a difference is neither in the sizing table nor a per-stack value (for example a
    security setting)."""
    from infra.offline import run_offline
    from infra.parity import compare
    from infra.program import build
    from infra.settings import SettingsError

    try:
        staging, production = (run_offline(PROJECT_DIR, stack, build) for stack in ("staging", "production"))
    except SettingsError as error:
        raise Exit(f"parity: {error}", code=EXIT_BAD_INPUT) from None
    differences = compare(staging, production)
    flagged = [difference for difference in differences if difference.flagged]
    if json_:
        document = {"differences": [d.to_json() for d in differences], "flagged": len(flagged)}
        print(json_module.dumps(document, indent=2, sort_keys=True, default=str))
    else:
        from infra.inventory import parity_table

        _console().print(parity_table(staging, production, differences))
    if flagged:
        raise Exit(
            f"parity: {len(flagged)} difference(s) between staging and production are not explained by "
            f"the sizing table or a stack value: {', '.join(d.path for d in flagged)}",
            code=1,
        )


@task(
    help={
        "env": "stack to judge: staging or production (required)",
        "json": "print one JSON document (each rule's id, reference, enforcement level, violations)",
        "new-stack": "judge a new stack's first preview (values the clouds compute are unknown)",
    }
)
def policy(c: Context, env: str = "", json_: bool = False, new_stack: bool = False) -> None:
    """Judge a stack against every rule of the policy pack (policies/), offline.

    The Pulumi program under Pulumi's mocks: no credentials and no Pulumi CLI. Exits 1 when a
    mandatory rule is violated, or could not be verified because a value it reads is unknown."""
    from infra.offline import run_offline
    from infra.program import build
    from infra.settings import SettingsError
    from policies.check import check_plan
    from policies.rules import RULES

    if not env:
        raise Exit("--env is required: staging or production", code=EXIT_BAD_INPUT)
    try:
        plan = run_offline(PROJECT_DIR, env, build, new_stack=new_stack)
    except SettingsError as error:
        raise Exit(f"policy --env {env}: {error}", code=EXIT_BAD_INPUT) from None
    report = check_plan(plan, RULES, new_stack=new_stack)
    if json_:
        print(json_module.dumps(report.to_json(), indent=2))
    else:
        from policies.report import policy_table

        _console().print(policy_table(report))
    if report.blocking:
        violations = [
            f"{outcome.rule.id} on {finding.resource}"
            for outcome in report.blocking
            for finding in outcome.findings
        ]
        raise Exit(f"policy --env {env}: mandatory rule(s) violated: {'; '.join(violations)}", code=1)


@task(
    help={
        "json": "where to write the JSON report (default: <state dir>/rehearsal/report.json)",
        "rate": "requests per second of steady load through HAProxy (default 200)",
        "keep": "leave the sandbox running afterwards (default: take it down)",
    }
)
def rehearse(c: Context, json_: str = "", rate: str = "200", keep: bool = False) -> None:
    """The main job: rehearse releases on a fresh sandbox under load, and report.

    Six scenarios: a good release, a bad release caught by the gates, a promotion rolled back by
    hand, a release with a migration, a release held for want of traffic and a bad release caught
    under thin load; prints a summary and writes a JSON report."""
    from releases.console import rehearsal_table
    from releases.errors import BadInput
    from releases.rehearsal.run import Rehearsal, write_report

    console = _console()
    with _operator_errors():
        try:
            requests_per_second = float(rate)
        except ValueError:
            raise BadInput(f"--rate must be a number of requests per second (200), got {rate!r}") from None
        if not 1 <= requests_per_second <= 1000:
            raise BadInput(f"--rate must be between 1 and 1000 requests per second, got {rate}")
        settings = _settings(c)
        report_path = Path(json_) if json_ else settings.state_dir / "rehearsal" / "report.json"
        rehearsal = Rehearsal(settings, PROJECT_DIR, requests_per_second, progress=console.print)
        report = rehearsal.run(keep=keep)
        write_report(report, report_path)
    console.print(rehearsal_table(report))
    console.print(f"report: {report_path}", highlight=False)
    if not report.as_expected:
        raise Exit("rehearsal: a scenario did not end as expected (see the table above)", code=1)


# -- the sandbox ---------------------------------------------------------------------------------


def _sandbox(c: Context) -> Any:
    from releases.sandbox.environment import Sandbox

    return Sandbox(_settings(c).sandbox_dir)


def _sandbox_table(c: Context) -> Any:
    from rich.table import Table

    sandbox = _sandbox(c)
    state = sandbox.state()
    table = Table(title=f"sandbox ({sandbox.layout.root})", title_justify="left")
    for column in ("process", "pid", "running"):
        table.add_column(column)
    for item in sandbox.process_status():
        table.add_row(item.name, str(item.pid), "yes" if item.running else "NO")
    if state is not None:
        for name, ports in state.services.items():
            table.add_row(f"{name} (via HAProxy)", "", f"http://127.0.0.1:{ports.frontend}/")
        table.add_row("prometheus", "", f"http://127.0.0.1:{state.prometheus_port}/")
    return table


@task
def sandbox_up(c: Context) -> None:
    """Start the sandbox on 127.0.0.1, or leave a running one as it is.

    HAProxy, Prometheus, Postgres, Redis and two slot processes per service."""
    with _operator_errors():
        settings = _settings(c)
        if _sandbox(c).up().started:  # a running sandbox is left as it is, releases included
            _journal(settings).abandon_in_flight("sandbox")
    _console().print(_sandbox_table(c))


@task
def sandbox_down(c: Context) -> None:
    """Stop every sandbox process (by pid) and remove the sandbox directory."""
    with _operator_errors():
        settings = _settings(c)
        stopped = _sandbox(c).down()
        abandoned = _journal(settings).abandon_in_flight("sandbox")
    print(f"stopped {len(stopped)} process(es): {', '.join(stopped) or 'none running'}")
    if abandoned:
        print(f"{abandoned} unfinished sandbox release(s) marked abandoned in the journal")


@task(name="status")
def sandbox_status(c: Context) -> None:
    """Show the sandbox's processes and addresses (exit 3 when not completely running)."""
    from releases.errors import Refused

    console = _console()
    with _operator_errors():
        sandbox = _sandbox(c)
        if sandbox.state() is not None:
            console.print(_sandbox_table(c))
        if not sandbox.is_running():
            raise Refused("the sandbox is not running; start it with `invoke sandbox.up`")


@task(
    help={
        "version": "the version the staging slot should run (required)",
        "service": "web (default) or api",
        "error_rate": "fraction of page requests answered with an injected 500 (0 to 1)",
        "latency_ms": "milliseconds added to every page request",
        "unhealthy": "make /health and /health/ready report the slot unhealthy",
    }
)
def sandbox_deploy(
    c: Context,
    version: str = "",
    service: str = "",
    error_rate: str = "0",
    latency_ms: str = "0",
    unhealthy: bool = False,
) -> None:
    """Put a version on a service's staging slot, optionally with an injected fault."""
    from releases.errors import BadInput
    from releases.targets.slots.image_tags import check_version

    with _operator_errors():
        if not version.strip():
            raise BadInput("--version is required: the version the staging slot should run")
        check_version(version.strip())
        try:
            rate, latency = float(error_rate), int(latency_ms)
        except ValueError:
            raise BadInput(
                f"--error-rate must be a fraction (0.2) and --latency-ms whole milliseconds (300), "
                f"got {error_rate!r} and {latency_ms!r}"
            ) from None
        colour = _sandbox(c).deploy(
            service or c.config.releases.default_service,
            version.strip(),
            error_rate=rate,
            latency_ms=latency,
            unhealthy=unhealthy,
        )
    print(f"{version} deployed to the {colour} slot (staging)")


sandbox = Collection(
    "sandbox", up=sandbox_up, down=sandbox_down, status=sandbox_status, deploy=sandbox_deploy
)


# -- the state store -----------------------------------------------------------------------------


@task(name="upgrade")
def state_upgrade(c: Context) -> None:
    """Create or upgrade the state store's schema to this version's revision.

    The journal, the lock and the request budget: once per store, by anyone who shares it. A
    journal from before migrations is kept."""
    from releases.state.store import StateStore
    from releases.state.url import state_url

    with _operator_errors():
        store = StateStore(state_url(_settings(c)))
        before, after = store.upgrade()
        store.close()
    was = "empty" if before is None else f"revision {before}"
    print(
        f"state store {store.display}: {was} -> revision {after}"
        if before != after
        else f"state store {store.display}: already at revision {after}"
    )


state = Collection("state", upgrade=state_upgrade)

namespace = Collection(
    release, promote, pause, resume, rollback, status, history, rehearse, plan, parity, policy, sandbox, state
)
namespace.configure(DEFAULTS)
