import threading

from edge_agent.errors import EdgeAgentError
from edge_agent.loyalty import TIER_THRESHOLDS, redeem_coupon, tier_for
from edge_agent.seed import coupon_code_for
from edge_agent.staff import Actor
from tests.conftest import outbox_types


def account(till, customer_id):
    return till.one(
        "SELECT tier, points, lifetime_points FROM loyalty_accounts WHERE customer_id = ?",
        [customer_id],
    )


def test_tiers_follow_lifetime_points():
    assert [tier_for(t) for _, t in TIER_THRESHOLDS] == [n for n, _ in TIER_THRESHOLDS]
    assert tier_for(TIER_THRESHOLDS[2][1] - 1) == TIER_THRESHOLDS[1][0]


def test_award_is_idempotent_per_sale(till):
    _, points, _ = account(till, "C00000001")
    award = {"customer_id": "C00000001", "sale_reference": "S-1001", "amount_minor": 4999,
             "currency": "EUR"}  # fmt: skip
    first = till.client.post("/api/v1/loyalty/award", json=award).get_json()
    assert first["awarded"] > 0 and first["duplicate"] is False
    assert account(till, "C00000001")[1] == points + first["awarded"]
    again = till.client.post("/api/v1/loyalty/award", json=award).get_json()
    assert again["duplicate"] is True and again["awarded"] == 0
    assert account(till, "C00000001")[1] == points + first["awarded"]
    assert outbox_types(till.ctx).count("loyalty.points_changed") == 1


def test_crossing_a_threshold_changes_tier_and_tells_the_centre(till):
    with till.ctx.store.transaction() as db:
        db.execute("UPDATE loyalty_accounts SET tier = 'bronze', lifetime_points = 1990"
                   " WHERE customer_id = 'C00000002'")  # fmt: skip
    result = till.client.post("/api/v1/loyalty/award", json={
        "customer_id": "C00000002", "sale_reference": "S-2", "amount_minor": 5000,
        "currency": "EUR"}).get_json()  # fmt: skip
    assert (result["previous_tier"], result["tier"]) == ("bronze", "silver")
    assert "loyalty.tier_changed" in outbox_types(till.ctx)


def test_award_refusals(till):
    wrong_currency = till.client.post("/api/v1/loyalty/award", json={
        "customer_id": "C00000001", "sale_reference": "S-3", "amount_minor": 100,
        "currency": "USD"})  # fmt: skip
    assert wrong_currency.status_code == 422
    unknown = till.client.post("/api/v1/loyalty/award", json={
        "customer_id": "C-NOBODY", "sale_reference": "S-4", "amount_minor": 100,
        "currency": "EUR"})  # fmt: skip
    assert unknown.status_code == 404


def test_coupon_redeems_once_and_only_for_its_owner(till):
    code = coupon_code_for(3)
    other = till.client.post("/api/v1/coupons/redeem", json={
        "code": code, "customer_id": "C00000004", "sale_reference": "S-9"})  # fmt: skip
    assert other.status_code == 409 and "another customer" in other.get_json()["error"]["message"]
    ok = till.client.post("/api/v1/coupons/redeem", json={
        "code": code.lower(), "customer_id": "C00000003", "sale_reference": "S-10"})  # fmt: skip
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["remaining_uses"] == 0
    again = till.client.post("/api/v1/coupons/redeem", json={
        "code": code, "customer_id": "C00000003", "sale_reference": "S-11"})  # fmt: skip
    assert again.status_code == 409 and "already been used" in again.get_json()["error"]["message"]
    assert outbox_types(till.ctx) == ["coupon.redeemed"]


def test_reward_needs_enough_points_and_changes_nothing_when_short(till):
    row = till.one("SELECT code, customer_id, points_cost FROM coupons WHERE kind = 'reward'"
                   " LIMIT 1")  # fmt: skip
    code, customer, cost = row
    with till.ctx.store.transaction() as db:
        db.execute("UPDATE loyalty_accounts SET points = ? WHERE customer_id = ?",
                   [cost - 1, customer])  # fmt: skip
    short = till.client.post("/api/v1/coupons/redeem", json={
        "code": code, "customer_id": customer, "sale_reference": "S-20"})  # fmt: skip
    assert short.status_code == 409
    assert till.one("SELECT redemptions FROM coupons WHERE code = ?", [code]) == (0,)
    with till.ctx.store.transaction() as db:
        db.execute("UPDATE loyalty_accounts SET points = ? WHERE customer_id = ?",
                   [cost + 5, customer])  # fmt: skip
    paid = till.client.post("/api/v1/coupons/redeem", json={
        "code": code, "customer_id": customer, "sale_reference": "S-21"})  # fmt: skip
    assert paid.status_code == 200
    assert account(till, customer)[1] == 5


def test_same_coupon_at_two_tills_at_the_same_instant_succeeds_once(till):
    code = coupon_code_for(5)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(till_id: str, sale: str) -> None:
        barrier.wait()
        try:
            redeem_coupon(till.ctx, code, "C00000005", sale,
                          actor=Actor("ana", "cashier", "staff", till_id))  # fmt: skip
            results.append("ok")
        except EdgeAgentError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=attempt, args=(f"lane-{i}", f"S-{i}")) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["coupon_refused", "ok"]
    assert till.one("SELECT redemptions FROM coupons WHERE code = ?", [code]) == (1,)
