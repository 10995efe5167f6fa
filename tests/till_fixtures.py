"""A till app over a seeded store with a fixed clock, and signed-in staff."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from edge_agent.context import AgentContext
from edge_agent.devices import DeviceRegistry
from edge_agent.printing import PrintQueue, with_receipt_printer
from edge_agent.scans import ScanDispatcher
from edge_agent.staff import add_staff
from pos_bridge.app import create_app
from tests.conftest import SEED_NOW
from tests.openapi_check import validate_responses

# The seeded orders were placed up to SEED_NOW; the till's day is the day after.
TILL_NOW = SEED_NOW + timedelta(days=1)


@dataclass
class Till:
    ctx: AgentContext
    app: Flask
    client: FlaskClient
    dispatcher: ScanDispatcher
    online: list[bool]
    print_queue: PrintQueue

    def close(self) -> None:
        self.dispatcher.stop()
        self.print_queue.stop()

    def sign_in(self, staff_id: str = "ana", pin: str = "1234", till_id: str = "lane-1") -> dict:
        response = self.client.post(
            "/api/v1/auth/sign-in", json={"staff_id": staff_id, "pin": pin, "till_id": till_id}
        )
        assert response.status_code == 200, response.get_json()
        token = response.get_json()["token"]
        self.client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return response.get_json()

    def one(self, sql: str, params: list | None = None):
        return self.ctx.store.db.execute(sql, params or []).fetchone()


def make_till(seeded: AgentContext, now: datetime = TILL_NOW) -> Till:
    ctx = replace(seeded, clock=lambda: now)
    add_staff(ctx, "ana", "Ana", "cashier", "1234")
    add_staff(ctx, "luis", "Luis", "supervisor", "9876")
    print_queue = PrintQueue(ctx)  # the config's preview:// printer, inside the test's tmp dir
    ctx = with_receipt_printer(ctx, print_queue)  # as the daemon wires it
    dispatcher = ScanDispatcher(ctx)
    dispatcher.start()
    app = create_app(ctx, dispatcher)
    validate_responses(app)
    print_queue.start()
    app.extensions["devices"] = DeviceRegistry((), print_queue)
    online = [False]
    app.extensions["link_up"] = lambda: online[0]
    return Till(ctx, app, app.test_client(), dispatcher, online, print_queue)


def printed(till: Till, job_id: int | None, timeout: float = 10.0) -> bool:
    """Wait until the print job has really been printed (the preview printer wrote it)."""
    deadline = time.monotonic() + timeout
    while job_id is not None and time.monotonic() < deadline:
        if till.print_queue.job(job_id).state == "printed":
            return True
        time.sleep(0.02)
    return False
