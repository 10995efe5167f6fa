"""`edge-central`: run an ingest worker, push changes to stores, show the fleet."""

from __future__ import annotations

import gc
import json
import logging
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from sync.central.changes import record_change, validate_change
from sync.central.db import CentralDb
from sync.central.delivery.cli import deliver, subscriptions
from sync.central.delivery.worker import DeliverySettings
from sync.central.errors import CentralError
from sync.central.fleet import fleet_status
from sync.central.masterfile import MasterFileError
from sync.central.options import db_option
from sync.central.service import CentralService
from sync.central.wallet.cli import wallet
from sync.protocol.clock import iso_now
from sync.protocol.envelope import STRUCTURED_CONTENT_TYPE
from sync.protocol.errors import ChangeRejected, ProtocolError
from sync.protocol.topics import StoreTopics
from wallet.errors import WalletFailure

# A worker's young generation is collected after this many new container objects, not
# Python's 700. Ingest allocates a few per event (the decoded event, its row) and frees
# nearly all by reference count when the batch commits; at 700 the collector kept
# walking a batch's live ones. bench_fleet --stores 500, alternating single rounds: the
# two workers used 1.47 CPU-s a round at 20,000 against 1.69 at 700 (means of 3 pairs),
# and each of 3 pairs ran faster at 100,000 than at 20,000 (35.6 against 31.5, 31.9/30.1,
# 39.8/31.1 k ev/s); peak RSS the same (132 MiB). Cyclic garbage waits longer, bounded
# by this count.
YOUNG_COLLECTION_AFTER = 100_000

_broker_option = click.option(
    "--broker",
    "broker_url",
    envvar="EDGE_CENTRAL_BROKER",
    required=True,
    help="mqtt://host:port of the broker the stores use.",
)
_prefix_option = click.option(
    "--topic-prefix", default="retail/v1", show_default=True, help="MQTT topic prefix."
)


class _Cli(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ProtocolError, WalletFailure) as exc:
            click.echo(f"edge-central: {exc.message}", err=True)
            sys.exit(1)


@click.group(cls=_Cli)
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning.")
def main(log_level: str) -> None:
    """The reference central service: takes store events over MQTT, commits them, acks
    them, and serves each store's change feed."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic narrates its plugin set-up at info; the centre logs the migration itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))


@main.command()
@click.option(
    "--broker",
    "broker_url",
    envvar="EDGE_CENTRAL_BROKER",
    required=True,
    help="mqtt://host:port (or mqtts://) of the broker the stores use.",
)
@db_option
@_prefix_option
@click.option(
    "--worker-id",
    default=socket.gethostname(),
    show_default=True,
    help="Stable per worker, so a restarted worker resumes its MQTT session.",
)
@click.option("--ca-file", type=click.Path(exists=True, path_type=Path), help="CA for mqtts://.")
@click.option("--cert-file", type=click.Path(exists=True, path_type=Path), help="Client cert.")
@click.option("--key-file", type=click.Path(exists=True, path_type=Path), help="Client key.")
@click.option(
    "--delivery-threads",
    default=2,
    envvar="EDGE_CENTRAL_DELIVERY_THREADS",
    show_default=True,
    help="Deliveries to subscribed platforms at once, woken by this worker's commits "
    "(0: leave delivery to `edge-central deliver` workers).",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    envvar="EDGE_CENTRAL_HTTP_PORT",
    help="Serve /healthz and /metrics on this port (0: any free one); off if not given.",
)
@click.option(
    "--http-port-offset",
    type=click.IntRange(0, 1000),
    default=0,
    show_default=True,
    help="Add this to a non-zero --http-port: instance N of the systemd template unit "
    "(edge-central@N) serves on the env file's port + N.",
)
@click.option(
    "--http-host",
    default="127.0.0.1",
    envvar="EDGE_CENTRAL_HTTP_HOST",
    show_default=True,
    help="Address for /healthz and /metrics.",
)
def run(
    broker_url: str,
    db_url: str,
    topic_prefix: str,
    worker_id: str,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
    delivery_threads: int,
    http_port: int | None,
    http_port_offset: int,
    http_host: str,
) -> None:
    """Run one ingest worker until SIGTERM (run several to share the load). It prints
    `ready` (and tells systemd) once every part runs; if one dies it exits with 70."""
    from sync.central.health import HealthServer
    from sync.central.worker import run_worker

    if http_port:
        http_port += http_port_offset
        if http_port > 65535:
            raise CentralError(f"--http-port plus its offset is {http_port}, past 65535")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    service = CentralService(
        broker_url,
        db_url,
        topic_prefix,
        worker_id,
        ca_file,
        cert_file,
        key_file,
        delivery=DeliverySettings(threads=delivery_threads),
    )
    http = HealthServer(service, http_host, http_port) if http_port is not None else None
    if http is not None:
        http.start()
        click.echo(f"edge-central: health and metrics on http://{http.host}:{http.port}", err=True)

    def announce_ready() -> None:
        # What the worker loaded to start (modules, schemas, clients: ~130 k objects)
        # lives as long as it does. Frozen, the collector stops walking it: a full
        # collection came every ~20 k events and took 50-100 ms, a quarter of ingest's CPU.
        gc.freeze()
        gc.set_threshold(YOUNG_COLLECTION_AFTER, *gc.get_threshold()[1:])
        click.echo(f"edge-central worker {worker_id} running", err=True)
        click.echo("ready")
        sys.stdout.flush()

    code = run_worker(service, stop, announce_ready)
    if http is not None:
        http.stop()
    counters = service.counters
    click.echo(
        f"edge-central worker {worker_id} stopped: {counters.inserted} events inserted,"
        f" {counters.duplicates} duplicates, {counters.unreadable} unreadable",
        err=True,
    )
    sys.exit(code)


@main.group()
def db() -> None:
    """The centre's database schema: numbered migrations, applied once under a lock."""


