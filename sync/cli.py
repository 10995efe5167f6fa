"""`edge-agent sync ...`: look at and repair the store's side of the sync."""

from __future__ import annotations

import json

import click

from edge_agent.config import load_config
from edge_agent.feed import dead_letter_count, last_applied
from edge_agent.outbox import outbox_stats
from edge_agent.store import Store
from sync.protocol.clock import iso_now
from sync.publisher import parked_count


def _open(ctx: click.Context) -> Store:
    return Store.open(load_config(ctx.find_root().obj).paths.database)


@click.group(name="sync")
def sync_group() -> None:
    """The sync with the centre: backlog, parked events, dead letters."""


@sync_group.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Print the backlog, parked events, dead letters and change-feed position (JSON)."""
    store = _open(ctx)
    try:
        stats = outbox_stats(store.db)
        click.echo(
            json.dumps(
                {
                    "backlog": stats.depth,
                    "oldest_age_seconds": stats.oldest_age_seconds,
                    "parked": parked_count(store),
                    "dead_letters": dead_letter_count(store.db),
                    "change_feed_last_applied": last_applied(store.db),
                },
                indent=2,
            )
        )
    finally:
        store.close()


@sync_group.command("parked")
@click.pass_context
def parked(ctx: click.Context) -> None:
    """List events parked because the broker or the centre refused them."""
    store = _open(ctx)
    try:
        rows = store.db.execute(
            "SELECT seq, event_id, type, created_at, parked_reason FROM outbox"
            " WHERE parked_reason IS NOT NULL AND acked_at IS NULL ORDER BY seq"
        ).fetchall()
        for seq, event_id, event_type, created_at, reason in rows:
            click.echo(f"{seq}\t{event_id}\t{event_type}\t{created_at}\t{reason}")
        click.echo(f"{len(rows)} parked event(s)")
    finally:
        store.close()


@sync_group.command("unpark")
@click.pass_context
def unpark(ctx: click.Context) -> None:
    """Queue every parked event again (after fixing what refused it)."""
    store = _open(ctx)
    try:
        with store.transaction() as db:
            count = db.execute(
                "UPDATE outbox SET parked_reason = NULL, attempts = 0,"
                " last_error = 'unparked ' || ? WHERE parked_reason IS NOT NULL"
                " AND acked_at IS NULL",
                [iso_now()],
            ).rowcount
        click.echo(f"{count} event(s) queued again")
    finally:
        store.close()


@sync_group.command("dead-letters")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.pass_context
def dead_letters(ctx: click.Context, limit: int) -> None:
    """List messages from the centre that could not be applied, with the reason."""
    store = _open(ctx)
    try:
        rows = store.db.execute(
            "SELECT id, received_at, topic, reason FROM dead_letters ORDER BY id DESC LIMIT ?",
            [limit],
        ).fetchall()
        for row_id, received_at, topic, reason in rows:
            click.echo(f"{row_id}\t{received_at}\t{topic}\t{reason}")
        click.echo(f"{dead_letter_count(store.db)} dead letter(s) in all")
    finally:
        store.close()
