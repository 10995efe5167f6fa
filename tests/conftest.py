"""Shared fixtures: a real SQLite file per test, a wired agent, a seeded store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.config import Config, PathSettings, ScannerSettings, WebSettings
from edge_agent.context import AgentContext, open_agent
from edge_agent.seed import seed_store

# `postgres_url`: a PostgreSQL database of the test's own, for the centre's tests.
pytest_plugins = ["tests.sync.postgres"]

# Seeding is deterministic, so the tests can name customers and orders they rely on.
SEED_NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_config(data_dir: Path, **overrides: object) -> Config:
    base = Config(
        paths=PathSettings(data_dir=data_dir),
        web=WebSettings(port=0),
        scanners=(ScannerSettings(id="dev-tcp", url="tcp://127.0.0.1:0"),),
    )
    return base.model_copy(update=overrides)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "data")


@pytest.fixture
def agent(config: Config) -> Iterator[AgentContext]:
    ctx = open_agent(config)
    yield ctx
    ctx.store.close()


@pytest.fixture
def seeded(agent: AgentContext) -> AgentContext:
    seed_store(agent, customers=60, orders=600, seed=7, now=SEED_NOW)
    return agent


@pytest.fixture
def till_app(seeded: AgentContext):
    """A till app over the seeded store, nobody signed in (staff ana/1234, luis/9876)."""
    from tests.till_fixtures import make_till  # it imports this module

    till = make_till(seeded)
    yield till
    till.close()


@pytest.fixture
def till(till_app):
    """The till app with cashier ana signed in."""
    till_app.sign_in()
    return till_app


def outbox_types(ctx: AgentContext) -> list[str]:
    return [r[0] for r in ctx.store.db.execute("SELECT type FROM outbox ORDER BY seq")]


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[object]:
    """The centre's database: a real SQLite file, migrated (modules needing another
    centre, a PostgreSQL one or a running service, define their own)."""
    from sync.central.db import CentralDb  # the centre's code: only tests that use it

    db = CentralDb(f"sqlite://{tmp_path / 'central.sqlite3'}")
    db.create_schema()
    yield db
    db.close()
