"""`invoke release/rollback/status --env staging --topology FILE` end to end against stateful
local fakes of Cloudflare, Azure (Entra, ARM, Azure Monitor, the slots) and Kubernetes, reached
through each SDK's own endpoint settings. Faults are injected at the HTTP layer."""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.releases.cloud_fakes.world import (
    API_BALANCER,
    SECRETS,
    STAGING,
    WEB_BALANCER,
    CloudWorld,
    cloud_world,
)
from tests.releases.sandbox_helpers import Operator

pytestmark = pytest.mark.e2e

BALANCERS = {"web": WEB_BALANCER, "api": API_BALANCER}
PATCH_WEIGHTS = r"/client/v4/zones/\w+/load_balancers/\w+"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[CloudWorld]:
    with cloud_world(tmp_path / "cloud") as fakes:
        yield fakes


def operator(
    world: CloudWorld,
    tmp_path: Path,
    clouds: dict[str, Any] | None = None,
    staging: dict[str, Any] | None = None,
    **env: str | None,
) -> Operator:
    config = {
        "releases": {
            "staging": {**STAGING, **(staging or {})},
            "clouds": {**world.clouds_config(), **(clouds or {})},
        }
    }
    person = Operator(tmp_path / "state", config)
    person.env.update(world.environment())
    for name, value in env.items():
        if value is None:
            person.env.pop(name, None)
        else:
            person.env[name] = value
    return person


def run(person: Operator, world: CloudWorld, *args: str) -> Any:
    return person.run(*args, "--env", "staging", "--topology", str(world.topology_file))


def first_step(person: Operator, world: CloudWorld, service: str, percent: str, version: str) -> Any:
    """The step that starts a release: deploys `version` to the staging slot."""
    return run(person, world, "release", "--service", service, "--percent", percent, "--version", version)


def serving(world: CloudWorld, service: str) -> tuple[str, str]:
    """(production, staging) versions as the fakes themselves hold them."""
    if service == "web":
        return world.azure.slots["production"].tag, world.azure.slots["staging"].tag
    tag = {colour: world.kubernetes.image(colour).rpartition(":")[2] for colour in ("blue", "green")}
    return tag[world.kubernetes.colour("api-active")], tag[world.kubernetes.colour("api-preview")]


def canary_share(world: CloudWorld, service: str) -> float:
    stable, canary = world.cloudflare.weights(BALANCERS[service]).values()
    return canary / (stable + canary)


def assert_no_secret_anywhere(person: Operator, *outputs: str) -> None:
    journal = person.state_dir / "journal.sqlite"
    with sqlite3.connect(journal) as connection:
        rows = (
            connection.execute("SELECT * FROM events").fetchall()
            + connection.execute("SELECT * FROM releases").fetchall()
        )
    dumped = repr(rows) + "".join(outputs)
    for secret in SECRETS:
        assert secret not in dumped


def assert_every_write_read_back(world: CloudWorld, balancer: str) -> None:
    mine = [(m, p) for m, p in world.cloudflare.requests if p.endswith(f"/load_balancers/{balancer}")]
    for index, (method, _) in enumerate(mine):
        if method == "PATCH":
            assert mine[index + 1][0] == "GET", "a weights write must be read back"


