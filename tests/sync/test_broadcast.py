"""Pass revocations reach every store on a retained broadcast, late joiners included."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from edge_agent.context import open_agent
from sync.central.cli import main as central_main
from sync.link import BrokerSettings, MqttLink
from sync.protocol.topics import revocations_topic
from tests.sync.conftest import sync_config, wait_for


def revoked(ctx) -> list[str]:
    return [
        r[0]
        for r in ctx.store.db.execute(
            "SELECT serial FROM passes WHERE status = 'revoked' ORDER BY serial"
        )
    ]


def test_revocations_reach_connected_and_late_stores_and_junk_is_dead_lettered(
    tmp_path: Path, broker, store_agent, sync_factory
):
    sync = sync_factory(store_agent)
    wait_for(sync.link.connected.is_set, "store-a connected")
    result = CliRunner().invoke(
        central_main,
        ["revoke", "P-1", "P-2", "--broker", broker.url, "--db", f"sqlite://{tmp_path / 'c.db'}"],
    )
    assert result.exit_code == 0, result.output
    wait_for(lambda: revoked(store_agent) == ["P-1", "P-2"], "store-a to revoke both passes")

    late = open_agent(sync_config(tmp_path / "store-b", broker.url, store_id="store-b"))
    try:
        late_sync = sync_factory(late)
        wait_for(lambda: revoked(late) == ["P-1", "P-2"], "the retained list at store-b")
        late_sync.stop()
    finally:
        late.store.close()

    junk = MqttLink(
        BrokerSettings(broker.url, "junk"), subscriptions=[], on_message=lambda _m: None
    )
    junk.start()
    try:
        wait_for(junk.connected.is_set, "junk publisher")
        junk.publish(revocations_topic("retail/v1"), b'{"revoked": "P-3"}')
        wait_for(
            lambda: store_agent.store.db.execute("SELECT reason FROM dead_letters").fetchone(),
            "the malformed list dead-lettered",
        )
    finally:
        junk.stop()
    assert revoked(store_agent) == ["P-1", "P-2"]
    assert sync.alive
