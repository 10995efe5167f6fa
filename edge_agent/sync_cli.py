"""`edge-agent sync ...`: look at and repair the store's side of the sync."""

from __future__ import annotations

import json

import click

from edge_agent.config import load_config
from edge_agent.feed import dead_letter_count, last_applied, recent_dead_letters
from edge_agent.outbox import outbox_stats, parked_count, parked_events, unpark_all
from edge_agent.store import Store
from sync.protocol.clock import iso_now


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
                    "parked": parked_count(store.db),
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
        rows = parked_events(store.db)
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
            count = unpark_all(db, iso_now())
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
        rows = recent_dead_letters(store.db, limit)
        for row_id, received_at, topic, reason in rows:
            click.echo(f"{row_id}\t{received_at}\t{topic}\t{reason}")
        click.echo(f"{dead_letter_count(store.db)} dead letter(s) in all")
    finally:
        store.close()
