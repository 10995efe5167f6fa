"""A real server and Debian's headless Chromium for the screen tests.

Playwright drives /usr/bin/chromium through `executable_path` (its own browser download
is not used). The app runs in the production web front (pos_bridge.web_front) on a free loopback
port, over a seeded store with the till's fixed clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

from tests.http_server import serving

CHROMIUM = "/usr/bin/chromium"
# Root on a closed network: no sandbox (needs user namespaces), no GPU, nothing that
# reaches out (updates, sync, background networking).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 on a free port; yield its base URL."""
    with serving(app) as url:
        yield url


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