@pytest.mark.parametrize("service", ["web", "api"])
def test_a_full_release_then_a_rollback(world: CloudWorld, tmp_path: Path, service: str) -> None:
    person = operator(world, tmp_path)
    balancer = BALANCERS[service]
    outputs = []
    expected = [
        ("10", 0.1, 1, ("1.0.0", "1.1.0")),
        ("50", 0.5, 2, ("1.0.0", "1.1.0")),
        ("100", 0.0, 3, ("1.1.0", "1.0.0")),
    ]
    for percent, share, writes, slots in expected:
        step = ["--version", "1.1.0"] if percent == "10" else []
        result = run(person, world, "release", "--service", service, "--percent", percent, *step)
        outputs += [result.stdout, result.stderr]
        assert result.returncode == 0, result.stdout + result.stderr
        assert canary_share(world, service) == pytest.approx(share)
        assert world.cloudflare.writes(balancer) == writes  # exactly one write per weight change
        assert serving(world, service) == slots
    rolled_back = run(person, world, "rollback", "--service", service)
    outputs += [rolled_back.stdout, rolled_back.stderr]
    assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
    assert serving(world, service) == ("1.0.0", "1.1.0")  # swapped back: the old version is production
    assert canary_share(world, service) == 0.0 and world.cloudflare.writes(balancer) == 3
    assert_every_write_read_back(world, balancer)
    status = run(person, world, "status", "--json")
    assert status.returncode == 0 and '"rolled_back"' in status.stdout
    assert_no_secret_anywhere(person, *outputs, status.stdout, status.stderr)


@pytest.mark.parametrize("service", ["web", "api"])
def test_a_bad_version_fails_the_gate_and_is_rolled_back(
    world: CloudWorld, tmp_path: Path, service: str
) -> None:
    assert world.prometheus is not None
    world.azure.bad_versions.add("6.6.6")
    world.prometheus.bad_versions.add("6.6.6")
    person = operator(world, tmp_path)
    result = run(person, world, "release", "--service", service, "--percent", "10", "--version", "6.6.6")
    assert result.returncode == 4, result.stdout + result.stderr
    # 10% errors and 900 ms: whichever sequential test decides first at the first look names it.
    assert "gate failed at 10%: " in result.stderr
    assert "error rate 10.00% is over 1.00%" in result.stderr or "slower than 500 ms" in result.stderr
    assert canary_share(world, service) == 0.0
    assert world.cloudflare.writes(BALANCERS[service]) == 2  # 10%, then back to stable
    assert serving(world, service)[0] == "1.0.0"


def test_a_web_release_whose_logs_never_arrive_is_held_not_promoted(
    world: CloudWorld, tmp_path: Path
) -> None:
    """Azure's data arrives late; a gate that read "no data" as "nothing wrong" promoted the canary
    unjudged. With no log arriving before the step's deadline the release is held: exit 5, the
    canary keeps its 10% (traffic unchanged), production untouched, the release still in flight."""
    world.azure.logs_ingestion_delay_seconds = 24 * 3600
    person = operator(world, tmp_path)
    result = first_step(person, world, "web", "10", "1.1.0")
    assert result.returncode == 5, result.stdout + result.stderr
    assert (
        "gate inconclusive at 10%" in result.stderr and "no request reached the canary pool" in result.stderr
    )
    assert canary_share(world, "web") == pytest.approx(0.1)
    assert world.cloudflare.writes(WEB_BALANCER) == 1  # the step's own write, nothing after it
    assert serving(world, "web") == ("1.0.0", "1.1.0")
    status = run(person, world, "status", "--json", "--service", "web")
    assert json.loads(status.stdout)["services"]["web"]["release"]["outcome"] is None
    assert world.azure.log_queries  # it did ask, and found nothing complete


