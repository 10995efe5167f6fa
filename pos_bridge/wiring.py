"""What the app factory hangs on the Flask app, fetched by name in one place."""

from __future__ import annotations

from flask import current_app

from edge_agent.centre import CentreLookup
from edge_agent.context import AgentContext
from edge_agent.scans import ScanDispatcher
from pos_bridge.till_events import TillEventHub


def agent() -> AgentContext:
    return current_app.extensions["edge_agent"]


def dispatcher() -> ScanDispatcher:
    return current_app.extensions["scan_dispatcher"]


def till_events() -> TillEventHub:
    return current_app.extensions["till_events"]


def link_up() -> bool:
    """Whether the link to the centre is up (the sync client provides it; else offline)."""
    return bool(current_app.extensions.get("link_up", lambda: False)())


def centre_lookup() -> CentreLookup | None:
    """Asks the centre for what the cache lacks (the sync client provides it; else None)."""
    return current_app.extensions.get("centre_lookup")
