"""The screens' session secret: generated once per device and kept, or taken from config."""

from __future__ import annotations

from edge_agent.config import KioskSettings
from edge_agent.context import open_agent
from edge_agent.scans import ScanDispatcher
from pos_bridge.app import create_app
from pos_bridge.screens import SESSION_SECRET_META_KEY
from tests.conftest import make_config


def app_secret(config) -> tuple[str, str | None]:
    ctx = open_agent(config)
    try:
        app = create_app(ctx, ScanDispatcher(ctx))
        return app.secret_key, ctx.store.meta(SESSION_SECRET_META_KEY)
    finally:
        ctx.store.close()


def test_secret_is_generated_once_per_device_and_survives_a_restart(tmp_path):
    config = make_config(tmp_path / "data")
    first, stored = app_secret(config)
    assert first == stored and len(first) >= 40
    again, _ = app_secret(config)
    assert again == first  # kiosk sessions survive a restart of the agent
    other, _ = app_secret(make_config(tmp_path / "other-device"))
    assert other != first


def test_configured_secret_wins_and_nothing_is_generated(tmp_path):
    config = make_config(tmp_path / "data", kiosk=KioskSettings(session_secret="s" * 40))
    secret, stored = app_secret(config)
    assert secret == "s" * 40
    assert stored is None
