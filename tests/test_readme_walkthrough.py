"""The README's walk-through, run as written against a demo store started the way
`bash scripts/demo` starts it: sign in, scan through the API with the token, the CLI on
the demo's own config file, a sample print, and a return at the staff console whose
receipt comes out as a PNG."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.agent_process import EDGE_AGENT, AgentProcess
from tests.sync.conftest import free_port

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- walkthrough:"
# Enough customers for the README's card (customer 1308), few orders to seed fast.
CUSTOMERS, ORDERS = 1400, 3000
STORE_NAME = "Tienda Sol"  # an EDGE_AGENT__ override the demo must honour
WAIT_SECONDS = 20


def walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    block = text[text.index(MARKER) :]
    return block.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_readme_walkthrough_works_as_written(tmp_path):
    # The folder a user cloned into: demo-data/ and .venv/bin/edge-agent beside each other.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "edge-agent").symlink_to(EDGE_AGENT)
    data_dir = tmp_path / "demo-data"
    port = free_port()
    agent = AgentProcess(
        "demo", "--data-dir", str(data_dir), "--port", str(port),
        "--scanner-port", str(free_port()), "--customers", str(CUSTOMERS),
        "--orders", str(ORDERS), env={"EDGE_AGENT__STORE__NAME": STORE_NAME},
    ).wait_ready()  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        assert STORE_NAME in requests.get(f"{url}/console/sign-in", timeout=10).text
        script = walkthrough().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
            text=True, timeout=60, env={**os.environ, "EDGE_AGENT_CONFIG": ""},
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
        api_scan, cli_scan, queued = ran.stdout.strip().splitlines()[-3:]
        assert '"status": "identified"' in api_scan or '"status":"identified"' in api_scan
        assert cli_scan.startswith("identified: ")
        job = int(re.fullmatch(r"queued print job (\d+) on receipt", queued).group(1))
        wait_for_png(data_dir / "preview" / f"job-{job}.png")
        receipt_job = return_at_the_console(url, data_dir / "edge-agent.sqlite3")
        wait_for_png(data_dir / "preview" / f"job-{receipt_job}.png")
    finally:
        assert agent.terminate() == 0, agent.stop_and_stderr()


def return_at_the_console(url: str, database: Path) -> int:
    """Sign in as Ana, quote and confirm a return of a delivered order; its print job."""
    number, quantity = returnable_order(database)
    console = requests.Session()
    signed_in = console.post(f"{url}/console/sign-in", data={"staff_id": "ana", "pin": "1234"},
                             timeout=10)  # fmt: skip
    assert 'id="who"' in signed_in.text
    form = {"order_number": number, "qty_1": str(quantity)}
    quote = console.post(f"{url}/console/returns/quote", data=form, timeout=10)
    assert 'id="confirm-return"' in quote.text, quote.text
    done = console.post(f"{url}/console/returns", data=form, timeout=10)
    assert done.status_code == 201 and 'id="receipt-printing"' in done.text, done.text
    with sqlite3.connect(database) as db:
        (job,) = db.execute(
            "SELECT p.id FROM print_jobs p JOIN returns r ON r.id = p.reference"
            " JOIN orders o ON o.id = r.order_id WHERE o.number = ?",
            [number],
        ).fetchone()
    return job


def returnable_order(database: Path) -> tuple[str, int]:
    window_start = datetime.now(UTC) - timedelta(days=25)
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT o.number, l.quantity FROM orders o"
            " JOIN order_lines l ON l.order_id = o.id AND l.line_no = 1"
            " WHERE o.status = 'delivered' AND o.fulfilled_at > ? AND l.final_sale = 0"
            " AND l.returned_quantity = 0 AND l.unit_price_minor * l.quantity < 10000"
            " ORDER BY o.id LIMIT 1",
            [window_start.strftime("%Y-%m-%dT%H:%M:%S")],
        ).fetchone()
    assert row is not None, "the demo seed has no delivered order inside the window"
    return row[0], row[1]


def wait_for_png(path: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never printed"
        time.sleep(0.1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
