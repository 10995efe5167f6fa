"""Serve a WSGI app on 127.0.0.1 with the production web front for a test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from edge_agent.config import WebSettings
from pos_bridge.web_front import WebFront


@contextmanager
def serving(app, threads: int = 4, **settings) -> Iterator[str]:
    front = WebFront(app, WebSettings(host="127.0.0.1", port=0, threads=threads, **settings))
    front.start()
    try:
        yield front.url
    finally:
        front.stop()
