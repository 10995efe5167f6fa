"""`edge-central subscriptions ...`: add, list, replay, dead letters, apply, and the
fleet page and /metrics that show how each subscriber is doing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from sync.central.cli import main
from sync.central.db import CentralDb
from sync.central.delivery.subscriptions import get_subscription, new_secret
from sync.central.web import create_fleet_app
from tests.delivery.conftest import ingest, source, store_events
from tests.sync.conftest import free_port, wait_for

A1 = source("store-a", "till-1")


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def secret_file(tmp_path, *secrets: str):
    path = tmp_path / "cdp.secret"
    path.write_text("# the CDP's signing secret\n" + "\n".join(secrets) + "\n")
    return path


def test_add_refuses_what_cannot_work_with_a_clear_reason(tmp_path, db_url):
    good = str(secret_file(tmp_path, new_secret()))
    cases = [
        (["https://cdp.example/h", "--types", "order.retuned"], "unknown event type"),
        (["ftp://cdp.example/h", "--types", "order.returned"], "not an http:// or https://"),
        (["https://cdp.example/h", "--types", " "], "say which event types"),
    ]
    for args, reason in cases:
        code, output = cli("subscriptions", "add", *args, "--secret-file", good, "--db", db_url)
        assert code == 1 and reason in output, output
    short = str(secret_file(tmp_path, "whsec_c2hvcnQ="))
    code, output = cli(
        "subscriptions", "add", "https://cdp.example/h", "--types", "order.*",
        "--secret-file", short, "--db", db_url,
    )  # fmt: skip
    assert code == 1 and "at least 24" in output
    code, output = cli("subscriptions", "list", "--db", db_url)
    assert json.loads(output) == []
    code, output = cli("subscriptions", "remove", "nobody", "--db", db_url)
    assert code == 1 and "no subscription 'nobody'" in output


def test_a_subscriber_down_shows_its_lag_and_failures_then_replay_and_dead_letters(
    tmp_path, db_url, secret, receiver_factory, worker_factory
):
    port = free_port()
    down = receiver_factory(port=port, start=False)
    path = secret_file(tmp_path, secret)
    code, output = cli(
        "subscriptions", "add", down.url, "--id", "cdp", "--types", "scan.recorded",
        "--secret-file", str(path), "--db", db_url,
    )  # fmt: skip
    assert code == 0, output
    assert "whsec" not in output and json.loads(output)["secrets"] == 1
    ingest(db_url, store_events("store-a", "till-1", [1, 2, 3, 4]))
    worker_factory()
    wait_for(lambda: status(db_url)["failures"] >= 2, "failures counted")
    waiting = status(db_url)
    assert waiting["lag_events"] == 4 and waiting["lag_seconds"] > 0
    assert waiting["failing_devices"] == 1 and "ConnectError" in waiting["last_error"]
    metrics = create_fleet_app(db_url).test_client().get("/metrics").get_data(as_text=True)
    assert 'edge_central_delivery_lag_events{subscription="cdp"} 4.0' in metrics
    assert 'edge_central_delivery_failures_total{subscription="cdp"}' in metrics

    down.answer = lambda events: 410 if int(events[0]["sequence"]) == 2 else 200
    down.start()
    wait_for(lambda: status(db_url)["lag_events"] == 0, "the backlog delivered")
    assert down.sequences(A1) == [1, 3, 4]
    code, output = cli("subscriptions", "dead-letters", "cdp", "--db", db_url)
    (letter,) = json.loads(output)
    assert (letter["seq"], letter["status"]) == (2, 410)
    page = create_fleet_app(db_url).test_client().get("/fleet").get_data(as_text=True)
    assert "Delivery to platforms" in page and down.url in page

    down.answer = lambda events: 200
    code, output = cli(
        "subscriptions", "replay", "cdp", "--from", "2020-01-01", "--db", db_url
    )  # fmt: skip
    assert code == 0 and output.startswith("4 event(s)"), output
    wait_for(lambda: len(down.ids()) == 7, "the replay")
    assert down.sequences(A1) == [1, 3, 4, 1, 2, 3, 4]


def test_apply_creates_then_updates_keeping_the_cursor(tmp_path, db_url, secret):
    secret_file(tmp_path, secret)
    config = tmp_path / "subscriptions.toml"
    config.write_text(
        '[[subscription]]\nid = "cdp"\nurl = "https://cdp.example/hooks"\n'
        'types = ["order.returned"]\nsecret_file = "cdp.secret"\n'
    )
    assert cli("subscriptions", "apply", str(config), "--db", db_url)[1].startswith(
        f"{config}: 1 added"
    )
    config.write_text(config.read_text() + 'batch = 100\nstores = ["store-a"]\n')
    code, output = cli("subscriptions", "apply", str(config), "--db", db_url)
    assert code == 0 and "1 updated" in output
    db = CentralDb(db_url)
    try:
        sub = get_subscription(db, "cdp")
    finally:
        db.close()
    assert sub is not None and (sub.batch_max, sub.stores) == (100, ("store-a",))
    config.write_text(config.read_text() + "colour = 'red'\n")
    code, output = cli("subscriptions", "apply", str(config), "--db", db_url)
    assert code == 1 and "unknown key(s) colour" in output


def status(db_url: str) -> dict:
    code, output = cli("subscriptions", "list", "--db", db_url)
    assert code == 0, output
    return json.loads(output)[0]


def test_prune_keeps_what_a_subscriber_has_not_received(tmp_path, db_url, secret):
    long_ago = datetime(2025, 1, 10, tzinfo=UTC)
    ingest(db_url, store_events("store-a", "till-1", [1, 2, 3], at=long_ago))
    ingest(db_url, store_events("store-a", "till-2", [1], at=long_ago + timedelta(days=1)))
    path = secret_file(tmp_path, secret)
    cli("subscriptions", "add", "https://cdp.example/h", "--id", "cdp", "--types", "*",
        "--secret-file", str(path), "--from-beginning", "--db", db_url)  # fmt: skip
    cli("subscriptions", "pause", "cdp", "--db", db_url)
    code, output = cli("prune", "--db", db_url, "--older-than", "45")
    assert code == 0 and "subscription cdp has not received them" in output, output
    assert count_events(db_url) == 4
    db = CentralDb(db_url)
    try:  # till-1 delivered: only till-2's event still waits
        db.execute(
            "INSERT INTO delivery_cursors (subscription_id, source, delivered_seq,"
            " delivered_count, failure_count, attempts, updated_at)"
            " VALUES ('cdp', %s, 3, 3, 0, 0, '')",
            [A1],
        )
    finally:
        db.close()
    code, output = cli("prune", "--db", db_url, "--older-than", "45")
    assert code == 0 and "deleted 3 older event(s)" in output, output
    assert count_events(db_url) == 1


def count_events(db_url: str) -> int:
    db = CentralDb(db_url)
    try:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        db.close()
