"""Ops see each till's printer and scanner health on the fleet page, from heartbeats,
and the last known health stays shown once the till has gone offline."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config import PrinterSettings, ScannerSettings
from edge_agent.daemon import start_agent
from sync.central.db import CentralDb
from sync.central.fleet import fleet_status
from sync.central.web import create_fleet_app
from tests.sync.conftest import free_port, sync_config, wait_for


def test_printer_trouble_reaches_the_fleet_page_and_outlives_the_last_will(
    tmp_path: Path, broker, central_factory
):
    central = central_factory(broker.url)
    config = sync_config(tmp_path / "agent", broker.url)
    nobody_listens = free_port()
    config = config.model_copy(
        update={
            "printers": (PrinterSettings(id="receipt", url=f"tcp://127.0.0.1:{nobody_listens}"),),
            "scanners": (ScannerSettings(id="lane-1", url=f"tcp://127.0.0.1:{free_port()}"),),
        }
    )

    def device() -> dict:
        db = CentralDb(central.db_url)
        try:
            found = fleet_status(db)
        finally:
            db.close()
        return found[0] if found else {}

    running = start_agent(config)
    try:
        wait_for(
            lambda: device().get("device_problems") == ["printer:receipt"],
            "the unreachable printer reported in a heartbeat",
        )
        assert device()["devices"]["scanner:lane-1"] == "ok"
        assert device()["devices"]["printer:receipt"].startswith("degraded: ")
    finally:
        running.stop()
    wait_for(lambda: device().get("state") == "offline", "the till offline")
    assert device()["device_problems"] == ["printer:receipt"]
    page = create_fleet_app(central.db_url).test_client().get("/fleet").get_data(as_text=True)
    assert "printer:receipt: degraded" in page
