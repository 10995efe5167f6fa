"""`edge-agent`: run the agent, run a demo store, seed data, check config and schema."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from edge_agent import __version__
from edge_agent.config import Config, load_config
from edge_agent.context import open_agent
from edge_agent.errors import KNOWN_ERRORS, ConfigError, EdgeAgentError
from edge_agent.logs import configure_logging
from edge_agent.migrations import schema_version
from edge_agent.outbox import outbox_stats
from edge_agent.store import Store
from edge_agent.sync_cli import sync_group
from edge_agent.wallet_cli import wallet as wallet_cli

# Demo-store sign-ins, printed by `edge-agent demo`; a real store adds its own staff.
DEMO_STAFF = (("ana", "Ana", "cashier", "1234"), ("luis", "Luis", "supervisor", "9876"))
DEMO_CONFIG_NAME = "edge-agent.toml"
DEMO_PREVIEW_DIR = "preview"  # receipts the demo "prints", as PNGs
EXIT_CONFIG = 2
EXIT_FAILURE = 1


class _Cli(click.Group):
    """Turns the agent's own errors into one clear line and an exit code, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"edge-agent: {exc.message}", err=True)
            sys.exit(EXIT_CONFIG)
        except KNOWN_ERRORS as exc:
            click.echo(f"edge-agent: {exc.message}", err=True)
            sys.exit(EXIT_FAILURE)


@click.group(cls=_Cli)
@click.version_option(__version__, prog_name="edge-agent")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="EDGE_AGENT_CONFIG",
    help="TOML config file (default: $EDGE_AGENT_CONFIG, else built-in defaults).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="How much the agent logs (to stderr / journald).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="EDGE_AGENT_LOG_FORMAT",
    help="text for a terminal, json (one object per line) for journald and log shippers.",
)
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, log_level: str, log_format: str) -> None:
    """The in-store edge agent: scanners, printers, wallet passes and online orders at the
    till, working offline on SQLite and syncing to the centre over MQTT."""
    configure_logging(log_level, log_format)
    ctx.obj = config_path


main.add_command(sync_group)


