"""What the app factory hangs on the Flask app, put and fetched by name in one place.

The daemon adds what only a running agent has (devices, the link to the centre) with
the `install_*` functions; requests read everything through the getters below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, current_app

from edge_agent.centre import CentreLookup
from edge_agent.context import AgentContext
from edge_agent.scans import ScanDispatcher
from pos_bridge.kiosk_sessions import KioskSessions
from pos_bridge.throttle import Throttles
from pos_bridge.till_events import TillEventHub

if TYPE_CHECKING:
    from edge_agent.devices import DeviceRegistry
    from wallet.codes import PassVerifier


def install_agent(app: Flask, ctx: AgentContext, dispatcher: ScanDispatcher) -> None:
    app.extensions["edge_agent"] = ctx
    app.extensions["scan_dispatcher"] = dispatcher


def install_pass_checks(
    app: Flask, verifier: PassVerifier | None, rotating_secret: bytes | None
) -> None:
    app.extensions["pass_verifier"] = verifier
    app.extensions["pass_rotating_secret"] = rotating_secret


def install_till_events(app: Flask, hub: TillEventHub) -> None:
    app.extensions["till_events"] = hub


def install_devices(app: Flask, registry: DeviceRegistry) -> None:
    app.extensions["devices"] = registry


def install_centre(app: Flask, link_up: Callable[[], bool], lookup: CentreLookup | None) -> None:
    app.extensions["link_up"] = link_up
    app.extensions["centre_lookup"] = lookup


def install_throttles(app: Flask, throttles: Throttles) -> None:
    app.extensions["throttles"] = throttles


def install_kiosk_sessions(app: Flask, sessions: KioskSessions) -> None:
    app.extensions["kiosk_sessions"] = sessions


def throttles() -> Throttles:
    return current_app.extensions["throttles"]


def kiosk_sessions() -> KioskSessions:
    return current_app.extensions["kiosk_sessions"]


def agent() -> AgentContext:
    return current_app.extensions["edge_agent"]


def dispatcher() -> ScanDispatcher:
    return current_app.extensions["scan_dispatcher"]


def till_events() -> TillEventHub:
    return current_app.extensions["till_events"]


def pass_verifier() -> PassVerifier | None:
    return current_app.extensions["pass_verifier"]


def rotating_secret() -> bytes | None:
    return current_app.extensions["pass_rotating_secret"]


def devices_of(app: Flask) -> DeviceRegistry | None:
    """The daemon's scanners and printers; None in an app without them (tests, tools)."""
    return app.extensions.get("devices")


def till_events_of(app: Flask) -> TillEventHub:
    return app.extensions["till_events"]


def link_up() -> bool:
    """Whether the link to the centre is up (the sync client provides it; else offline)."""
    return bool(current_app.extensions.get("link_up", lambda: False)())


def centre_lookup() -> CentreLookup | None:
    """Asks the centre for what the cache lacks (the sync client provides it; else None)."""
    return current_app.extensions.get("centre_lookup")