@db.command("migrate")
@db_option
def db_migrate(db_url: str) -> None:
    """Apply every migration this centre has that the database lacks (workers do this
    at start too; run it first to roll workers onto a new schema)."""
    from sync.central.schema import migrate

    done = migrate(db_url)
    if done.changed:
        click.echo(f"migrated from {done.before or 'an empty database'} to {done.after}")
    else:
        click.echo(f"already at {done.after}")


@db.command("current")
@db_option
def db_current(db_url: str) -> None:
    """Print the database's schema revision and this centre's newest one."""
    from sync.central.schema import current_revision, head_revision

    click.echo(f"database: {current_revision(db_url) or 'none'}\ncentre:   {head_revision()}")


@db.command("check")
@db_option
def db_check(db_url: str) -> None:
    """Exit 0 if the database is at this centre's newest revision, else 1 saying why."""
    from sync.central.schema import check

    click.echo(f"current: {check(db_url)}")


@main.command()
@db_option
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    required=True,
    help="Delete events whose own time is more than DAYS days ago.",
)
def prune(db_url: str, days: int) -> None:
    """Delete old events: on PostgreSQL whole monthly partitions are dropped (instant,
    no bloat), older rows of the default partition deleted; on SQLite rows deleted.
    A store's resend of a pruned event would be stored again. Events a subscription has
    not received yet are kept, with a note saying which."""
    from datetime import UTC, datetime, timedelta

    from sync.central.delivery.status import oldest_undelivered
    from sync.central.partitions import prune as prune_events

    db = CentralDb(db_url)
    try:
        db.create_schema()
        now = datetime.now(UTC)
        older_than = timedelta(days=days)
        # Never what a subscriber has not received yet (one down or paused for long).
        if (waiting := oldest_undelivered(db)) is not None and waiting[0] < now - older_than:
            click.echo(f"keeping events from {waiting[0].isoformat()} on: subscription"
                       f" {waiting[1]} has not received them yet", err=True)  # fmt: skip
            older_than = now - waiting[0]
        pruned = prune_events(db, older_than, now)
    finally:
        db.close()
    dropped = ", ".join(pruned.dropped) or "none"
    click.echo(f"dropped partitions: {dropped}; deleted {pruned.deleted} older event(s)")