def _config(ctx: click.Context) -> Config:
    return load_config(ctx.obj)


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the agent until SIGTERM: web API, scanners, scan dispatcher."""
    from edge_agent.daemon import run_until_signalled

    config = _config(ctx)
    run_until_signalled(config, on_ready=lambda agent: _print_ready(agent, []))


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-data"),
    show_default=True,
    help="Where the demo store keeps its database and receipt previews.",
)
@click.option("--port", type=int, default=8080, show_default=True, help="Web port (0: any).")
@click.option(
    "--scanner-port", type=int, default=9300, show_default=True, help="Dev scanner TCP port."
)
@click.option("--customers", type=int, default=2000, show_default=True, help="Demo customers.")
@click.option("--orders", type=int, default=20000, show_default=True, help="Demo orders.")
@click.pass_context
def demo(
    ctx: click.Context, data_dir: Path, port: int, scanner_port: int, customers: int, orders: int
) -> None:
    """Seed a demo store (first time only) and run it offline, printing where to look.

    The store's settings go into DATA_DIR/edge-agent.toml, so every other command reaches
    the same store with `--config DATA_DIR/edge-agent.toml`; EDGE_AGENT__... variables
    override it, as for `run`."""
    from edge_agent.daemon import run_until_signalled
    from edge_agent.seed import seed_store
    from edge_agent.staff import add_staff

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config_file = data_dir / DEMO_CONFIG_NAME
    config_file.write_text(_demo_toml(data_dir, port, scanner_port), encoding="utf-8")
    config = load_config(config_file)
    agent = open_agent(config)
    try:
        if agent.store.db.execute("SELECT 1 FROM customers LIMIT 1").fetchone() is None:
            click.echo(f"Seeding a demo store in {data_dir} ...")
            with tqdm(total=orders, unit="order", disable=None) as bar:
                seed_store(agent, customers=customers, orders=orders, on_progress=bar.update)
            for staff_id, name, role, pin in DEMO_STAFF:
                add_staff(agent, staff_id, name, role, pin)
        examples = _demo_examples(agent)
    finally:
        agent.store.close()
    run_until_signalled(
        config, on_ready=lambda running: _print_ready(running, examples, config_file)
    )


def _demo_toml(data_dir: Path, port: int, scanner_port: int) -> str:
    """The demo store's config file (rewritten on each start with that run's options)."""
    return "\n".join([
        "# Written by `edge-agent demo`: the demo store. Other commands reach it with",
        f"# `edge-agent --config {data_dir / DEMO_CONFIG_NAME} ...`.",
        "[paths]",
        f"data_dir = {json.dumps(str(data_dir))}",
        "[web]",
        f"port = {port}",
        "[[scanners]]",
        'id = "dev-tcp"',
        f'url = "tcp://127.0.0.1:{scanner_port}"',
        "[[printers]]",
        'id = "receipt"',
        f"url = {json.dumps(f'preview://{data_dir / DEMO_PREVIEW_DIR}')}",
        "",
    ])  # fmt: skip


@main.command()
@click.option("--customers", type=int, default=10_000, show_default=True)
@click.option("--orders", type=int, default=100_000, show_default=True)
@click.option(
    "--seed", "seed_value", type=int, default=1, show_default=True, help="Same seed, same data."
)
@click.option("--replace", is_flag=True, help="Wipe seeded tables first (keeps the outbox).")
@click.pass_context
def seed(ctx: click.Context, customers: int, orders: int, seed_value: int, replace: bool) -> None:
    """Fill the store with realistic demo or benchmark data (deterministic per --seed)."""
    from edge_agent.seed import seed_store

    agent = open_agent(_config(ctx))
    try:
        with tqdm(total=orders, unit="order", disable=None) as bar:
            result = seed_store(
                agent,
                customers=customers,
                orders=orders,
                seed=seed_value,
                replace=replace,
                on_progress=bar.update,
            )
    finally:
        agent.store.close()
    rate = result.orders / result.seconds if result.seconds else 0.0
    click.echo(
        f"seeded {result.products} products, {result.customers} customers, "
        f"{result.orders} orders ({result.order_lines} lines) in {result.seconds:.1f}s "
        f"({rate:,.0f} orders/s)"
    )


@main.group(name="config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate the configuration and print the settings in effect (as JSON)."""
    config = _config(ctx)
    settings = config.model_dump(mode="json")
    if settings["privacy"]["lookup_salt"]:
        settings["privacy"]["lookup_salt"] = "(set)"
    click.echo(json.dumps(settings, indent=2, ensure_ascii=False))


@main.group(name="db")
def db_group() -> None:
    """Look after the local database."""


