"""Staff sign-in as an attacker would try it: guessing PINs from one device, spending a
supervisor's attempts from another page, telling known ids from unknown by time, keeping
a session alive after sign-out, a PIN reset or deactivation, using a revoked key."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from dataclasses import replace
from datetime import timedelta

import pytest

from edge_agent.staff import add_staff, create_api_key
from pos_bridge.throttle import SIGN_IN_ATTEMPTS_PER_MINUTE
from tests.agent_process import EDGE_AGENT

WRONG_PIN = "8642"  # distinctive, so the log can be searched for it


def _sign_in(till, staff_id="luis", pin=WRONG_PIN, client="192.0.2.10"):
    return till.client.post(
        "/api/v1/auth/sign-in",
        json={"staff_id": staff_id, "pin": pin, "till_id": "lane-1"},
        environ_base={"REMOTE_ADDR": client},
    )


def _audit(till, action):
    return till.ctx.store.db.execute(
        "SELECT actor, subject, detail FROM audit_log WHERE action = ? ORDER BY id", [action]
    ).fetchall()


def test_failed_pins_and_the_lockout_are_audited_and_logged_without_the_pin(till_app, caplog):
    caplog.set_level(logging.INFO)
    answers = [_sign_in(till_app).status_code for _ in range(6)]
    assert answers == [401, 401, 401, 401, 401, 423]
    failed = _audit(till_app, "staff.sign_in_failed")
    locked = _audit(till_app, "staff.locked_out")
    assert len(failed) == 5 and len(locked) == 1  # four wrong, one while locked; the lock
    assert json.loads(locked[0][2])["client"] == "192.0.2.10"
    assert {row[1] for row in failed + locked} == {"luis"}
    assert "staff PIN refused: id luis (locked_out)" in caplog.text
    assert WRONG_PIN not in caplog.text
    assert WRONG_PIN not in str(till_app.ctx.store.db.execute("SELECT * FROM audit_log").fetchall())


def test_an_unknown_id_costs_the_same_hash_work_as_a_known_one(till_app, monkeypatch):
    calls: list[str] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append("scrypt")
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    _sign_in(till_app, staff_id="nobody-here")  # the dummy hash may be made on first use
    calls.clear()
    assert _sign_in(till_app, staff_id="nobody-here").status_code == 401
    unknown = len(calls)
    calls.clear()
    assert _sign_in(till_app, staff_id="ana").status_code == 401
    assert unknown == len(calls) == 1
    assert _audit(till_app, "staff.sign_in_failed")[-2][0] == "unknown"


def test_one_device_guessing_pins_is_throttled_and_others_are_not(till_app):
    for i in range(SIGN_IN_ATTEMPTS_PER_MINUTE):
        # Spread over unknown ids, so no lockout gets in the way of counting.
        assert _sign_in(till_app, staff_id=f"guess-{i}").status_code == 401
    throttled = _sign_in(till_app, staff_id="guess-x")
    assert throttled.status_code == 429
    assert throttled.get_json()["error"]["code"] == "too_many_attempts"
    assert throttled.headers["Retry-After"] == "60"  # every try at the till's one instant
    assert _sign_in(till_app, "ana", "1234", client="192.0.2.11").status_code == 200


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_sign_in_without_json_spends_no_attempt(till_app, content_type):
    # What another page can send without CORS: a form or text/plain.
    body = json.dumps({"staff_id": "luis", "pin": WRONG_PIN})
    for _ in range(6):
        answer = till_app.client.post("/api/v1/auth/sign-in", data=body,
                                      content_type=content_type)  # fmt: skip
        assert answer.status_code == 415
    assert till_app.one("SELECT failed_attempts, locked_until FROM staff WHERE id = 'luis'") == (
        0,
        None,
    )


def test_console_sign_in_from_another_page_spends_no_attempt(till_app):
    client = till_app.app.test_client()
    for _ in range(6):
        forged = client.post("/console/sign-in", data={"staff_id": "luis", "pin": WRONG_PIN})
        assert forged.status_code == 403
    page = client.get("/console/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    other_port = client.post(
        "/console/sign-in",
        data={"staff_id": "luis", "pin": WRONG_PIN, "csrf_token": token},
        headers={"Origin": "http://localhost:9999"},
    )
    assert other_port.status_code == 403
    assert till_app.one("SELECT failed_attempts FROM staff WHERE id = 'luis'") == (0,)
    ok = client.post("/console/sign-in", data={"staff_id": "luis", "pin": "9876",
                                               "csrf_token": token})  # fmt: skip
    assert ok.status_code == 302


def _console(till_app):
    client = till_app.app.test_client()
    page = client.get("/console/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    signed = client.post("/console/sign-in",
                         data={"staff_id": "ana", "pin": "1234", "csrf_token": token})  # fmt: skip
    assert signed.status_code == 302
    with client.session_transaction() as session:
        return client, session["staff_token"]


def test_the_console_cookie_is_no_api_bearer(till_app):
    client, token = _console(till_app)
    assert client.get("/console/").status_code == 200
    answer = till_app.client.get("/api/v1/orders/W000000001",
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code == 401


def test_an_idle_console_signs_itself_out(till_app):
    client, _ = _console(till_app)
    idle = till_app.ctx.config.kiosk.console_idle_timeout_minutes
    later = till_app.ctx.clock() + timedelta(minutes=idle, seconds=1)
    till_app.app.extensions["edge_agent"] = replace(till_app.ctx, clock=lambda: later)
    assert client.get("/console/").status_code == 302
    assert till_app.one("SELECT COUNT(*) FROM staff_sessions WHERE kind = 'console'") == (0,)


def test_a_pin_reset_ends_every_session_of_that_person(till_app):
    console, _ = _console(till_app)
    bearer = _sign_in(till_app, "ana", "1234").get_json()["token"]
    add_staff(till_app.ctx, "ana", "Ana", "cashier", "5555")
    assert console.get("/console/").status_code == 302
    answer = till_app.client.get("/api/v1/devices",
                                 headers={"Authorization": f"Bearer {bearer}"})  # fmt: skip
    assert answer.status_code == 401


def test_sign_out_ends_the_console_session_even_for_a_copied_cookie(till_app):
    client, _ = _console(till_app)
    copy = till_app.app.test_client()
    cookie = client.get_cookie("session")
    copy.set_cookie("session", cookie.value)
    assert copy.get("/console/").status_code == 200
    client.post("/console/sign-out", data={"csrf_token": _csrf(client)})
    assert copy.get("/console/").status_code == 302


def _csrf(client) -> str:
    client.get("/console/")  # the page the sign-out button is on
    with client.session_transaction() as session:
        return session["csrf"]


def test_deactivate_staff_and_revoke_a_device_key_from_the_command_line(till_app, tmp_path):
    key = create_api_key(till_app.ctx, "pos-lane-3", "cashier")
    bearer = _sign_in(till_app, "ana", "1234").get_json()["token"]
    headers = {"Authorization": f"Bearer {key}"}
    assert till_app.client.get("/api/v1/devices", headers=headers).status_code == 200
    config = tmp_path / "agent.toml"
    config.write_text(f'[paths]\ndata_dir = "{till_app.ctx.config.paths.data_dir}"\n')

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([EDGE_AGENT, "--config", str(config), "staff", *args],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    assert cli("revoke-key", "pos-lane-3").returncode == 0
    assert cli("revoke-key", "pos-lane-3").returncode != 0  # already revoked: said so
    assert till_app.client.get("/api/v1/devices", headers=headers).status_code == 401
    assert cli("deactivate", "ana").returncode == 0
    assert cli("deactivate", "nobody").returncode != 0
    old = till_app.client.get("/api/v1/devices", headers={"Authorization": f"Bearer {bearer}"})
    assert old.status_code == 401
    assert _sign_in(till_app, "ana", "1234", client="192.0.2.12").status_code == 401
    assert [row[1] for row in _audit(till_app, "staff.deactivated")] == ["ana"]
