"""Demo and benchmark data: a catalogue, customers and online orders that look real.

Deterministic for a given `seed` (same seed, same store). Names come from Faker's
Spanish provider lists (accents included); product barcodes are valid GTIN-13s and
loyalty cards valid EAN-13s from the restricted range 29, check digits from `biip`.

Rows go in with `executemany` in batches rather than sqlite-utils' `insert_all`: at a
million orders the per-row dict handling of `insert_all` was the bottleneck, and the
seed is a bulk load into tables the migrations already shaped.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from biip.checksums import gs1_standard_check_digit
from faker.providers.person.es_ES import Provider as SpanishNames

from edge_agent.context import AgentContext
from edge_agent.errors import InvalidInput
from sync.protocol.clock import ISO_FORMAT, to_iso

BATCH_ORDERS = 5000  # one transaction (one fsync) per batch keeps 1 M orders to minutes
OTHER_STORES = ("madrid-gran-via", "barcelona-diagonal", "valencia-colon", "sevilla-nervion")
SEEDED_TABLES = (
    "coupon_redemptions",
    "coupons",
    "order_lines",
    "orders",
    "loyalty_accounts",
    "customers",
    "products",
)


# A garment's grammatical gender and number ("f", "m", "fp", "mp"): the adjectives after
# it (material, colour) agree with it, as a Spanish reader expects.
@dataclass(frozen=True)
class _Garment:
    name: str
    form: str
    # the fabric it already names ("Camisa de lino"): no second fabric is added
    names_fabric: bool = False


def _g(name: str, form: str, names_fabric: bool = False) -> _Garment:
    return _Garment(name, form, names_fabric)


# (category, garments, sizes, price range in cents)
_GARMENTS = (
    (
        "vestidos",
        (_g("Vestido midi", "m"), _g("Vestido camisero", "m"),
         _g("Vestido de punto", "m", True), _g("Vestido largo", "m")),
        ("XS", "S", "M", "L", "XL"),
        (2995, 8995),
    ),
    (
        "camisas",
        (_g("Camisa Oxford", "f"), _g("Camisa de lino", "f", True), _g("Blusa fluida", "f"),
         _g("Camisa de cuadros", "f")),
        ("XS", "S", "M", "L", "XL"),
        (1995, 5995),
    ),
    (
        "pantalones",
        (_g("Pantalón chino", "m"), _g("Vaquero recto", "m", True),
         _g("Pantalón de pinzas", "m"), _g("Jogger", "m")),
        ("36", "38", "40", "42", "44", "46"),
        (2495, 6995),
    ),
    (
        "punto",
        (_g("Jersey de cuello alto", "m"), _g("Cárdigan", "m"), _g("Jersey de ochos", "m"),
         _g("Sudadera", "f")),
        ("XS", "S", "M", "L", "XL"),
        (2495, 7995),
    ),
    (
        "abrigos",
        (_g("Abrigo de paño", "m", True), _g("Gabardina", "f"), _g("Chaqueta acolchada", "f"),
         _g("Cazadora vaquera", "f", True)),
        ("XS", "S", "M", "L", "XL"),
        (4995, 18995),
    ),
    (
        "calzado",
        (_g("Zapatillas de piel", "fp", True), _g("Botines", "mp"), _g("Mocasines", "mp"),
         _g("Sandalias", "fp")),
        ("36", "37", "38", "39", "40", "41", "42", "43", "44"),
        (3995, 11995),
    ),
    (
        "accesorios",
        (_g("Bolso bandolera", "m"), _g("Cinturón de piel", "m", True),
         _g("Bufanda de lana", "f", True), _g("Gorra", "f")),
        ("Única",),
        (1295, 5995),
    ),
)  # fmt: skip
# Fabrics ("de ..." does not agree) and finishes (adjectives: one form per gender/number).
_FABRICS = ("de algodón", "de lino", "de lana merino", "de piel")
_FINISHES = (
    {"m": "ecológico", "f": "ecológica", "mp": "ecológicos", "fp": "ecológicas"},
    {"m": "satinado", "f": "satinada", "mp": "satinados", "fp": "satinadas"},
    {"m": "reciclado", "f": "reciclada", "mp": "reciclados", "fp": "recicladas"},
)
# Colours named by a noun or a compound ("azul marino") do not change; the others agree.
_COLOURS = (
    {"m": "negro", "f": "negra", "mp": "negros", "fp": "negras"},
    "blanco roto",
    "azul marino",
    {"m": "crudo", "f": "cruda", "mp": "crudos", "fp": "crudas"},
    "verde oliva",
    {"m": "granate", "f": "granate", "mp": "granates", "fp": "granates"},
    "camel",
    "gris jaspeado",
    "rosa empolvado",
    "caqui",
)
_TIERS = (("bronze", 60), ("silver", 25), ("gold", 12), ("platinum", 3))
_PAYMENTS = (("card", 70), ("paypal", 15), ("bizum", 10), ("gift_card", 5))
_EMAIL_DOMAINS = ("gmail.com", "hotmail.es", "yahoo.es", "outlook.com", "telefonica.net")
# status weights for home delivery / click-and-collect
_DELIVERY_STATUS = (
    ("delivered", 72),
    ("shipped", 10),
    ("processing", 6),
    ("placed", 4),
    ("cancelled", 8),
)
_COLLECT_STATUS = (
    ("collected", 60),
    ("ready_for_pickup", 20),
    ("processing", 8),
    ("placed", 4),
    ("cancelled", 8),
)


@dataclass(frozen=True)
class SeedResult:
    products: int
    customers: int
    orders: int
    order_lines: int
    seconds: float


def seed_store(
    ctx: AgentContext,
    *,
    customers: int,
    orders: int,
    seed: int = 1,
    replace: bool = False,
    on_progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> SeedResult:
    """Fill the store with a catalogue, `customers` customers and `orders` orders.

    Refuses a store that already holds data unless `replace` (which wipes seeded tables
    but keeps the outbox and everything the store did). `on_progress` gets orders added.
    """
    if customers < 1 or orders < 0:
        raise InvalidInput("seed needs at least one customer and a non-negative order count")
    started = datetime.now(UTC)
    now = now or started
    rng = random.Random(seed)
    db = ctx.store.db
    if not replace and db.execute("SELECT 1 FROM customers LIMIT 1").fetchone():
        raise InvalidInput("this store already has customers; seed with --replace to start over")
    with ctx.store.transaction() as tx:
        for table in SEEDED_TABLES:
            tx.execute(f"DELETE FROM {table}")
        products = _products(rng, ctx.config.store.currency, now)
        tx.conn.executemany(
            "INSERT INTO products (gtin, sku, name, category, colour, size, price_minor,"
            " currency, stock_here, updated_at, style) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            products,
        )
        tx.conn.executemany(
            "INSERT INTO customers (id, loyalty_id, first_name, last_name, email_hash,"
            " phone_hash, preferred_locale, consent_marketing, consent_updated_at, created_at,"
            " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            _customers(ctx, rng, customers, now),
        )
        tx.conn.executemany(
            "INSERT INTO loyalty_accounts (customer_id, tier, points, lifetime_points,"
            " updated_at) VALUES (?,?,?,?,?)",
            _loyalty(rng, customers, now),
        )
        tx.conn.executemany(
            "INSERT INTO coupons (code, customer_id, description, kind, value, currency,"
            " points_cost, valid_from, valid_until, max_redemptions, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            _coupons(rng, customers, ctx.config.store.currency, now),
        )
    line_count = 0
    order_rows = _orders(ctx, rng, products, customers, orders, now)
    while True:
        batch = [row for _, row in zip(range(BATCH_ORDERS), order_rows, strict=False)]
        if not batch:
            break
        with ctx.store.transaction() as tx:
            tx.conn.executemany(
                "INSERT INTO orders (id, number, customer_id, channel, fulfilment, status,"
                " pickup_store_id, placed_at, fulfilled_at, currency, total_minor,"
                " payment_method, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [order for order, _ in batch],
            )
            lines = [line for _, order_lines in batch for line in order_lines]
            tx.conn.executemany(
                "INSERT INTO order_lines (order_id, line_no, gtin, sku, name, category,"
                " colour, size, quantity, unit_price_minor, final_sale)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                lines,
            )
        line_count += len(lines)
        if on_progress is not None:
            on_progress(len(batch))
    seconds = (datetime.now(UTC) - started).total_seconds()
    return SeedResult(len(products), customers, orders, line_count, seconds)


def loyalty_id_for(customer_number: int) -> str:
    """The loyalty card number of seeded customer `n`: an EAN-13 in the range 29."""
    body = f"29{customer_number:010d}"
    return body + str(gs1_standard_check_digit(body))


def customer_id_for(customer_number: int) -> str:
    return f"C{customer_number:08d}"


def order_number_for(order_number: int) -> str:
    return f"W{100_000_000 + order_number:09d}"


def _products(rng: random.Random, currency: str, now: datetime) -> list[tuple]:
    rows = []
    model = 0
    stamp = to_iso(now)
    for category, garments, sizes, (low, high) in _GARMENTS:
        for garment in garments:
            for material in _materials(rng, garment):
                model += 1
                shade = rng.choice(_COLOURS)
                colour = _agree(shade, "m")  # the colour's own name, for the column
                price = rng.randrange(low, high + 1, 100)  # prices end in .95
                for size in sizes:
                    item = len(rows) + 1
                    body = f"8437{model:04d}{item:04d}"[:12]
                    gtin = body + str(gs1_standard_check_digit(body))
                    style = f"{category[:3].upper()}-{model:04d}"
                    sku = f"{style}-{size}"
                    name = f"{garment.name} {material} {_agree(shade, garment.form)}"
                    stock = rng.randrange(0, 12)
                    rows.append(
                        (
                            gtin,
                            sku,
                            name,
                            category,
                            colour,
                            size,
                            price,
                            currency,
                            stock,
                            stamp,
                            style,
                        )
                    )
    return rows


def _materials(rng: random.Random, garment: _Garment) -> list[str]:
    """Three variants of a garment: a fabric (unless its name has one) or a finish."""
    finishes = [_agree(f, garment.form) for f in _FINISHES]
    if garment.names_fabric:
        return finishes
    return rng.sample([*_FABRICS, *finishes], 3)


def _agree(word: str | dict[str, str], form: str) -> str:
    return word if isinstance(word, str) else word[form]


def _customers(ctx: AgentContext, rng: random.Random, count: int, now: datetime) -> Iterator[tuple]:
    first_f, first_m = SpanishNames.first_names_female, SpanishNames.first_names_male
    last = SpanishNames.last_names
    for n in range(1, count + 1):
        first = rng.choice(first_f if rng.random() < 0.55 else first_m)
        surname1, surname2 = rng.choice(last), rng.choice(last)
        email = f"{_ascii(first)}.{_ascii(surname1)}{n}@{rng.choice(_EMAIL_DOMAINS)}"
        phone = f"+346{rng.randrange(10_000_000, 99_999_999)}"
        joined = to_iso(now - timedelta(days=rng.randrange(1, 2000)))
        consent = 1 if rng.random() < 0.6 else 0
        yield (
            customer_id_for(n),
            loyalty_id_for(n),
            first,
            f"{surname1} {surname2}",
            ctx.hasher.email(email),
            ctx.hasher.phone(phone),
            "es",
            consent,
            joined if consent else None,
            joined,
            # updated_at is when the device got this copy (cache expiry counts from it).
            to_iso(now),
        )


def _loyalty(rng: random.Random, count: int, now: datetime) -> Iterator[tuple]:
    tiers, weights = zip(*_TIERS, strict=True)
    stamp = to_iso(now)
    for n in range(1, count + 1):
        tier = rng.choices(tiers, weights)[0]
        points = rng.randrange(0, 5000)
        yield (customer_id_for(n), tier, points, points + rng.randrange(0, 20000), stamp)


def coupon_code_for(customer_number: int) -> str:
    return f"BIENVENIDA-{customer_number:06d}"


def _coupons(rng: random.Random, count: int, currency: str, now: datetime) -> Iterator[tuple]:
    start, end, stamp = (
        to_iso(now - timedelta(days=30)),
        to_iso(now + timedelta(days=60)),
        to_iso(now),
    )
    # A personal welcome coupon for every customer, a points reward for a few, and one
    # shop-wide promotion anyone can use many times.
    for n in range(1, count + 1):
        yield (
            coupon_code_for(n),
            customer_id_for(n),
            "10 % de descuento de bienvenida",
            "percent_off",
            10,
            None,
            0,
            start,
            end,
            1,
            stamp,
        )
        if rng.random() < 0.2:
            yield (
                f"PUNTOS-{n:06d}",
                customer_id_for(n),
                "5 € por 500 puntos",
                "reward",
                500,
                currency,
                500,
                start,
                end,
                1,
                stamp,
            )
    yield (
        "REBAJAS",
        None,
        "15 % en rebajas",
        "percent_off",
        15,
        None,
        0,
        start,
        end,
        1_000_000,
        stamp,
    )


def _orders(
    ctx: AgentContext,
    rng: random.Random,
    products: list[tuple],
    customers: int,
    count: int,
    now: datetime,
) -> Iterator[tuple[tuple, list[tuple]]]:
    store_id, currency = ctx.config.store.id, ctx.config.store.currency
    pay, pay_w = zip(*_PAYMENTS, strict=True)
    dstat, dstat_w = zip(*_DELIVERY_STATUS, strict=True)
    cstat, cstat_w = zip(*_COLLECT_STATUS, strict=True)
    now_ts = now.timestamp()
    year = 365 * 86400
    for n in range(1, count + 1):
        collect = rng.random() < 0.3
        status = rng.choices(cstat, cstat_w)[0] if collect else rng.choices(dstat, dstat_w)[0]
        pickup = (store_id if rng.random() < 0.6 else rng.choice(OTHER_STORES)) if collect else None
        # Orders still waiting are recent; finished ones spread over the last year.
        age = rng.random() * (year if status in ("delivered", "collected", "cancelled") else 864000)
        placed = now_ts - age
        fulfilled = (
            _iso_ts(min(placed + rng.randrange(86400, 6 * 86400), now_ts))
            if status in ("delivered", "collected")
            else None
        )
        lines = []
        total = 0
        for line_no in range(1, rng.choice((1, 1, 1, 2, 2, 3, 4)) + 1):
            gtin, sku, name, category, colour, size, price, *_ = rng.choice(products)
            quantity = 1 if rng.random() < 0.9 else 2
            final_sale = 1 if rng.random() < 0.05 else 0
            total += price * quantity
            lines.append(
                (n, line_no, gtin, sku, name, category, colour, size, quantity, price, final_sale)
            )
        placed_iso = _iso_ts(placed)
        order = (
            n,
            order_number_for(n),
            customer_id_for(rng.randrange(1, customers + 1)),
            "online",
            "click_and_collect" if collect else "delivery",
            status,
            pickup,
            placed_iso,
            fulfilled,
            currency,
            total,
            rng.choices(pay, pay_w)[0],
            fulfilled or placed_iso,
        )
        yield order, lines


def _iso_ts(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime(ISO_FORMAT)


def _ascii(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.lower())
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())
