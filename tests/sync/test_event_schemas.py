"""Every store event type has a versioned schema: the store refuses to emit data that
does not match it, the centre refuses to take it, and the exported JSON Schema documents
accept what the agent really emits (checked by an independent validator)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from edge_agent.customers import IdentifyQuery, identify_customer
from edge_agent.outbox import append_event
from edge_agent.seed import loyalty_id_for
from sync.central.cli import main as central_main
from sync.central.db import CentralDb
from sync.central.ingest import ingest_batch
from sync.protocol.envelope import EVENT_TYPES, build_event
from sync.protocol.event_schemas import EVENT_SCHEMAS, EventDataInvalid
from tests.conftest import outbox_types
from tests.sync.conftest import scan_data

TOPIC = "retail/v1/stores/store-a/events"


def test_every_event_type_the_agent_emits_has_a_schema():
    assert {(t, v) for t, v in EVENT_TYPES.items()} <= set(EVENT_SCHEMAS)


def test_the_store_refuses_to_emit_an_event_its_schema_does_not_allow(seeded):
    before = outbox_types(seeded)
    data = scan_data(1)
    del data["outcome"]
    with (
        pytest.raises(EventDataInvalid, match=r"scan\.recorded v1: outcome"),
        seeded.store.transaction() as db,
    ):
        db.execute("UPDATE customers SET last_seen_at = 'x'")
        append_event(db, seeded.origin, "scan.recorded", None, data, seeded.clock())
    assert outbox_types(seeded) == before  # the whole transaction rolled back
    assert seeded.store.db.execute(
        "SELECT COUNT(*) FROM customers WHERE last_seen_at = 'x'"
    ).fetchone() == (0,)


def event(seq: int, **changes: object) -> bytes:
    body = build_event(
        event_type="scan.recorded", store_id="store-a", device_id="till-1", subject=None,
        data=scan_data(seq), at=datetime.now(UTC),
    )  # fmt: skip
    body["sequence"] = str(seq)
    body.update(changes)
    return json.dumps(body).encode()


def test_the_centre_refuses_events_whose_data_breaks_their_schema(tmp_path: Path):
    db = CentralDb(f"sqlite://{tmp_path / 'central.db'}")
    try:
        db.create_schema()
        good = event(1)
        missing = event(2, data={"source": "lane-1"})
        extra = event(3, data={**scan_data(3), "email": "someone@example.com"})
        future = event(4, dataschema="urn:edge-agent:schema:scan.recorded:9")
        mislabelled = event(5, dataschema="urn:edge-agent:schema:order.returned:1")
        result = ingest_batch(
            db, "retail/v1", [(TOPIC, p) for p in (good, missing, extra, future, mislabelled)]
        )
        assert result.inserted == 1
        reasons = {r["id"]: r["reason"] for r in result.acks["store-a"].rejected}
        ids = [json.loads(p)["id"] for p in (missing, extra, future, mislabelled)]
        assert "scan.recorded v1: kind: Field required" in reasons[ids[0]]
        assert "email: Extra inputs are not permitted" in reasons[ids[1]]
        assert "no schema for scan.recorded version 9" in reasons[ids[2]]
        assert "does not name scan.recorded" in reasons[ids[3]]
    finally:
        db.close()


def test_exported_json_schemas_accept_what_real_flows_emit(tmp_path: Path, seeded):
    result = CliRunner().invoke(central_main, ["schemas", str(tmp_path / "schemas")])
    assert result.exit_code == 0, result.output
    files = {p.name for p in (tmp_path / "schemas").iterdir()}
    assert files == {f"{t}.v{v}.json" for t, v in EVENT_SCHEMAS}
    query = IdentifyQuery("loyalty_id", loyalty_id_for(1))
    identify_customer(seeded, query, channel="scan", source="lane-1")
    row = seeded.store.db.execute(
        "SELECT envelope FROM outbox WHERE type = 'customer.identified'"
    ).fetchone()
    emitted = json.loads(row[0])
    document = json.loads((tmp_path / "schemas" / "customer.identified.v1.json").read_text())
    assert document["$id"] == emitted["dataschema"]
    jsonschema.validate(emitted["data"], document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**emitted["data"], "method": "telepathy"}, document)