@main.command()
@click.argument("changes_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--broker",
    "broker_url",
    envvar="EDGE_CENTRAL_BROKER",
    default="",
    help="Also send at once (else they go out on each store's next replay).",
)
@db_option
@_prefix_option
def push(changes_file: Path, broker_url: str, db_url: str, topic_prefix: str) -> None:
    """Queue changes for stores from a JSON file: a list of {store_id, type, data}
    (types: order.upserted, customer.upserted, pass.revoked, ...)."""
    try:
        items = json.loads(changes_file.read_text())
        if not isinstance(items, list):
            raise ValueError("expected a JSON list")
    except ValueError as exc:
        raise CentralError(f"{changes_file}: {exc}") from None
    checked = []
    for number, item in enumerate(items, 1):
        try:
            store_id, change_type, data = item["store_id"], item["type"], item["data"]
            validate_change(change_type, data)
        except (KeyError, TypeError):
            raise CentralError(
                f"{changes_file}: item {number} needs store_id, type and data"
            ) from None
        except ChangeRejected as exc:
            raise CentralError(f"{changes_file}: item {number}: {exc.message}") from None
        checked.append((store_id, change_type, data))
    # All checked before any is recorded: a bad file records nothing.
    db = CentralDb(db_url)
    try:
        db.create_schema()
        payloads = [(s, record_change(db, s, t, d)) for s, t, d in checked]
    finally:
        db.close()
    click.echo(f"recorded {len(payloads)} change(s)")
    if broker_url:
        changes = [(StoreTopics(topic_prefix, store).changes, p) for store, p in payloads]
        _send_now(broker_url, changes, content_type=STRUCTURED_CONTENT_TYPE)


@main.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--broker",
    "broker_url",
    envvar="EDGE_CENTRAL_BROKER",
    default="",
    help="Also send the stores' changes at once (else they go out on each store's replay).",
)
@db_option
@_prefix_option
def load(files: tuple[Path, ...], broker_url: str, db_url: str, topic_prefix: str) -> None:
    """Load master data (customers, orders, stores, stock) from JSON or CSV FILES, in
    the order given.

    \b
    JSON: a list of records (an order has "number", a customer "id"), or
      {"customers": [...], "orders": [...]}; records in the change-feed shape;
      {"stores": [...]}, {"stock": [...]} (a snapshot) or {"stock_deltas": [...]}.
    CSV customers (header): id, first_name, last_name [, loyalty_id, email_hash,
      phone_hash, preferred_locale, consent_marketing, tier, points, lifetime_points]
    CSV orders, one row per order line, grouped by number (order columns repeat):
      number, fulfilment, status, placed_at, currency, total_minor, payment_method,
      line_no, gtin, sku, name, quantity, unit_price_minor [, customer_id, channel,
      pickup_store_id, fulfilled_at, category, colour, size, final_sale]
    CSV stores: store_id, name [, latitude, longitude]
    CSV stock snapshot: store_id, gtin, quantity [, as_of]; each store in the file
      gets exactly these levels (a GTIN left out goes to 0)
    CSV stock deltas: store_id, gtin, delta [, as_of]; a delta file counts once

    Each file is all or nothing. A record loaded again unchanged records nothing; a
    click-and-collect order goes to its pickup store, a customer update to the stores
    that know the customer, a store's stock levels to that store (coalesced).
    """
    db = CentralDb(db_url)
    messages: list[tuple[str, bytes]] = []
    try:
        db.create_schema()
        for path in files:
            try:
                summary, changes = _load_file(db, path)
            except MasterFileError as exc:
                raise CentralError(f"{exc}; nothing from this file was loaded") from None
            click.echo(f"{path}: {summary}; {len(changes)} change(s) for stores")
            messages += [(StoreTopics(topic_prefix, s).changes, p) for s, p in changes]
    finally:
        db.close()
    if broker_url and messages:
        _send_now(broker_url, messages, content_type=STRUCTURED_CONTENT_TYPE)


