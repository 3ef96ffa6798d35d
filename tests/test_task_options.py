"""The command line as an operator meets it: `-h` is help everywhere, short options mean the same
thing in every task, `--list` shows whole sentences, history filters are checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke.parser.argument import Argument

import tasks
from tests.releases.sandbox_helpers import Operator

pytestmark = pytest.mark.e2e


def all_tasks() -> dict[str, tasks.OperatorTask]:
    found = {}
    for name in tasks.namespace.task_names:
        found[name] = tasks.namespace[name]
    return found


def short_options(task: tasks.OperatorTask) -> dict[str, str]:
    shorts = {}
    for argument in task.get_arguments():
        assert isinstance(argument, Argument)
        long_name, *short = argument.names
        for flag in short:
            shorts[flag] = long_name
    return shorts


def test_no_task_takes_h_for_an_option_and_every_short_option_means_one_thing() -> None:
    meanings: dict[str, set[str]] = {}
    for task in all_tasks().values():
        for short, long_name in short_options(task).items():
            meanings.setdefault(short, set()).add(long_name)
    assert "h" not in meanings
    assert all(len(names) == 1 for names in meanings.values()), meanings
    assert meanings["e"] == {"env"} and meanings["s"] == {"service"}


@pytest.mark.parametrize(
    "name", ["release", "rollback", "status", "history", "sandbox.deploy", "promote", "pause", "resume"]
)
def test_dash_h_prints_the_task_help(name: str, tmp_path: Path) -> None:
    result = Operator(tmp_path / "state").run(name, "-h")
    assert result.returncode == 0 and "Usage:" in result.stdout and "Options:" in result.stdout


def test_every_task_summary_is_a_whole_sentence() -> None:
    for name, task in all_tasks().items():
        first_line = (task.__doc__ or "").strip().splitlines()[0]
        assert first_line.endswith((".", ")")), f"{name}: {first_line!r}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--service", "nope"), "unknown --service 'nope'; expected one of: web, api"),
        (("--limit", "0"), "--limit must be a whole number of releases above 0"),
        (("--env", "qa"), "unknown --env 'qa'"),
    ],
)
def test_history_refuses_unknown_filters(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = Operator(tmp_path / "state").run("history", *args)
    assert result.returncode == 2 and f"bad input: {message}" in result.stderr


@pytest.mark.parametrize("bake", ["10 minutes", "0", "-5s", "25h"])
def test_a_bake_override_in_another_form_is_bad_input_naming_the_form(tmp_path: Path, bake: str) -> None:
    result = Operator(tmp_path / "state").run("release", "--auto", "--version", "2.0.0", "--bake", bake)
    assert result.returncode == 2
    assert "bad input: --bake must be a duration above 0 and up to 24h" in result.stderr
    assert "(90s, 10m, 1.5h) or plain seconds (45)" in result.stderr


@pytest.mark.parametrize("control", ["promote", "pause", "resume"])
def test_a_control_with_no_release_in_flight_is_refused(tmp_path: Path, control: str) -> None:
    result = Operator(tmp_path / "state").run(control, "--reason", "why not")
    assert result.returncode == 3
    assert f"refused: nothing to {control}: no release of web is in flight in sandbox" in result.stderr


def test_watch_and_json_together_are_bad_input(tmp_path: Path) -> None:
    result = Operator(tmp_path / "state").run("status", "--watch", "--json")
    assert result.returncode == 2 and "give --watch or --json, not both" in result.stderr
