import hashlib

import biip
import pytest

from edge_agent.context import open_agent
from edge_agent.errors import InvalidInput
from edge_agent.seed import seed_store
from tests.conftest import SEED_NOW, make_config


def digest(ctx) -> str:
    h = hashlib.sha256()
    for table, order in (
        ("customers", "id"),
        ("orders", "id"),
        ("order_lines", "id"),
        ("products", "gtin"),
        ("loyalty_accounts", "customer_id"),
    ):
        for row in ctx.store.db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
            h.update(repr(row).encode())
    return h.hexdigest()


def seeded_digest(tmp_path, name, seed):
    config = make_config(tmp_path / name).model_copy()
    config = config.model_copy(
        update={"privacy": config.privacy.model_copy(update={"lookup_salt": "fixed-test-salt"})}
    )
    ctx = open_agent(config)
    try:
        seed_store(ctx, customers=40, orders=300, seed=seed, now=SEED_NOW)
        return digest(ctx)
    finally:
        ctx.store.close()


def test_same_seed_same_store_other_seed_other_store(tmp_path):
    assert seeded_digest(tmp_path, "a", 3) == seeded_digest(tmp_path, "b", 3)
    assert seeded_digest(tmp_path, "c", 4) != seeded_digest(tmp_path, "d", 3)


def test_seeded_data_looks_real_and_is_valid(seeded):
    db = seeded.store.db
    assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 600
    assert db.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 60
    names = " ".join(
        r[0] + " " + r[1] for r in db.execute("SELECT first_name, last_name FROM customers")
    )
    assert any(ch in names for ch in "áéíóúñÁÉÍÓÚÑ")
    for (gtin,) in db.execute("SELECT gtin FROM products"):
        assert biip.parse(gtin).gtin is not None, gtin
    for (loyalty,) in db.execute("SELECT loyalty_id FROM customers"):
        assert biip.parse(loyalty).gtin is not None, loyalty
    bad_totals = db.execute(
        "SELECT COUNT(*) FROM orders o WHERE total_minor != (SELECT SUM(quantity *"
        " unit_price_minor) FROM order_lines WHERE order_id = o.id)"
    ).fetchone()[0]
    assert bad_totals == 0
    statuses = {r[0] for r in db.execute("SELECT DISTINCT status FROM orders")}
    assert {"delivered", "ready_for_pickup", "collected"} <= statuses
    assert db.execute("SELECT COUNT(*) FROM customers WHERE email_hash IS NULL").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_seeding_twice_needs_replace(seeded):
    with pytest.raises(InvalidInput, match="--replace"):
        seed_store(seeded, customers=5, orders=5)
    seed_store(seeded, customers=5, orders=7, replace=True)
    assert seeded.store.db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 7


# What a Spanish reader checks: one fabric per name, and adjectives that agree with the
# garment. The test's own word lists, not the seed's.
_FABRIC_WORDS = ("algodón", "lino", "lana", "piel", "paño", "punto", "vaquer")
_FEMININE = ("Camisa", "Blusa", "Sudadera", "Gabardina", "Chaqueta", "Cazadora", "Zapatillas",
             "Sandalias", "Bufanda", "Gorra")  # fmt: skip
_AGREEING_STEMS = ("ecológic", "satinad", "reciclad", "negr", "crud", "fluid", "acolchad")


def test_product_names_read_right_in_spanish(seeded):
    names = [n for (n,) in seeded.store.db.execute("SELECT DISTINCT name FROM products")]
    assert len(names) > 50
    for name in names:
        words = name.split()
        fabrics = [w for w in words if w.lower().startswith(_FABRIC_WORDS)]
        assert len(fabrics) <= 1, f"two fabrics in {name!r}"
        ending = ("a" if words[0] in _FEMININE else "o") + ("s" if words[0].endswith("s") else "")
        for word in words[1:]:
            stem = next((s for s in _AGREEING_STEMS if word.startswith(s)), None)
            if stem is not None:
                assert word == stem + ending, f"{word!r} does not agree in {name!r}"
