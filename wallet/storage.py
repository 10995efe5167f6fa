"""What `wallet/` needs of a store: reads through `.db`, writes in `.transaction()`.

The agent's `edge_agent.store.Store` fits; `wallet/` relies only on the tables of
migration 4 (`edge_agent/migrations.py`), not on the agent's code.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Protocol

from sqlite_utils import Database

# The tables keep times as fixed-width UTC text, so string order is time order and the
# wallet's rows compare with the store's own (the store writes the same form).
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class StoreLike(Protocol):
    @property
    def db(self) -> Database: ...

    def transaction(self) -> AbstractContextManager[Database]: ...


def stamp(moment: datetime) -> str:
    """`moment` (aware) as the tables keep it."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the wallet stores only aware UTC times")
    return moment.astimezone(UTC).strftime(STAMP_FORMAT)


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=UTC)
