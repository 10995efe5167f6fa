import pytest

from edge_agent.staff import MAX_PIN_ATTEMPTS, hash_pin, verify_pin


@pytest.fixture
def till(till_app):
    return till_app  # these tests sign in themselves


def test_pin_hash_round_trip_and_salted():
    stored = hash_pin("4821")
    assert verify_pin("4821", stored)
    assert not verify_pin("4822", stored)
    assert hash_pin("4821") != stored
    # Only a random salt and a scrypt digest are kept, nothing else: so no PIN in clear.
    # (A check that "4821" is not in the text failed by chance when the hex held it.)
    scheme, salt, digest = stored.split("$")
    assert scheme == "scrypt"
    assert len(bytes.fromhex(salt)) == 16
    assert len(bytes.fromhex(digest)) == 64


def test_sign_in_gives_a_role_token_and_is_audited(till):
    session = till.sign_in()
    assert session["role"] == "cashier"
    assert session["till_id"] == "lane-1"
    assert till.client.get("/api/v1/orders/W100000001").status_code == 200
    assert till.one("SELECT actor, action, till_id FROM audit_log") == (
        "ana", "staff.signed_in", "lane-1",
    )  # fmt: skip


def test_wrong_pin_is_refused_and_locks_after_the_limit(till):
    for _ in range(MAX_PIN_ATTEMPTS):
        response = till.client.post("/api/v1/auth/sign-in", json={"staff_id": "ana", "pin": "0000"})
        assert response.status_code == 401
    locked = till.client.post("/api/v1/auth/sign-in", json={"staff_id": "ana", "pin": "1234"})
    assert locked.status_code == 423
    assert locked.get_json()["error"]["code"] == "staff_locked"
    # Another member of staff is unaffected.
    assert (
        till.client.post(
            "/api/v1/auth/sign-in", json={"staff_id": "luis", "pin": "9876"}
        ).status_code
        == 200
    )


def test_unknown_staff_and_bad_body(till):
    response = till.client.post("/api/v1/auth/sign-in", json={"staff_id": "zoe", "pin": "1234"})
    assert response.status_code == 401
    assert till.client.post("/api/v1/auth/sign-in", json={"pin": "1"}).status_code == 400


def test_sign_out_ends_the_session(till):
    till.sign_in()
    assert till.client.post("/api/v1/auth/sign-out").status_code == 200
    response = till.client.get("/api/v1/orders/W100000001")
    assert response.status_code == 401
