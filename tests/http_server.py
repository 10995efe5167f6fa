"""Serve a WSGI app on 127.0.0.1 with the production server (cheroot) for a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cheroot.wsgi import Server


@contextmanager
def serving(app, threads: int = 4) -> Iterator[str]:
    server = Server(("127.0.0.1", 0), app, numthreads=threads)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    host, port = server.bind_addr[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        thread.join(timeout=10)
