"""A real server and Debian's headless Chromium for the screen tests.

Playwright drives /usr/bin/chromium through `executable_path` (its own browser download
is not used). The app runs in cheroot, the production WSGI server, on a free loopback
port, over a seeded store with the till's fixed clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cheroot.wsgi import Server as WsgiServer
from flask import Flask

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
    server = WsgiServer(("127.0.0.1", 0), app, numthreads=4)
    server.prepare()
    thread = threading.Thread(target=server.serve, name="ui-test-web", daemon=True)
    thread.start()
    host, port = server.bind_addr[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        thread.join(timeout=10)


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
