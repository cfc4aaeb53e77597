"""Operator commands: `flask --app wsgi sessions ...`, `budget show` and `check`
(docs/deployment.md).

They run in a process of their own against the configured session store (SQLite or Redis)
and WorkOS; they never print a cookie, a token or a session id (only a short hash of it).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from service.components import current
from service.sessions.lifecycle import Sessions
from service.sessions.records import SessionRecord

sessions_cli = AppGroup("sessions", help="List, count and end signed-in sessions.")
budget_cli = AppGroup("budget", help="The WorkOS request budget.")


def register(app: Flask) -> None:
    """Add the operator commands to app.cli."""
    from service.ops.deploy_check import check

    for command in (sessions_cli, budget_cli, check):
        app.cli.add_command(command)


def short_id(record: SessionRecord) -> str:
    """12 hex digits of a hash of the record id: tells sessions apart, opens none."""
    return hashlib.sha256(record.id.encode()).hexdigest()[:12]


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chosen(user: str | None, organization: str | None, every: bool) -> list[SessionRecord]:
    """The live records the options name: exactly one of --user, --organization, --all."""
    if sum((user is not None, organization is not None, every)) != 1:
        raise click.UsageError("give exactly one of --user, --organization or --all")
    store = _sessions().store
    if user is not None:
        return store.find(user_id=user)
    if organization is not None:
        return store.find(organization_id=organization)
    return store.every()


def _sessions() -> Sessions:
    sessions: Sessions = current().sessions
    return sessions


def _selection(function: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        [
            click.option("--user", metavar="USER_ID", help="sessions of this WorkOS user"),
            click.option(
                "--organization",
                metavar="ORG_ID",
                help="sessions acting for or listing this organization",
            ),
            click.option("--all", "every", is_flag=True, help="every live session"),
        ]
    ):
        function = option(function)
    return function


@sessions_cli.command("list")
@_selection
def list_sessions(user: str | None, organization: str | None, every: bool) -> None:
    """One line per live session: short id, user, organization, sign-in and expiry (UTC)."""
    records = sorted(_chosen(user, organization, every), key=lambda r: r.signed_in_at)
    click.echo(f"{'id':12}  {'user':28}  {'organization':28}  {'signed in':20}  expires")
    for record in records:
        acting = record.organization["id"] if record.organization else "-"
        click.echo(
            f"{short_id(record):12}  {record.user_id:28}  {acting:28}  "
            f"{_when(record.signed_in_at):20}  {_when(record.expires_at)}"
        )
    click.echo(f"{len(records)} session(s)")


@sessions_cli.command("count")
@_selection
def count_sessions(user: str | None, organization: str | None, every: bool) -> None:
    """How many live sessions the selection holds."""
    click.echo(str(len(_chosen(user, organization, every))))


@sessions_cli.command("end")
@_selection
@click.option("--yes", is_flag=True, help="do not ask before ending every session")
def end_sessions(user: str | None, organization: str | None, every: bool, yes: bool) -> None:
    """Sign the selected sessions out and drop their cached tokens, as sign-out does."""
    records = _chosen(user, organization, every)
    if every and not yes:
        click.confirm(f"End all {len(records)} session(s)?", abort=True)
    sessions = _sessions()
    ended = sum(sessions.end(record.id) is not None for record in records)
    click.echo(f"ended {ended} session(s)")


@budget_cli.command("show")
def show_budget() -> None:
    """Limits, calls in the current window and pauses after a WorkOS 429, by kind."""
    shown = current().budget.show()
    click.echo(f"scope: {shown['scope']}")
    click.echo(
        f"window: {shown['window_seconds']:g} s; total {shown['total']}, "
        f"of which {shown['total'] - shown['general']} reserved for sign-ins; "
        f"sign-ins at most {shown['signin_ceiling']}"
    )
    click.echo(
        f"spent: {shown['spent']} (sign-ins {shown['spent_signin']}, "
        f"other kinds {shown['spent_general']})"
    )
    click.echo(f"left: sign-in {shown['left_signin']}, other kinds {shown['left_other']}")
    for kind, seconds in shown["paused"].items():
        state = f"paused {seconds:.1f} s more" if seconds > 0 else "not paused"
        click.echo(f"{kind}: {state}")
    if shown["scope"] == "this process":
        click.echo(
            "note: without REDIS_URL each worker counts its own share (above) in memory, "
            "out of this command's sight: see gts_workos_budget_left in /metrics"
        )
