import json
import socket
from datetime import UTC, datetime

import pytest

from edge_agent.scans import ScanDispatcher
from edge_agent.seed import loyalty_id_for, order_number_for
from hardware.scan import Scan
from hardware.scanners.tcp import TcpScanner
from tests.conftest import outbox_types


def scan(data: str, source: str = "s1") -> Scan:
    return Scan(data=data, symbology=None, source=source, at=datetime.now(UTC))


@pytest.fixture
def dispatcher(seeded):
    d = ScanDispatcher(seeded)
    d.start()
    yield d
    d.stop()


def test_loyalty_scan_identifies_and_records_scan_and_identification(seeded, dispatcher):
    outcome = dispatcher.submit(scan(loyalty_id_for(2))).result(timeout=5)
    assert outcome.status == "identified"
    assert outcome.customer is not None and outcome.customer.customer_id == "C00000002"
    assert outbox_types(seeded) == ["customer.identified", "scan.recorded"]
    logged = seeded.store.db.execute("SELECT kind, outcome, detail FROM scan_log").fetchall()
    assert logged == [("loyalty_id", "identified", None)]


def test_order_and_product_scans(seeded, dispatcher):
    order = dispatcher.submit(scan(order_number_for(9))).result(timeout=5)
    assert order.status == "order_found" and order.order.number == "W100000009"
    gtin = seeded.store.db.execute("SELECT gtin, name FROM products LIMIT 1").fetchone()
    product = dispatcher.submit(scan(gtin[0])).result(timeout=5)
    assert product.status == "product_found" and product.message == gtin[1]


def test_bad_scan_is_refused_logged_and_reported_without_its_content(seeded, dispatcher):
    outcome = dispatcher.submit(scan("8412345678906")).result(timeout=5)
    assert outcome.status == "refused"
    assert "check digit" in outcome.message
    envelope = json.loads(seeded.store.db.execute("SELECT envelope FROM outbox").fetchone()[0])
    assert envelope["type"] == "scan.recorded"
    assert envelope["data"]["outcome"] == "refused"
    assert envelope["data"]["value"] is None


def test_unknown_customer_scan_is_not_found_and_dispatcher_keeps_going(seeded, dispatcher):
    missing = dispatcher.submit(scan("2900009999990")).result(timeout=5)
    assert missing.status == "not_found"
    assert dispatcher.submit(scan(loyalty_id_for(1))).result(timeout=5).status == "identified"
    assert dispatcher.alive


def test_listeners_hear_every_outcome_in_scan_order(seeded, dispatcher):
    heard = []
    dispatcher.add_listener(lambda outcome: heard.append(outcome.status))
    futures = [
        dispatcher.submit(scan(code))
        for code in (loyalty_id_for(1), "garbage!", order_number_for(1))
    ]
    for f in futures:
        f.result(timeout=5)
    assert heard == ["identified", "refused", "order_found"]


def _send_lines(address, payload: bytes, replies: int) -> list[str]:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(payload)
        reader = sock.makefile("rb")
        return [reader.readline().decode().strip() for _ in range(replies)]


def test_tcp_scanner_feeds_the_dispatcher_and_answers_each_line(seeded, dispatcher):
    sink_calls = []

    def sink(s: Scan) -> str:
        sink_calls.append(s.source)
        outcome = dispatcher.submit(s).result(timeout=5)
        return f"{outcome.status}: {outcome.message}"

    scanner = TcpScanner("front-till", "127.0.0.1", 0)
    scanner.start(sink)
    try:
        replies = _send_lines(
            scanner.address,
            # two scans, CRLF and a bare Enter between them, a scan split across writes
            f"{loyalty_id_for(4)}\r\n\n{order_number_for(4)}\n".encode(),
            2,
        )
        assert replies[0].startswith("identified: ")
        assert replies[1].startswith("order_found: order W100000004")
        assert sink_calls == ["front-till", "front-till"]
        assert scanner.status()["scans_read"] == 2
    finally:
        scanner.stop()


def test_tcp_scanner_refuses_overlong_and_binary_lines_and_keeps_reading(seeded, dispatcher):
    scanner = TcpScanner("front-till", "127.0.0.1", 0)
    scanner.start(lambda s: dispatcher.submit(s).result(timeout=5).status)
    try:
        payload = b"9" * 40_000 + b"\n" + b"\xff\xfe\x00\n" + loyalty_id_for(5).encode() + b"\n"
        replies = _send_lines(scanner.address, payload, 3)
        assert replies[0] == "refused: scan too long to be a barcode"
        assert replies[1] == "refused"
        assert replies[2] == "identified"
    finally:
        scanner.stop()