def _load_file(db: CentralDb, path: Path) -> tuple[str, list[tuple[str, bytes]]]:
    from sync.central.masterdata import load_records
    from sync.central.masterfile import read_master_file
    from sync.central.stock import load_stock, load_stores
    from sync.central.stockfile import file_kind, read_stock_file, read_stores_file

    kind = file_kind(path)
    if kind == "stores":
        return f"{load_stores(db, read_stores_file(path), iso_now())} store(s) written", []
    if kind == "stock":
        stock = read_stock_file(path)
        result = load_stock(db, stock, iso_now())
        if result.already_loaded:
            return "these deltas were loaded before; nothing changed", []
        summary = f"{result.rows} {stock.kind} row(s), {result.changed} level(s) moved"
        return summary, result.changes
    result = load_records(db, read_master_file(path), str(path))
    summary = f"{result.added} added, {result.changed} changed, {result.unchanged} unchanged"
    return summary, result.changes


@main.command()
@click.argument("serials", nargs=-1, required=True)
@_broker_option
@db_option
@_prefix_option
def revoke(serials: tuple[str, ...], broker_url: str, db_url: str, topic_prefix: str) -> None:
    """Revoke pass SERIALS and publish the full revocation list, retained, to every store."""
    from sync.protocol.topics import revocations_topic

    if any(not s or len(s) > 64 for s in serials):
        raise CentralError("a pass serial is 1 to 64 characters")
    db = CentralDb(db_url)
    try:
        db.create_schema()
        with db.transaction():
            for serial in serials:
                db.execute(
                    "INSERT INTO revocations (serial, revoked_at) VALUES (%s, %s)"
                    " ON CONFLICT (serial) DO NOTHING",
                    [serial, iso_now()],
                )
                # A revoked pass is neither updated nor served to phones any more.
                db.execute(
                    "UPDATE wallet_passes SET status = 'revoked' WHERE serial = %s", [serial]
                )
        revoked = [r[0] for r in db.execute("SELECT serial FROM revocations ORDER BY serial")]
    finally:
        db.close()
    payload = json.dumps({"revoked": revoked}).encode()
    _send_now(broker_url, [(revocations_topic(topic_prefix), payload)], retain=True)
    click.echo(f"{len(revoked)} pass(es) revoked in all; list published")


