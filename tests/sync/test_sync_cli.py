"""`edge-agent sync ...` and `edge-central push/fleet` on real database files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.context import open_agent
from edge_agent.feed import dead_letter
from sync.central.cli import main as central_main
from sync.protocol.clock import utc_now
from tests.conftest import make_config
from tests.sync.conftest import add_events, central_rows


def test_sync_status_parked_unpark_and_dead_letters(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EDGE_AGENT__PATHS__DATA_DIR", str(tmp_path))
    ctx = open_agent(make_config(tmp_path))
    add_events(ctx, 3)
    with ctx.store.transaction() as db:
        db.execute("UPDATE outbox SET parked_reason = 'broker refused it 3 times' WHERE seq = 2")
        dead_letter(db, "retail/v1/stores/demo-001/changes", b"{bad", "not valid JSON", utc_now())
    ctx.store.close()
    runner = CliRunner()
    status = json.loads(runner.invoke(main, ["sync", "status"]).output)
    assert status["backlog"] == 3
    assert status["parked"] == 1
    assert status["dead_letters"] == 1
    assert status["change_feed_last_applied"] == 0
    parked = runner.invoke(main, ["sync", "parked"]).output
    assert "broker refused it 3 times" in parked
    assert "1 parked event(s)" in parked
    assert "not valid JSON" in runner.invoke(main, ["sync", "dead-letters"]).output
    assert "1 event(s) queued again" in runner.invoke(main, ["sync", "unpark"]).output
    assert json.loads(runner.invoke(main, ["sync", "status"]).output)["parked"] == 0


def test_edge_central_push_records_changes_and_refuses_a_bad_file(tmp_path: Path):
    db = f"sqlite://{tmp_path / 'central.sqlite3'}"
    changes = tmp_path / "changes.json"
    changes.write_text(
        json.dumps(
            [
                {"store_id": "store-a", "type": "pass.revoked", "data": {"serial": "P-9"}},
                {
                    "store_id": "store-a",
                    "type": "config.changed",
                    "data": {"key": "returns.window_days", "value": 60},
                },
            ]
        )
    )
    runner = CliRunner()
    result = runner.invoke(central_main, ["push", str(changes), "--db", db])
    assert result.exit_code == 0, result.output
    assert "recorded 2 change(s)" in result.output
    good = {"store_id": "store-a", "type": "pass.revoked", "data": {"serial": "P-10"}}
    bad = {"store_id": "store-a", "type": "pass.revoked", "data": {}}
    changes.write_text(json.dumps([good, bad]))
    refused = runner.invoke(central_main, ["push", str(changes), "--db", db])
    assert refused.exit_code == 1
    assert "item 2: pass.revoked data is wrong: serial" in refused.output
    # Nothing of a bad file is recorded, not even its good items.
    assert central_rows(tmp_path / "central.sqlite3", "SELECT COUNT(*) FROM changes") == [(2,)]
    fleet = runner.invoke(central_main, ["fleet", "--db", db])
    assert json.loads(fleet.output) == []
