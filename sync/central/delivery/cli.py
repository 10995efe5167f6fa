"""`edge-central subscriptions ...` and `edge-central deliver`: who receives which
events, and the delivery workers."""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from sync.central.db import CentralDb
from sync.central.delivery.errors import SubscriptionError
from sync.central.delivery.status import subscription_status
from sync.central.delivery.subscriptions import (
    ACTIVE,
    PAUSED,
    Subscription,
    add_subscription,
    apply_subscriptions,
    dead_letters,
    make_subscription,
    new_secret,
    read_secret_file,
    remove_subscription,
    replay_from,
    set_secrets,
    set_state,
)
from sync.central.delivery.worker import DeliverySettings, DeliveryWorker
from sync.central.options import db_option

_secret_file = click.option(
    "--secret-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Standard Webhooks secrets (whsec_...), one per line; each one signs.",
)


@click.group()
def subscriptions() -> None:
    """Platforms that receive store events over HTTP (CloudEvents, Standard Webhooks)."""


@subscriptions.command()
@click.argument("url")
@click.option(
    "--types",
    required=True,
    help="Comma-separated event types: order.returned,order.collected; 'order.*'; '*'.",
)
@_secret_file
@click.option("--id", "sub_id", help="A name for it (default: from the URL's host).")
@click.option("--stores", default="", help="Comma-separated store ids (default: every store).")
@click.option(
    "--batch",
    "batch_max",
    default=1,
    show_default=True,
    help="Up to this many events per request as application/cloudevents-batch+json "
    "(1: one structured event per request).",
)
@click.option(
    "--from-beginning",
    is_flag=True,
    help="Also deliver every event the centre already holds (default: from now on).",
)
@db_option
def add(
    url: str,
    types: str,
    secret_file: Path,
    sub_id: str | None,
    stores: str,
    batch_max: int,
    from_beginning: bool,
    db_url: str,
) -> None:
    """Deliver the events of TYPES to URL."""
    sub = make_subscription(
        sub_id or _id_from(url),
        url,
        types.split(","),
        stores.split(","),
        read_secret_file(secret_file),
        batch_max,
    )
    with _db(db_url) as db:
        add_subscription(db, sub, from_beginning)
    click.echo(json.dumps(sub.public(), indent=2))


@subscriptions.command(name="list")
@db_option
def list_(db_url: str) -> None:
    """Every subscription with its state, lag (events, seconds), failures and dead letters."""
    with _db(db_url) as db:
        click.echo(json.dumps(subscription_status(db), indent=2))


@subscriptions.command()
@click.argument("sub_id")
@db_option
def remove(sub_id: str, db_url: str) -> None:
    """Stop delivering to SUB_ID and forget its cursors and dead letters."""
    with _db(db_url) as db:
        remove_subscription(db, sub_id)
    click.echo(f"subscription {sub_id} removed")


@subscriptions.command()
@click.argument("sub_id")
@db_option
def pause(sub_id: str, db_url: str) -> None:
    """Hold deliveries to SUB_ID (events wait; nothing is lost)."""
    with _db(db_url) as db:
        set_state(db, sub_id, PAUSED)
    click.echo(f"subscription {sub_id} paused")


@subscriptions.command()
@click.argument("sub_id")
@db_option
def resume(sub_id: str, db_url: str) -> None:
    """Deliver to SUB_ID again, from where it stopped."""
    with _db(db_url) as db:
        set_state(db, sub_id, ACTIVE)
    click.echo(f"subscription {sub_id} resumed")


@subscriptions.command()
@click.argument("sub_id")
@_secret_file
@db_option
def secrets(sub_id: str, secret_file: Path, db_url: str) -> None:
    """Replace SUB_ID's signing secrets. Rotate by listing the new secret beside the old
    one (both sign), then the new one alone once the receiver has switched."""
    found = read_secret_file(secret_file)
    with _db(db_url) as db:
        set_secrets(db, sub_id, found)
    click.echo(f"subscription {sub_id}: {len(found)} secret(s) sign from now on")


@subscriptions.command(name="new-secret")
def new_secret_() -> None:
    """Print a fresh secret (whsec_ + 32 random bytes, base64) for a secret file."""
    click.echo(new_secret())