def test_a_short_rate_limit_is_waited_out(world: CloudWorld, tmp_path: Path) -> None:
    world.cloudflare.fail("PATCH", PATCH_WEIGHTS, 429, headers={"Retry-After": "1"})
    world.cloudflare.fail("GET", PATCH_WEIGHTS, 500)  # and a 5xx on a read, retried
    result = first_step(operator(world, tmp_path), world, "web", "10", "1.1.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert world.cloudflare.count("PATCH", PATCH_WEIGHTS) == 2  # the refused attempt and the applied one
    assert canary_share(world, "web") == pytest.approx(0.1)


def test_a_slow_response_is_waited_for_and_a_conflicting_swap_retried(
    world: CloudWorld, tmp_path: Path
) -> None:
    person = operator(world, tmp_path)
    first = first_step(person, world, "web", "50", "1.1.0")
    assert first.returncode == 0, first.stdout + first.stderr
    world.cloudflare.fail("GET", PATCH_WEIGHTS, None, delay_seconds=1.5)
    world.azure.fail(
        "POST",
        r".*/slotsswap",
        409,
        headers={"Retry-After": "1"},
        body={"error": {"code": "Conflict", "message": "Another operation is in progress"}},
    )
    result = run(person, world, "release", "--service", "web", "--percent", "100")
    assert result.returncode == 0, result.stdout + result.stderr
    assert world.azure.count("POST", r".*/slotsswap") == 2
    assert serving(world, "web") == ("1.1.0", "1.0.0")


def test_a_long_block_at_promotion_undoes_the_swap(world: CloudWorld, tmp_path: Path) -> None:
    person = operator(world, tmp_path)
    first = first_step(person, world, "web", "50", "1.1.0")
    assert first.returncode == 0, first.stdout + first.stderr
    world.cloudflare.fail("PATCH", PATCH_WEIGHTS, 429, headers={"Retry-After": "600"}, times=5)
    result = run(person, world, "release", "--service", "web", "--percent", "100")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Retry-After 600 s" in result.stderr and "swap was undone" in result.stderr
    # The 50% write, then one refused attempt: a long block is not retried.
    assert world.cloudflare.count("PATCH", PATCH_WEIGHTS) == 2
    assert serving(world, "web") == ("1.0.0", "1.1.0") and canary_share(world, "web") == pytest.approx(0.5)


def test_missing_cloudflare_token_changes_nothing(world: CloudWorld, tmp_path: Path) -> None:
    person = operator(world, tmp_path, CLOUDFLARE_API_TOKEN=None)
    result = first_step(person, world, "api", "10", "1.1.0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "CLOUDFLARE_API_TOKEN is not set" in result.stderr
    assert world.cloudflare.requests == [] and world.kubernetes.count("PATCH", ".*") == 0


def test_missing_azure_credentials_change_nothing(world: CloudWorld, tmp_path: Path) -> None:
    person = operator(world, tmp_path, AZURE_CLIENT_SECRET=None)
    result = first_step(person, world, "web", "10", "1.1.0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "no usable Azure credential" in result.stderr
    assert world.cloudflare.writes(WEB_BALANCER) == 0 and world.azure.count("PATCH", ".*") == 0


def test_wrong_azure_secret_is_refused_without_printing_it(world: CloudWorld, tmp_path: Path) -> None:
    person = operator(world, tmp_path, AZURE_CLIENT_SECRET="not-the-secret-0c1d")
    result = first_step(person, world, "web", "10", "1.1.0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not-the-secret-0c1d" not in result.stdout + result.stderr
    assert world.azure.count("PATCH", ".*") == 0


def test_an_unreachable_endpoint_changes_nothing(world: CloudWorld, tmp_path: Path) -> None:
    person = operator(
        world, tmp_path, {"retry_timeout_seconds": 2}, CLOUDFLARE_BASE_URL="http://127.0.0.1:9/client/v4"
    )
    result = first_step(person, world, "web", "10", "1.1.0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot reach the Cloudflare API at http://127.0.0.1:9/client/v4" in result.stderr
    assert world.azure.count("PATCH", ".*") == 0 and serving(world, "web") == ("1.0.0", "1.0.0")


def test_differing_sticky_settings_refuse_the_release_naming_only_the_setting(
    world: CloudWorld, tmp_path: Path
) -> None:
    world.azure.sticky_names = ["PAYMENTS_KEY"]
    world.azure.slots["production"].app_settings["PAYMENTS_KEY"] = "prod-value-91ab"
    world.azure.slots["staging"].app_settings["PAYMENTS_KEY"] = "staging-value-47cd"
    result = first_step(operator(world, tmp_path), world, "web", "10", "1.1.0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "slot-sticky settings differ between production and staging: PAYMENTS_KEY" in result.stderr
    assert "value-" not in result.stdout + result.stderr
    assert world.azure.count("PATCH", ".*") == 0 and world.cloudflare.writes(WEB_BALANCER) == 0


def test_a_malformed_topology_is_bad_input(world: CloudWorld, tmp_path: Path) -> None:
    document = world.topology()
    document["services"]["web"]["router"]["zone_id"] = "not-a-zone"
    world.topology_file.write_text(__import__("json").dumps(document))
    result = run(operator(world, tmp_path), world, "status")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "services.web.router.cloudflare.zone_id" in result.stderr
    assert world.cloudflare.requests == []


def test_without_a_topology_file_the_stack_needs_the_pulumi_cli(tmp_path: Path) -> None:
    person = Operator(tmp_path / "state")
    person.env["PATH"] = "/usr/bin:/bin"  # no pulumi here (nor anywhere on this machine)
    result = person.run("status", "--env", "staging")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "needs the Pulumi CLI, which is not on PATH" in result.stderr
    assert "--topology PATH" in result.stderr


def test_the_team_hears_of_every_step_even_when_its_webhook_fails(
    world: CloudWorld, tmp_path: Path, httpserver: HTTPServer
) -> None:
    """The webhook answers 503 to everything: the release still runs, its gate still rolls it
    back, each announcement is journaled as undelivered, and the URL's token appears nowhere."""
    token_path = "/services/T0/B0/webhook-token-not-printed"
    httpserver.expect_request(token_path, method="POST").respond_with_data("unavailable", status=503)
    world.azure.bad_versions.add("6.6.6")
    person = operator(world, tmp_path, RELEASE_WEBHOOK_URL=httpserver.url_for(token_path))

    result = first_step(person, world, "web", "10", "6.6.6")

    assert result.returncode == 4, result.stdout + result.stderr
    assert canary_share(world, "web") == 0.0 and serving(world, "web")[0] == "1.0.0"
    messages = [json.loads(request.get_data())["text"] for request, _ in httpserver.log]
    assert messages[:2] == [
        "staging/web 6.6.6: done: pre-flight: secrets present, references resolved",
        "staging/web 6.6.6: done: deploy 6.6.6 to the staging slot",
    ]
    assert any(text.startswith("staging/web 6.6.6: gate on canary 10% [fail]") for text in messages)
    assert messages[-1] == "staging/web 6.6.6: release rolled_back - gate failed at 10%"
    fields = json.loads(httpserver.log[0][0].get_data())["blocks"][1]["fields"]
    assert f"*Operator*\n{getpass.getuser()}" in [field["text"] for field in fields]
    with sqlite3.connect(person.state_dir / "journal.sqlite") as connection:
        undelivered = connection.execute("SELECT detail FROM events WHERE action = 'notify'").fetchall()
    assert len(undelivered) == len(messages)
    assert token_path not in result.stdout + result.stderr + repr(undelivered)


def test_a_half_kubernetes_promotion_is_undone(world: CloudWorld, tmp_path: Path) -> None:
    """The swap is two Service patches; when the second is refused, the first is undone, so the
    two Services never both select one colour (from which no command could recover)."""
    person = operator(world, tmp_path)
    first = first_step(person, world, "api", "50", "1.1.0")
    assert first.returncode == 0, first.stdout + first.stderr
    before = (world.kubernetes.colour("api-active"), world.kubernetes.colour("api-preview"))
    world.kubernetes.fail("PATCH", r"/api/v1/namespaces/\w+/services/api-preview", 403, times=1)
    result = run(person, world, "release", "--service", "api", "--percent", "100")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "The swap was undone" in result.stderr
    assert (world.kubernetes.colour("api-active"), world.kubernetes.colour("api-preview")) == before
    assert serving(world, "api") == ("1.0.0", "1.1.0") and canary_share(world, "api") == pytest.approx(0.5)
    # Once the API server accepts the patch again, the promotion goes through.
    again = run(person, world, "release", "--service", "api", "--percent", "100")
    assert again.returncode == 0, again.stdout + again.stderr
    assert serving(world, "api") == ("1.1.0", "1.0.0")
