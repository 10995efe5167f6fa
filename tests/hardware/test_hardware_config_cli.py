"""Scanner/printer settings are validated at start; device CLI commands; the dispatcher's
answers for pass codes and GS1 codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from edge_agent.cli import main
from edge_agent.config import load_config
from edge_agent.context import AgentContext
from edge_agent.errors import ConfigError
from edge_agent.scans import ScanDispatcher
from hardware.scan import Scan


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "edge-agent.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[scanners]]\nid = "a"\nurl = "serial:///dev/ttyACM0?terminator=TAB"\n', "terminator"),
        ('[[scanners]]\nid = "a"\nurl = "hid:///dev/input/event3?layout=fr"\n', "layout 'fr'"),
        ('[[scanners]]\nid = "a"\nurl = "bluetooth://x"\n', "supported: tcp://, serial://"),
        ('[[printers]]\nid = "p"\nurl = "usb://epson"\n', "VENDOR:PRODUCT"),
        ('[[printers]]\nid = "p"\nurl = "tcp://x:9100"\nprofile = "TM-9000"\n', "profile"),
        ('[[printers]]\nid = "p"\nurl = "tcp://x:9100"\npaper_width_mm = 60\n', "58"),
    ],
)
def test_bad_device_settings_refused_at_start_naming_the_key(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in caught.value.message
    assert str(path) in caught.value.message


def test_device_settings_accepted(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path,
            '[[scanners]]\nid = "lane-1"\nurl = "serial:///dev/ttyACM0?baudrate=9600&terminator=CR"\n'
            '[[scanners]]\nid = "wedge"\nurl = "hid:///dev/input/by-id/x-event-kbd?layout=de"\n'
            '[[printers]]\nid = "receipt"\nurl = "tcp://10.0.0.5:9100"\nprofile = "TM-T20II"\n'
            '[[printers]]\nid = "small"\nurl = "usb://0416:5011"\npaper_width_mm = 58\n',
        )
    )
    assert [s.id for s in config.scanners] == ["lane-1", "wedge"]
    assert config.printers[0].profile == "TM-T20II"


def test_printer_preview_command_writes_a_png(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["printer", "preview", "--layout", "pickup", "--width", "58", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "pickup-58mm.png") as image:
        assert image.width == 384


def test_printer_sample_and_reprint_commands_queue_jobs(tmp_path: Path) -> None:
    config = _write(tmp_path, '[[printers]]\nid = "receipt"\nurl = "preview://previews"\n')
    runner = CliRunner()
    queued = runner.invoke(main, ["--config", str(config), "printer", "sample", "receipt"])
    assert queued.exit_code == 0 and "queued print job 1" in queued.output
    nothing = runner.invoke(main, ["--config", str(config), "printer", "reprint-last", "receipt"])
    assert nothing.exit_code != 0 and "printed nothing" in nothing.output
    status = runner.invoke(main, ["--config", str(config), "printer", "status"])
    assert "receipt (preview://previews): ready" in status.output


def test_scanner_check_command() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["scanner", "check", "serial:///dev/ttyACM0"]).exit_code == 0
    bad = runner.invoke(main, ["scanner", "check", "serial:///dev/ttyACM0?parity=Q"])
    assert bad.exit_code != 0 and "parity 'Q'" in bad.output


def _scan(data: str, symbology: str | None = None) -> Scan:
    return Scan(data=data, symbology=symbology, source="lane-1", at=datetime.now(UTC))


def test_pass_codes_are_refused_where_no_keys_are_configured(seeded: AgentContext) -> None:
    outcome = ScanDispatcher(seeded).handle(_scan("EP1:MFRGGZDFMZTWQ2LK"))
    assert (outcome.status, outcome.kind) == ("refused", "pass_code")
    assert "cannot check wallet passes" in outcome.message
    detail = seeded.store.db.execute("SELECT detail FROM scan_log").fetchone()[0]
    assert "EP1" not in (detail or "")


def test_dispatcher_finds_the_product_in_a_gs1_code(seeded: AgentContext) -> None:
    gtin = seeded.store.db.execute("SELECT gtin FROM products LIMIT 1").fetchone()[0]
    outcome = ScanDispatcher(seeded).handle(_scan(f"010{gtin}\x1d10LOT1", "]d2"))
    assert (outcome.status, outcome.kind) == ("product_found", "gs1")
    assert outcome.product is not None and outcome.product.gtin == gtin


def test_dispatcher_never_stores_card_data(seeded: AgentContext) -> None:
    outcome = ScanDispatcher(seeded).handle(_scan("4111111111111111"))
    assert outcome.status == "refused"
    dump = "\n".join(seeded.store.db.iterdump())
    assert "4111111111111111" not in dump


def test_device_routes_without_a_running_agent_answer_404_not_5xx(seeded: AgentContext) -> None:
    from edge_agent.staff import create_api_key
    from pos_bridge.app import create_app

    client = create_app(seeded, ScanDispatcher(seeded)).test_client()
    key = create_api_key(seeded, "hw", "cashier")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    devices = client.get("/api/v1/devices")
    assert devices.status_code == 200
    assert devices.get_json() == {
        "scanners": [],
        "printers": [],
        "print_worker": "stopped",
        "checks": {},
    }
    for response in (
        client.get("/api/v1/printers/receipt/jobs"),
        client.post("/api/v1/printers/receipt/reprint-last"),
    ):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "printer_not_found"
