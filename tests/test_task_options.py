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


@pytest.mark.parametrize("name", ["release", "rollback", "status", "history", "sandbox.deploy"])
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
