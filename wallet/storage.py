"""What `wallet/` needs of a store: reads through `.db`, writes in `.transaction()`.

The agent's `edge_agent.store.Store` fits; `wallet/` relies only on the tables of
migration 4 (`edge_agent/migrations.py`), not on the agent's code.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from sqlite_utils import Database


class StoreLike(Protocol):
    @property
    def db(self) -> Database: ...

    def transaction(self) -> AbstractContextManager[Database]: ...
