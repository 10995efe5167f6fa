"""The wired agent the use cases run against: config, store, hashing, event origin, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from babel import Locale

from edge_agent.config import Config
from edge_agent.metrics import AgentMetrics
from edge_agent.outbox import EventOrigin
from edge_agent.pass_keys import load_key_ring
from edge_agent.privacy import SALT_META_KEY, LookupHasher, new_salt
from edge_agent.receipts import ReceiptPrinter
from edge_agent.store import Store
from sync.protocol.clock import utc_now
from wallet.keyring import PassKeyRing


@dataclass(frozen=True)
class AgentContext:
    config: Config
    store: Store
    hasher: LookupHasher
    clock: Callable[[], datetime] = field(default=utc_now)
    metrics: AgentMetrics = field(default_factory=AgentMetrics.create)
    # Public keys for pass codes; the sync thread swaps in the centre's key sets.
    pass_keys: PassKeyRing = field(default_factory=PassKeyRing)
    # Where receipts and slips print; None on a device without a printer.
    receipt_printer: ReceiptPrinter | None = None

    @property
    def origin(self) -> EventOrigin:
        return EventOrigin(store_id=self.config.store.id, device_id=self.config.device.id)


def open_agent(config: Config, clock: Callable[[], datetime] = utc_now) -> AgentContext:
    """Open the store (migrating it) and wire the context. Close with `ctx.store.close()`."""
    store = Store.open(config.paths.database)
    try:
        salt = config.privacy.lookup_salt or _device_salt(store)
        region = Locale.parse(config.store.locale).territory or "ES"
        pass_keys = load_key_ring(config, store.db)
    except BaseException:
        store.close()
        raise
    return AgentContext(
        config=config,
        store=store,
        hasher=LookupHasher(salt, region),
        clock=clock,
        metrics=AgentMetrics.create(scanner.id for scanner in config.scanners),
        pass_keys=pass_keys,
    )


def _device_salt(store: Store) -> str:
    salt = store.meta(SALT_META_KEY)
    if salt is None:
        salt = new_salt()
        with store.transaction() as db:
            # INSERT OR IGNORE + re-read: two processes starting at once agree on one salt.
            db.execute(
                "INSERT OR IGNORE INTO agent_meta (key, value) VALUES (?, ?)",
                [SALT_META_KEY, salt],
            )
        salt = store.meta(SALT_META_KEY) or salt
    return salt
