"""Per-store broker users with an ACL, and TLS with a test CA, end to end."""

from __future__ import annotations

import queue
import subprocess
from pathlib import Path

import pytest

from edge_agent.context import open_agent
from sync.link import BrokerSettings, Message, MqttLink
from sync.protocol.topics import StoreTopics
from tests.sync.conftest import add_events, backlog, sync_config, wait_for

PASSWORD = "s3cret-test-only"
ACL = """user central
topic readwrite retail/v1/#

pattern readwrite retail/v1/stores/%u/#
pattern read retail/v1/broadcast/#
"""


@pytest.fixture
def acl_broker(tmp_path: Path, broker_factory):
    passwords = tmp_path / "passwords"
    for n, user in enumerate(("central", "store-a", "store-b")):
        create = ["-c"] if n == 0 else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(passwords), user, PASSWORD], check=True
        )
    (tmp_path / "acl").write_text(ACL, encoding="utf-8")
    return broker_factory(
        f"allow_anonymous false\npassword_file {passwords}\nacl_file {tmp_path / 'acl'}\n"
    )


def url_for(broker, user: str) -> str:
    return f"mqtt://{user}:{PASSWORD}@127.0.0.1:{broker.port}"


def test_store_a_can_neither_publish_nor_subscribe_as_store_b(acl_broker, central_factory):
    central = central_factory(url_for(acl_broker, "central"))
    received: queue.Queue[Message] = queue.Queue()
    published: queue.Queue[tuple[int, str | None]] = queue.Queue()
    store_a, store_b = StoreTopics("retail/v1", "store-a"), StoreTopics("retail/v1", "store-b")
    link = MqttLink(
        BrokerSettings(url_for(acl_broker, "store-a"), "edge-store-a-probe"),
        subscriptions=[(store_b.changes, 1), (store_a.changes, 1)],
        on_message=received.put,
        on_published=lambda mid, refusal: published.put((mid, refusal)),
    )
    link.start()
    try:
        wait_for(link.connected.is_set, "store-a to connect")
        mid = link.publish(store_b.events, b'{"forged": true}')
        assert published.get(timeout=30) == (mid, "Not authorized")
        # The centre sends to B first, then to A; A gets only its own.
        central.link.publish(store_b.changes, b"for store-b")
        central.link.publish(store_a.changes, b"for store-a")
        assert received.get(timeout=30).payload == b"for store-a"
        assert received.empty()
    finally:
        link.stop()


def test_events_refused_by_the_broker_are_parked_and_the_agent_carries_on(
    tmp_path: Path, acl_broker, sync_factory
):
    # Misconfigured: store-a's agent logs in with store-b's user, so every publish to
    # store-a's topics is refused.
    ctx = open_agent(sync_config(tmp_path / "store", url_for(acl_broker, "store-b")))
    try:
        add_events(ctx, 3)
        sync = sync_factory(ctx, ack_timeout=0.5)
        wait_for(
            lambda: (
                ctx.store.db.execute(
                    "SELECT COUNT(*) FROM outbox WHERE parked_reason IS NOT NULL"
                ).fetchone()[0]
                == 3
            ),
            "the refused events to be parked",
        )
        reasons = [r[0] for r in ctx.store.db.execute("SELECT parked_reason FROM outbox")]
        assert all("Not authorized" in r for r in reasons), reasons
        assert sync.alive
        assert sync.status().parked == 3
        sync.stop()
    finally:
        ctx.store.close()


def make_tls_files(directory: Path) -> dict[str, Path]:
    """A throw-away CA, a broker certificate for 127.0.0.1 and a client certificate."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, cwd=directory, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=edge test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("store-a", "")):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        ext = directory / f"{name}.ext"
        ext.write_text(extra + "\n" if extra else "basicConstraints=CA:FALSE\n")
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            f"{name}.crt",
            "-extfile",
            ext.name,
        )
    return {
        n: directory / n
        for n in ("ca.crt", "server.crt", "server.key", "store-a.crt", "store-a.key")
    }


def test_tls_with_a_test_ca_and_client_certificates_works_end_to_end(
    tmp_path: Path, broker_factory, central_factory, sync_factory
):
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    files = make_tls_files(tls_dir)
    broker = broker_factory(
        f"cafile {files['ca.crt']}\ncertfile {files['server.crt']}\n"
        f"keyfile {files['server.key']}\nrequire_certificate true\n"
    )
    url = f"mqtts://127.0.0.1:{broker.port}"
    client_tls = {
        "ca_file": files["ca.crt"],
        "cert_file": files["store-a.crt"],
        "key_file": files["store-a.key"],
    }
    central_factory(url, **client_tls)
    ctx = open_agent(sync_config(tmp_path / "store", url, **client_tls))
    try:
        add_events(ctx, 20)
        sync = sync_factory(ctx)
        wait_for(lambda: backlog(ctx) == 0, "events to drain over TLS")
        sync.stop()
    finally:
        ctx.store.close()
    # Without the client certificate the broker refuses the connection.
    link = MqttLink(
        BrokerSettings(url, "no-cert", ca_file=files["ca.crt"]),
        subscriptions=[],
        on_message=lambda _m: None,
    )
    link.start()
    try:
        wait_for(lambda: link.last_error, "the refused TLS connection to be reported")
        assert not link.connected.is_set()
    finally:
        link.stop()


def test_a_store_looks_up_through_its_own_acl_space(
    tmp_path: Path, acl_broker, central_factory, sync_factory
):
    """Requests and answers sit under stores/{id}/, so the per-store ACL pattern already
    lets a store ask and hear its answer, and no other store can."""
    from sync.central.db import CentralDb
    from sync.central.masterdata import load_records
    from sync.central.masterfile import read_master_file
    from tests.sync.masterdata_fixtures import CUSTOMER, delivered, write_json

    central = central_factory(url_for(acl_broker, "central"))
    db = CentralDb(central.db_url)
    try:
        db.create_schema()
        path = write_json(tmp_path / "m.json", [CUSTOMER, delivered("W900000007")])
        load_records(db, read_master_file(path), "m.json")
    finally:
        db.close()
    ctx = open_agent(sync_config(tmp_path / "store", url_for(acl_broker, "store-a")))
    overheard: queue.Queue[Message] = queue.Queue()
    eavesdropper = MqttLink(
        BrokerSettings(url_for(acl_broker, "store-b"), "edge-store-b-probe"),
        subscriptions=[("retail/v1/stores/store-a/lookups/#", 0)],
        on_message=overheard.put,
    )
    eavesdropper.start()
    try:
        sync = sync_factory(ctx)
        wait_for(sync.link.connected.is_set, "store-a to connect")
        wait_for(eavesdropper.connected.is_set, "store-b's probe to connect")
        answer = sync.centre_lookup.fetch_order("W900000007", timeout=10)
        assert answer.value == "found"
        assert ctx.store.db.execute("SELECT number FROM orders").fetchall() == [("W900000007",)]
        assert overheard.empty()
        sync.stop()
    finally:
        eavesdropper.stop()
        ctx.store.close()