@subscriptions.command()
@click.argument("sub_id")
@click.option(
    "--from",
    "from_time",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d"]),
    help="Deliver again every event from this time (UTC unless a zone is given).",
)
@click.option("--source", help="Only this device (/stores/S/devices/D).")
@db_option
def replay(sub_id: str, from_time: Any, source: str | None, db_url: str) -> None:
    """Deliver SUB_ID's events again from a time on, in order per device."""
    from datetime import UTC

    moment = from_time if from_time.tzinfo else from_time.replace(tzinfo=UTC)
    since = moment.astimezone(UTC).isoformat(timespec="microseconds")
    with _db(db_url) as db:
        count = replay_from(db, sub_id, since, source)
    click.echo(f"{count} event(s) will be delivered again to {sub_id}")


@subscriptions.command(name="dead-letters")
@click.argument("sub_id")
@db_option
def dead_letters_(sub_id: str, db_url: str) -> None:
    """Events SUB_ID refused for good (400, 410, 413, 415, 422), with its answer (JSON)."""
    with _db(db_url) as db:
        click.echo(json.dumps(dead_letters(db, sub_id), indent=2))


@subscriptions.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
def apply(file: Path, db_url: str) -> None:
    """Create or update the subscriptions in FILE (TOML, [[subscription]] tables with id,
    url, types, secret_file and optionally stores, batch, state); cursors are kept."""
    subs = read_subscription_file(file)
    with _db(db_url) as db:
        added, updated = apply_subscriptions(db, subs)
    click.echo(f"{file}: {added} added, {updated} updated, {len(subs) - added - updated} same")


def read_subscription_file(path: Path) -> list[Subscription]:
    """All subscriptions of the file, each checked; the first error names its table."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SubscriptionError(f"{path}: {exc}") from None
    tables = document.get("subscription", [])
    if not isinstance(tables, list) or not tables:
        raise SubscriptionError(f"{path}: no [[subscription]] tables")
    subs = []
    allowed = {"id", "url", "types", "stores", "secret_file", "batch", "state"}
    for number, table in enumerate(tables, 1):
        where = f"{path}: subscription {number}"
        unknown = set(table) - allowed
        if unknown:
            raise SubscriptionError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            secret_path = path.parent / str(table["secret_file"])
            sub = make_subscription(
                str(table["id"]),
                str(table["url"]),
                list(table["types"]),
                list(table.get("stores", [])),
                read_secret_file(secret_path),
                int(table.get("batch", 1)),
            )
        except KeyError as exc:
            raise SubscriptionError(f"{where}: {exc.args[0]} is required") from None
        except SubscriptionError as exc:
            raise SubscriptionError(f"{where}: {exc.message}") from None
        state = table.get("state", ACTIVE)
        if state not in (ACTIVE, PAUSED):
            raise SubscriptionError(f"{where}: state is active or paused")
        subs.append(Subscription(**{**sub.__dict__, "state": state}))
    return subs


@click.command()
@db_option
@click.option(
    "--worker-id",
    default=socket.gethostname(),
    show_default=True,
    help="Unique per worker: a restarted worker takes its own leases back at once.",
)
@click.option("--threads", default=4, show_default=True, help="Concurrent deliveries.")
@click.option(
    "--retry-max",
    default=300.0,
    show_default=True,
    help="Longest wait between two tries to a failing subscriber, in seconds.",
)
@click.option("--timeout", default=10.0, show_default=True, help="Per request, in seconds.")
def deliver(db_url: str, worker_id: str, threads: int, retry_max: float, timeout: float) -> None:
    """Run a delivery worker until SIGTERM (run several: they share the work). It prints
    `ready` (and tells systemd) once every thread has its database connection; if a
    thread dies it exits with 70, so its supervisor restarts it (its leases come back to
    it at once)."""
    from sync.central.supervision import Parts, log_thread_deaths, supervise
    from sync.central.systemd import Notifier

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker = DeliveryWorker(
        db_url,
        worker_id,
        DeliverySettings(threads=threads, retry_max_seconds=retry_max, timeout_seconds=timeout),
    )
    log_thread_deaths()
    worker.start()

    def announce_ready() -> None:
        click.echo("ready")
        sys.stdout.flush()

    code = supervise(Parts(*worker.parts), stop, announce_ready, Notifier(), "delivering")
    if code:
        sys.exit(code)  # its leases come back to it when restarted under the same id
    worker.stop()


@contextmanager
def _db(url: str) -> Iterator[CentralDb]:
    db = CentralDb(url)
    try:
        db.create_schema()
        yield db
    finally:
        db.close()


def _id_from(url: str) -> str:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "subscriber").lower()
    return "".join(c if c.isalnum() else "-" for c in host).strip("-")[:63] or "subscriber"