@db_group.command("migrate")
@click.pass_context
def db_migrate(ctx: click.Context) -> None:
    """Create the database or bring its schema up to date."""
    store = Store.open(_config(ctx).paths.database)
    try:
        click.echo(f"{store.path}: schema version {schema_version(store.db)}")
    finally:
        store.close()


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the outbox backlog (events waiting for the centre) and database facts."""
    store = Store.open(_config(ctx).paths.database)
    try:
        stats = outbox_stats(store.db)
        age = "-" if stats.oldest_age_seconds is None else f"{stats.oldest_age_seconds:.0f}s"
        click.echo(f"database: {store.path} (schema {schema_version(store.db)})")
        click.echo(f"outbox: {stats.depth} events waiting, oldest {age}")
    finally:
        store.close()


@main.group(name="staff")
def staff_group() -> None:
    """Staff who sign in at the till, and device keys for integrated POS software."""


@staff_group.command("add")
@click.argument("staff_id")
@click.option("--name", "display_name", required=True, help="Name shown on the till.")
@click.option(
    "--role",
    type=click.Choice(["cashier", "supervisor"]),
    default="cashier",
    show_default=True,
    help="Supervisors approve refunds over the cashier limit.",
)
@click.option(
    "--pin",
    envvar="EDGE_AGENT_STAFF_PIN",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="4-8 digits (or $EDGE_AGENT_STAFF_PIN).",
)
@click.pass_context
def staff_add(ctx: click.Context, staff_id: str, display_name: str, role: str, pin: str) -> None:
    """Add a staff member (or reset their PIN and unlock them)."""
    from edge_agent.staff import add_staff

    agent = open_agent(_config(ctx))
    try:
        add_staff(agent, staff_id, display_name, role, pin)  # type: ignore[arg-type]
    finally:
        agent.store.close()
    click.echo(f"staff {staff_id} ({role}) can sign in")


@staff_group.command("api-key")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(["cashier", "supervisor"]), default="cashier", show_default=True
)
@click.pass_context
def staff_api_key(ctx: click.Context, name: str, role: str) -> None:
    """Create a device key for an integrated POS; printed once, stored only as a hash."""
    from edge_agent.staff import create_api_key

    agent = open_agent(_config(ctx))
    try:
        key = create_api_key(agent, name, role)  # type: ignore[arg-type]
    finally:
        agent.store.close()
    click.echo(key)


@staff_group.command("deactivate")
@click.argument("staff_id")
@click.pass_context
def staff_deactivate(ctx: click.Context, staff_id: str) -> None:
    """Stop STAFF_ID signing in and end their sessions now (`staff add` brings them back
    with a new PIN)."""
    from edge_agent.staff import deactivate_staff

    agent = open_agent(_config(ctx))
    try:
        found = deactivate_staff(agent, staff_id)
    finally:
        agent.store.close()
    if not found:
        raise click.ClickException(f"no staff member {staff_id!r}")
    click.echo(f"staff {staff_id} deactivated; their sessions are ended")


@staff_group.command("revoke-key")
@click.argument("name")
@click.pass_context
def staff_revoke_key(ctx: click.Context, name: str) -> None:
    """Refuse the device key NAME from now on (an integrated POS that was lost or
    replaced)."""
    from edge_agent.staff import revoke_api_key

    agent = open_agent(_config(ctx))
    try:
        revoked = revoke_api_key(agent, name)
    finally:
        agent.store.close()
    if not revoked:
        raise click.ClickException(f"no live device key named {name!r}")
    click.echo(f"device key {name} revoked")


@main.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check config, database, disk, scanners, printers, broker and outbox; exit 1 on a
    failure."""
    from edge_agent.doctor import run_checks

    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    failed = False
    for check in run_checks(ctx.obj):
        failed = failed or check.level == "fail"
        click.echo(f"{marks[check.level]}  {check.name:<20} {check.detail}")
    sys.exit(EXIT_FAILURE if failed else 0)


@main.command()
@click.pass_context
def prune(ctx: click.Context) -> None:
    """Delete what is past its retention now (the running agent also does this hourly)."""
    from edge_agent.retention import prune as prune_store

    agent = open_agent(_config(ctx))
    try:
        deleted = prune_store(agent)
    finally:
        agent.store.close()
    click.echo(", ".join(f"{table}: {count} deleted" for table, count in deleted.items()))


@main.command()
@click.argument("code")
@click.option(
    "--to",
    "address",
    default=None,
    help="HOST:PORT of a running agent's development TCP scanner (default: the config's "
    "first tcp:// scanner, else 127.0.0.1:9300).",
)
@click.pass_context
def scan(ctx: click.Context, code: str, address: str | None) -> None:
    """Send CODE to a running agent as if a scanner had read it; print its answer."""
    address = address or _dev_scanner_address(_config(ctx))
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=10) as sock:
            sock.sendall(code.encode() + b"\n")
            reply = sock.makefile("rb").readline().decode().strip()
    except (OSError, ValueError) as exc:
        raise EdgeAgentError(f"cannot reach the scanner port {address}: {exc}") from None
    click.echo(reply or "no answer (is this the agent's scanner port?)")


