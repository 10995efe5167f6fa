"""Pass keys reach every store on a retained broadcast: a rotation takes effect without
touching a device, a withdrawn key is refused at once, and a restart offline keeps the
newest set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_agent.context import open_agent
from edge_agent.wallet_setup import agent_pass_verifier
from sync.central.cli import main as central_main
from sync.link import BrokerSettings, MqttLink
from sync.protocol.clock import utc_now
from sync.protocol.topics import key_set_topic
from tests.sync.conftest import sync_config, wait_for
from wallet.codes import PassSigner
from wallet.errors import UnknownPassKey
from wallet.keys import write_signing_key


def publish_keys(broker, tmp_path: Path, *args: str) -> str:
    result = CliRunner().invoke(
        central_main,
        ["keys", *args, "--broker", broker.url, "--db", f"sqlite://{tmp_path / 'centre.db'}"],
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_a_key_set_from_the_centre_verifies_new_passes_and_a_withdrawal_refuses_them(
    tmp_path: Path, broker, sync_factory
):
    centre_keys = tmp_path / "centre-keys"
    signer = PassSigner(7, write_signing_key(centre_keys, 7))
    code = signer.sign("loyalty", "LSERIAL0001", utc_now())
    config = sync_config(tmp_path / "store", broker.url)
    ctx = open_agent(config)
    try:
        verifier = agent_pass_verifier(ctx)
        with pytest.raises(UnknownPassKey):
            verifier.verify(code, now=utc_now())
        sync = sync_factory(ctx)
        assert "key set 1 published: keys [7]" in publish_keys(broker, tmp_path, str(centre_keys))
        wait_for(lambda: ctx.pass_keys.key_set_version == 1, "key set 1 at the store")
        assert verifier.verify(code, now=utc_now()).reference == "LSERIAL0001"  # now cached
        publish_keys(broker, tmp_path, "--withdraw", "7")
        wait_for(lambda: ctx.pass_keys.key_set_version == 2, "key set 2 at the store")
        with pytest.raises(UnknownPassKey):
            verifier.verify(code, now=utc_now())  # the cache does not outlive the key
        sync.stop()
    finally:
        ctx.store.close()
    # Restarted with no broker: the newest set the centre sent is still the one in force.
    offline = open_agent(config.model_copy(update={"sync": config.sync.model_copy(
        update={"broker_url": ""})}))  # fmt: skip
    try:
        assert offline.pass_keys.key_set_version == 2
        assert offline.pass_keys.key_ids() == ()
    finally:
        offline.store.close()


def test_a_store_joining_later_gets_the_keys_and_junk_or_old_sets_change_nothing(
    tmp_path: Path, broker, sync_factory
):
    centre_keys = tmp_path / "centre-keys"
    write_signing_key(centre_keys, 3)
    publish_keys(broker, tmp_path, str(centre_keys))
    publish_keys(broker, tmp_path, str(centre_keys))  # version 2, same keys
    ctx = open_agent(sync_config(tmp_path / "store", broker.url))
    junk = MqttLink(
        BrokerSettings(broker.url, "junk"), subscriptions=[], on_message=lambda _m: None
    )
    sync = sync_factory(ctx)
    try:
        wait_for(lambda: ctx.pass_keys.key_set_version == 2, "the retained key set")
        assert ctx.pass_keys.key_ids() == (3,)
        junk.start()
        wait_for(junk.connected.is_set, "junk publisher")
        topic = key_set_topic("retail/v1")
        # An older version first, then junk: both on one topic, so handled in this order.
        old = {"version": 1, "keys": [], "withdrawn": [3]}
        junk.publish(topic, json.dumps(old).encode())
        junk.publish(topic, b'{"version": 9, "keys": [{"id": 1, "public_key": "bm90IGEga2V5"}]}')
        wait_for(
            lambda: ctx.store.db.execute("SELECT reason FROM dead_letters").fetchone(),
            "the malformed key set dead-lettered",
        )
        assert ctx.pass_keys.key_set_version == 2
        assert ctx.pass_keys.key_ids() == (3,)
    finally:
        junk.stop()
        sync.stop()
        ctx.store.close()
