"""`edge-agent printer ...` and `edge-agent scanner ...`: device commands for the operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from edge_agent.config import Config, load_config
from edge_agent.context import open_agent
from edge_agent.errors import EdgeAgentError
from edge_agent.printing import PrintQueue
from hardware.printers import open_printer
from hardware.receipts import (
    Coupon,
    Money,
    PickupSlip,
    Receipt,
    ReceiptLine,
    ReturnReceipt,
    ShoppingList,
    StoreHeader,
    render_receipt,
)
from hardware.scanners import UnsupportedScanner, check_scanner_url

SAMPLE_LAYOUTS = ("return", "pickup", "list", "coupon")


def _config(ctx: click.Context) -> Config:
    return load_config(ctx.obj)


@click.group(name="printer")
def printer_group() -> None:
    """Receipt printers: status, sample prints, reprint last, layout previews."""


@printer_group.command("status")
@click.pass_context
def printer_status(ctx: click.Context) -> None:
    """Ask every configured printer for its status (DLE EOT where it answers)."""
    config = _config(ctx)
    for settings in config.printers:
        device = open_printer(
            settings.id,
            settings.url,
            settings.profile,
            settings.paper_width_mm,
            base_dir=config.paths.data_dir.parent,
        )
        try:
            status = device.query_status()
        finally:
            device.close()
        verdict = status.problem or "ready"
        click.echo(f"{settings.id} ({settings.url}): {verdict}, paper {status.paper}")


@printer_group.command("sample")
@click.argument("printer_id")
@click.option("--layout", type=click.Choice(SAMPLE_LAYOUTS), default="list", show_default=True)
@click.pass_context
def printer_sample(ctx: click.Context, printer_id: str, layout: str) -> None:
    """Queue a sample receipt on PRINTER_ID; a running agent prints it."""
    agent = open_agent(_config(ctx))
    try:
        job = PrintQueue(agent).enqueue_receipt(printer_id, sample_receipt(agent.config, layout))
    finally:
        agent.store.close()
    click.echo(f"queued print job {job.id} on {printer_id}")


@printer_group.command("reprint-last")
@click.argument("printer_id")
@click.pass_context
def printer_reprint_last(ctx: click.Context, printer_id: str) -> None:
    """Queue the last receipt PRINTER_ID printed again; a running agent prints it."""
    agent = open_agent(_config(ctx))
    try:
        job = PrintQueue(agent).reprint_last(printer_id)
    finally:
        agent.store.close()
    click.echo(f"queued reprint of job {job.reprint_of} as job {job.id}")


@printer_group.command("preview")
@click.option("--layout", type=click.Choice(SAMPLE_LAYOUTS), default="return", show_default=True)
@click.option("--width", "width_mm", type=click.Choice(["58", "80"]), default="80")
@click.option("--profile", default="TM-T88V", show_default=True, help="python-escpos profile")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".")
)
@click.pass_context
def printer_preview(
    ctx: click.Context, layout: str, width_mm: str, profile: str, out_dir: Path
) -> None:
    """Render a sample LAYOUT to a PNG exactly as the printer would print it."""
    config = _config(ctx)
    data = render_receipt(sample_receipt(config, layout), profile, int(width_mm))
    device = open_printer("preview", f"preview://{out_dir.resolve()}", profile, int(width_mm))
    name = f"{layout}-{width_mm}mm"
    device.send(data, label=name)
    click.echo(str(out_dir / f"{name}.png"))


@click.group(name="scanner")
def scanner_group() -> None:
    """Barcode scanners: check a scanner URL before putting it in the config."""


@scanner_group.command("check")
@click.argument("url")
def scanner_check(url: str) -> None:
    """Say whether URL is a scanner the agent can use (opens nothing)."""
    try:
        check_scanner_url(url)
    except UnsupportedScanner as exc:
        raise EdgeAgentError(str(exc)) from None
    click.echo(f"{url}: ok")


def sample_receipt(config: Config, layout: str) -> Receipt:
    """A receipt with made-up content in the store's language and currency."""
    store = StoreHeader(
        config.store.name, ("Calle Mayor 1",), None, config.store.locale, config.store.timezone
    )
    now = datetime.now(UTC)
    currency = config.store.currency
    if layout == "return":
        line = ReceiptLine("Camiseta algodón, talla M", 1, Money(1995, currency))
        return ReturnReceipt(
            store, "R-SAMPLE", now, "W000000000", (line,), Money(1995, currency), "tarjeta"
        )
    if layout == "pickup":
        return PickupSlip(store, "W000000000", now, "Ana", (("Zapatillas niño", 1),), "A-1")
    if layout == "coupon":
        return Coupon(store, "-10 %", "Café y té", "CPN-SAMPLE", now + timedelta(days=30))
    return ShoppingList(store, "Lista", now, ("Café", "Crème brûlée", "Müsli"))
