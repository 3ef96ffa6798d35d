"""Announcements: what a message says, a real webhook receiver on 127.0.0.1, one message per state
change, and a webhook that fails never stopping a release or a rollback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from releases.engine import Engine
from releases.errors import BadInput
from releases.journal import Journal
from releases.model import Outcome, Pool, Weights
from releases.notify import Notice, Notifier, Webhook
from releases.settings import load_release_settings
from tests.releases.fakes import FakeClock, FakeWorld
from tests.releases.test_engine import BAD, SETTINGS

TOKEN_PATH = "/services/T000/B000/not-a-real-token"


class Recorder:
    """A notifier that keeps what it was asked to send, and can be told to fail."""

    def __init__(self, failure: str | None = None) -> None:
        self.notices: list[Notice] = []
        self.failure = failure

    def send(self, notice: Notice) -> str | None:
        self.notices.append(notice)
        return self.failure


def engine_for(world: FakeWorld, journal: Journal, notifier: Notifier) -> Engine:
    clock = FakeClock()
    return Engine(
        "sandbox", "web", world.targets, SETTINGS, journal, clock=clock, sleep=clock.sleep, notifier=notifier
    )


def test_a_notice_carries_what_the_team_needs() -> None:
    notice = Notice("staging", "web", "2.0.0", "alice", "gate on canary 10%", Weights(0.9, 0.1), "pass")
    payload = notice.payload()
    assert payload["text"] == "staging/web 2.0.0: gate on canary 10% [pass]"
    fields = " ".join(field["text"] for field in payload["blocks"][1]["fields"])
    for fact in ("staging", "web", "2.0.0", "alice", "stable=0.9 canary=0.1", "pass"):
        assert fact in fields


def test_a_webhook_receives_the_slack_body(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(TOKEN_PATH, method="POST").respond_with_data("ok")
    notice = Notice("production", "api", "3.1.0", "alice", "release promoted", Weights.all_stable())

    assert Webhook(httpserver.url_for(TOKEN_PATH), timeout_seconds=2).send(notice) is None

    (request, _), *_ = httpserver.log
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data())["text"] == "production/api 3.1.0: release promoted"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_failures_say_why_without_the_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request(TOKEN_PATH).respond_with_data("no_service", status=404)
    notice = Notice("sandbox", "web", "2.0.0", "alice", "rolled back")

    refused = Webhook(httpserver.url_for(TOKEN_PATH), timeout_seconds=2).send(notice)
    unreachable = Webhook(f"http://127.0.0.1:{_closed_port()}{TOKEN_PATH}", timeout_seconds=2).send(notice)

    assert refused == "the webhook answered HTTP 404"
    assert unreachable == "the webhook could not be reached (ConnectError)"


def test_one_message_per_state_change(journal: Journal) -> None:
    world, recorder = FakeWorld(), Recorder()
    engine = engine_for(world, journal, recorder)
    engine.release(10, "2.0.0")
    engine.release(100)

    states = [(n.state, n.verdict, str(n.weights)) for n in recorder.notices]
    assert states == [
        ("done: pre-flight: secrets present, references resolved", None, "stable=1 canary=0"),
        ("done: deploy 2.0.0 to the staging slot", None, "stable=1 canary=0"),
        ("done: staging reports healthy, ready and 2.0.0 3 times in a row", None, "stable=1 canary=0"),
        ("done: weights stable=1 canary=0 -> stable=0.9 canary=0.1", None, "stable=0.9 canary=0.1"),
        ("gate on canary 10%", "pass", "stable=0.9 canary=0.1"),
        ("done: staging reports healthy, ready and 2.0.0 3 times in a row", None, "stable=0.9 canary=0.1"),
        (
            "done: swap slots: production 1.0.0 -> 2.0.0, then at once weights stable=0.9 canary=0.1 -> "
            "stable=1 canary=0",
            None,
            "stable=1 canary=0",
        ),
        ("gate on production 2.0.0", "pass", "stable=1 canary=0"),
        ("release promoted", None, "stable=1 canary=0"),
    ]
    assert {(n.environment, n.service, n.version, n.operator) for n in recorder.notices} == {
        ("sandbox", "web", "2.0.0", "alice")
    }


def test_a_failed_gate_is_announced_with_its_reasons(journal: Journal) -> None:
    world, recorder = FakeWorld(), Recorder()
    world.metrics.samples[Pool.CANARY] = BAD
    with pytest.raises(Exception, match="gate failed"):
        engine_for(world, journal, recorder).release(10, "2.0.0")

    gate = next(n for n in recorder.notices if n.verdict == "fail")
    assert "error rate" in gate.detail
    assert recorder.notices[-1].state == "release rolled_back"


def _announcements_of_release_then_rollback(journal_path: Path) -> int:
    recorder = Recorder()
    engine = engine_for(FakeWorld(), Journal(journal_path, operator="alice"), recorder)
    engine.release(10, "2.0.0")
    engine.release(100)
    engine.rollback()
    return len(recorder.notices)


def test_a_webhook_that_fails_never_stops_a_rollback(journal: Journal, tmp_path: Path) -> None:
    world = FakeWorld()
    down = Webhook(f"http://127.0.0.1:{_closed_port()}{TOKEN_PATH}", timeout_seconds=1)
    engine = engine_for(world, journal, down)
    engine.release(10, "2.0.0")
    engine.release(100)

    result = engine.rollback()

    record = journal.latest_release("sandbox", "web")
    assert result.executed and record is not None and record.outcome is Outcome.ROLLED_BACK
    assert world.slots.production.version == "1.0.0"
    failures = [e for e in journal.events(record.id) if e.kind == "note" and e.action == "notify"]
    assert len(failures) == _announcements_of_release_then_rollback(tmp_path / "twin.sqlite")
    assert {e.detail["failed"] for e in failures} == {"the webhook could not be reached (ConnectError)"}
    assert not any(TOKEN_PATH in json.dumps(e.detail) for e in failures)


def test_the_webhook_url_comes_from_the_environment_and_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RELEASE_WEBHOOK_URL", f"https://hooks.example.invalid{TOKEN_PATH}")
    settings = load_release_settings({}, tmp_path)
    assert settings.webhook_url is not None
    assert TOKEN_PATH not in repr(settings) and TOKEN_PATH not in str(settings.webhook_url)

    monkeypatch.setenv("RELEASE_WEBHOOK_URL", f"hooks.example.invalid{TOKEN_PATH}")
    with pytest.raises(BadInput, match=r"^RELEASE_WEBHOOK_URL must be an http\(s\) URL") as raised:
        load_release_settings({}, tmp_path)
    assert TOKEN_PATH not in str(raised.value)


def test_a_malformed_webhook_url_never_stops_a_rollback_after_the_swap(journal: Journal) -> None:
    """`http://host:abc/...` makes httpx raise InvalidURL, which is not an HTTPError: it must not
    escape into the engine and leave the rollback between the weights and the swap back."""
    world = FakeWorld()
    engine = engine_for(world, journal, Recorder())
    engine.release(10, "2.0.0")
    engine.release(100)
    engine.notifier = Webhook(f"http://hooks.example.invalid:abc{TOKEN_PATH}", timeout_seconds=1)

    result = engine.rollback()

    record = journal.latest_release("sandbox", "web")
    assert result.executed and record is not None and record.outcome is Outcome.ROLLED_BACK
    assert world.slots.production.version == "1.0.0"  # swapped back
    assert world.router.weights.matches(Weights.all_stable())
    failures = [e for e in journal.events(record.id) if e.kind == "note" and e.action == "notify"]
    assert failures and {e.detail["failed"] for e in failures} == {
        "the webhook could not be reached (InvalidURL)"
    }
    assert not any(TOKEN_PATH in json.dumps(e.detail) for e in failures)


@pytest.mark.parametrize(
    "url",
    [
        f"http://hooks.example.invalid:abc{TOKEN_PATH}",
        f"https://hooks.example.invalid:70000{TOKEN_PATH}",
        f"https://{TOKEN_PATH}",
        f"https://hooks.example .invalid{TOKEN_PATH}",
    ],
)
def test_a_malformed_webhook_url_is_bad_input_naming_the_variable_not_the_value(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RELEASE_WEBHOOK_URL", url)
    with pytest.raises(BadInput, match=r"^RELEASE_WEBHOOK_URL ") as raised:
        load_release_settings({}, tmp_path)
    assert raised.value.exit_code == 2
    assert TOKEN_PATH not in str(raised.value) and "abc" not in str(raised.value)
