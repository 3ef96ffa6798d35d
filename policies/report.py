"""How a policy report is shown to a person: one row per rule, its verdict and its violations."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from policies.check import PolicyReport, RuleOutcome, Status
from policies.rule import Level


def _verdict(outcome: RuleOutcome) -> Text:
    if outcome.status is Status.PASS:
        return Text(f"pass ({outcome.checked} checked)", style="green")
    if outcome.status is Status.NOT_APPLICABLE:
        return Text(f"n/a: {outcome.reason}", style="dim")
    style = "bold red" if outcome.rule.level is Level.MANDATORY else "yellow"
    lines = [
        f"{'UNKNOWN' if finding.unknown else 'VIOLATION'} {finding.resource}\n  {finding.message}"
        for finding in outcome.findings
    ]
    return Text("\n".join(lines), style=style)


def policy_table(report: PolicyReport) -> Group:
    counts = {status: sum(o.status is status for o in report.outcomes) for status in Status}
    preview = "a new stack's first preview" if report.new_stack else "a preview of the existing stack"
    table = Table(
        title=(
            f"stack {report.stack}, as {preview}: {len(report.outcomes)} rules, {counts[Status.PASS]} pass, "
            f"{counts[Status.VIOLATED]} violated ({len(report.blocking)} mandatory), "
            f"{counts[Status.NOT_APPLICABLE]} not applicable"
        ),
        title_justify="left",
    )
    table.add_column("rule", no_wrap=True)
    table.add_column("level")
    table.add_column("reference", max_width=40)
    table.add_column("result", overflow="fold")
    for outcome in report.outcomes:
        reference = str(outcome.rule.reference) if outcome.rule.reference else "-"
        table.add_row(outcome.rule.id, outcome.rule.level.value, reference, _verdict(outcome))
    return Group(table)