main.add_command(wallet_cli)


def _demo_examples(agent: Any) -> list[str]:
    rows = agent.store.db.execute(
        "SELECT c.loyalty_id, c.first_name, c.last_name, o.number FROM orders o"
        " JOIN customers c ON c.id = o.customer_id"
        " WHERE o.status = 'ready_for_pickup' AND o.pickup_store_id = ?"
        " ORDER BY o.id LIMIT 3",
        [agent.config.store.id],
    ).fetchall()
    return [
        f"{loyalty} ({first} {last}, order {number} ready for pickup)"
        for loyalty, first, last, number in rows
    ]


def _dev_scanner_address(config: Config) -> str:
    for scanner in config.scanners:
        if scanner.url.startswith("tcp://"):
            return scanner.url.removeprefix("tcp://")
    return "127.0.0.1:9300"


def _self_command() -> str:
    """How this shell reaches the edge-agent command now running (often .venv/bin/...)."""
    path = Path(sys.argv[0])
    if path.name != "edge-agent":
        return "edge-agent"
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


def _print_ready(running: Any, examples: list[str], config_file: Path | None = None) -> None:
    config = running.ctx.config
    url = running.web_url
    lines = [
        f"Store {config.store.id} is running"
        + (
            " offline: no broker configured, events wait in the outbox."
            if not config.sync.broker_url
            else "."
        ),
        f"  health:       {url}/healthz",
        f"  order look-up: {url}/api/v1/orders/<number>",
        f"  kiosk:        {url}/kiosk/",
        f"  staff console: {url}/console/",
        f"  till API:     {url}/api/v1/openapi.json",
    ]
    for scanner in running.scanners:
        status = scanner.status()
        where = status.get("address") or status.get("port") or status.get("device")
        lines.append(f"  scanner {status['id']}: {status['kind']}://{where}")
    if running.print_queue is not None:
        for printer in running.print_queue.printers.values():
            info = printer.describe()
            lines.append(f"  printer {info['id']}: {info['kind']} {info['target']}")
    tcp_scanners = [s for s in running.scanners if s.status().get("kind") == "tcp"]
    command = _self_command()
    if examples and tcp_scanners:
        host, port = tcp_scanners[0].status()["address"].rsplit(":", 1)
        loyalty = examples[0].split()[0]
        staff_id, _name, _role, pin = DEMO_STAFF[0]
        sign_in = json.dumps({"staff_id": staff_id, "pin": pin, "till_id": "lane-1"})
        lines += [
            f"Scan a loyalty card:  {command} scan {loyalty} --to {host}:{port}",
            "Or through the API, signed in as a cashier (the API needs a bearer token):",
            f"  TOKEN=$(curl -s -H 'content-type: application/json' -d '{sign_in}' "
            f"{url}/api/v1/auth/sign-in | python3 -c "
            "'import json, sys; print(json.load(sys.stdin)[\"token\"])')",
            f"  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' "
            f'-d \'{{"data": "{loyalty}"}}\' {url}/api/v1/scans',
            "Customers to try:",
            *(f"  {example}" for example in examples),
            "Staff sign-in (API and console): "
            + ", ".join(f"{s[0]}/{s[3]} ({s[2]})" for s in DEMO_STAFF),
        ]
    if config_file is not None:
        lines += [
            f"Other commands reach this store with --config {config_file}, e.g.",
            f"  {command} --config {config_file} printer sample receipt",
            f"Printed receipts are PNGs in {config.paths.data_dir / DEMO_PREVIEW_DIR}",
        ]
    lines.append("Stop with Ctrl-C (or SIGTERM).")
    click.echo("\n".join(lines))
    sys.stdout.flush()


from edge_agent.devices_cli import printer_group, scanner_group  # noqa: E402

main.add_command(printer_group)
main.add_command(scanner_group)
