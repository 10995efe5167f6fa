"""An event too large for the broker is parked with its reason; the rest still drain.

Mosquitto 2 does not refuse one oversized message: it drops the whole connection. With
`max_packet_size` it announces its limit in the CONNACK and the agent parks the event
before sending it; with the older `message_size_limit` it announces nothing, and the agent
parks the event once the broker has dropped the connection on it several times in a row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.context import open_agent
from edge_agent.outbox import append_event
from tests.sync.conftest import backlog, central_rows, scan_data, sync_config, wait_for


def big_return() -> dict:
    lines = [
        {"line_no": n, "sku": f"SKU-{n}", "quantity": 1, "refund_minor": 100, "reason": "r" * 200}
        for n in range(1, 101)
    ]
    refund = {"method": "store_credit", "amount_minor": 10000, "currency": "EUR"}
    return {"return_id": "R-1", "order_number": "W1", "lines": lines, "refund": refund,
            "offline": False, "staff_id": "S-1"}  # fmt: skip


@pytest.mark.parametrize(
    ("broker_setting", "reason_says"),
    [
        ("max_packet_size 4000", "over the broker's limit of 4000 bytes"),
        ("message_size_limit 4000", "closed the connection each time"),
    ],
)
def test_an_event_too_large_for_the_broker_is_parked_and_the_rest_reach_the_centre(
    tmp_path: Path, broker_factory, central_factory, sync_factory, broker_setting, reason_says
):
    broker = broker_factory(broker_setting + "\n")
    central = central_factory(broker.url)
    ctx = open_agent(sync_config(tmp_path / "store", broker.url))
    sync = None
    try:
        for n in range(4):
            with ctx.store.transaction() as db:
                if n == 1:  # a return of 100 lines, each with a long reason: ~30 kB
                    append_event(db, ctx.origin, "order.returned", "W1", big_return(), ctx.clock())
                else:
                    append_event(db, ctx.origin, "scan.recorded", None, scan_data(n), ctx.clock())
        sync = sync_factory(ctx, ack_timeout=1.0)
        wait_for(lambda: sync.status().parked == 1, "the big event parked", timeout=90)
        wait_for(lambda: backlog(ctx) == 1, "every event but the big one acked")
        parked = ctx.store.db.execute(
            "SELECT seq, parked_reason FROM outbox WHERE parked_reason IS NOT NULL"
        ).fetchall()
        assert [seq for seq, _ in parked] == [2]
        assert reason_says in parked[0][1]
        assert sync.status().parked == 1
        db_path = Path(central.db_url.removeprefix("sqlite://"))
        assert [r[0] for r in central_rows(db_path, "SELECT seq FROM events ORDER BY seq")] == [
            1,
            3,
            4,
        ]
        assert sync.alive
    finally:
        if sync is not None:
            sync.stop()  # before the store closes: its thread still reads the outbox
        ctx.store.close()