@main.command()
@click.argument(
    "keys_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=False
)
@click.option(
    "--withdraw",
    "withdrawn",
    type=click.IntRange(0, 255),
    multiple=True,
    help="A key id stores must stop accepting (repeat for several).",
)
@_broker_option
@db_option
@_prefix_option
def keys(
    keys_dir: Path | None,
    withdrawn: tuple[int, ...],
    broker_url: str,
    db_url: str,
    topic_prefix: str,
) -> None:
    """Publish the pass-code public keys in KEYS_DIR (pass-signing-<id>.pub) to every
    store, retained, as a new key set version; --withdraw shuts a key out everywhere."""
    from sync.protocol.topics import key_set_topic
    from wallet.errors import WalletError
    from wallet.keyring import build_key_set
    from wallet.keys import load_public_keys

    try:
        public_keys = load_public_keys(keys_dir) if keys_dir is not None else {}
        for key_id in withdrawn:
            public_keys.pop(key_id, None)
        if not public_keys and not withdrawn:
            raise WalletError(f"{keys_dir}: no pass-signing-<id>.pub files to publish")
        db = CentralDb(db_url)
        try:
            db.create_schema()
            with db.transaction():
                row = db.execute("SELECT COALESCE(MAX(version), 0) FROM key_sets").fetchone()
                key_set = build_key_set(int(row[0]) + 1, public_keys, withdrawn)
                db.execute(
                    "INSERT INTO key_sets (version, payload, published_at) VALUES (%s, %s, %s)",
                    [key_set.version, key_set.to_json(), iso_now()],
                )
        finally:
            db.close()
    except WalletError as exc:
        raise CentralError(exc.message) from None
    _send_now(broker_url, [(key_set_topic(topic_prefix), key_set.to_json().encode())], retain=True)
    click.echo(
        f"key set {key_set.version} published: keys {sorted(public_keys)}, "
        f"withdrawn {list(key_set.withdrawn)}"
    )


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8090, show_default=True, help="Port (0: any).")
@click.option(
    "--token",
    envvar="EDGE_CENTRAL_WEB_TOKEN",
    default="",
    help="Callers other than this host must send Authorization: Bearer TOKEN "
    "(default: this host only; best set through $EDGE_CENTRAL_WEB_TOKEN).",
)
@click.option(
    "--stock-token",
    envvar="EDGE_CENTRAL_STOCK_TOKEN",
    default="",
    help="Bearer token of the inventory system's POST /stock/changes (set it through the "
    "environment, not on the command line); empty: the stream is refused.",
)
def web(db_url: str, host: str, port: int, token: str, stock_token: str) -> None:
    """Serve the fleet status page (/fleet), its JSON (/fleet.json) and the inventory
    system's stock stream (POST /stock/changes, see /openapi.json)."""
    from cheroot.wsgi import Server

    from sync.central.web import create_fleet_app

    if stock_token and len(stock_token) < 32:
        raise CentralError("the stock token must be at least 32 characters")
    server = Server((host, port), create_fleet_app(db_url, token, stock_token or None))
    click.echo(f"fleet status on http://{host}:{port}/fleet", err=True)
    try:
        server.start()
    except KeyboardInterrupt:
        server.stop()


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def schemas(out_dir: Path) -> None:
    """Write the JSON Schema of every store event type and version into OUT_DIR
    (`<type>.v<version>.json`), for the systems downstream of the centre."""
    from sync.protocol.event_schemas import json_schemas

    out_dir.mkdir(parents=True, exist_ok=True)
    documents = json_schemas()
    for name, document in documents.items():
        (out_dir / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    click.echo(f"{len(documents)} event schema(s) written to {out_dir}")


@main.command()
@db_option
def fleet(db_url: str) -> None:
    """Print every store device the centre has heard from, as JSON."""
    db = CentralDb(db_url)
    try:
        db.create_schema()
        click.echo(json.dumps(fleet_status(db), indent=2))
    finally:
        db.close()


@main.command()
@db_option
@click.option("--open", "open_only", is_flag=True, help="Only conflicts not yet resolved.")
def conflicts(db_url: str, open_only: bool) -> None:
    """Print return conflicts (an order line returned at two or more stores for more than
    was bought) as JSON, with lines the centre could not judge (quantity bought unknown)
    and orders of the centre's handed over again after they were collected."""
    from sync.central.conflicts import list_conflicts, unjudged_lines
    from sync.central.order_collections import repeated_hand_overs

    db = CentralDb(db_url)
    try:
        db.create_schema()
        found = {
            "conflicts": list_conflicts(db, open_only),
            "unjudged": unjudged_lines(db),
            "repeated_hand_overs": repeated_hand_overs(db),
        }
        click.echo(json.dumps(found, indent=2))
    finally:
        db.close()


main.add_command(subscriptions)
main.add_command(deliver)


def _send_now(
    broker_url: str,
    messages: list[tuple[str, bytes]],
    retain: bool = False,
    content_type: str | None = None,
) -> None:
    from sync.link import BrokerSettings, MqttLink

    acked: list[int] = []
    link = MqttLink(
        BrokerSettings(
            broker_url,
            client_id=f"edge-central-cli-{socket.gethostname()}",
            persistent_session=False,
        ),
        subscriptions=[],
        on_message=lambda _m: None,
        on_published=lambda mid, _refusal: acked.append(mid),
    )
    link.start()
    try:
        if not link.connected.wait(timeout=10):
            raise CentralError("broker not reachable; nothing was sent")
        mids = [
            link.publish(topic, payload, retain=retain, content_type=content_type)
            for topic, payload in messages
        ]
        deadline = time.monotonic() + 10
        while not set(mids) <= set(acked) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        link.stop()


main.add_command(wallet)
