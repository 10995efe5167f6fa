"""The web front: hypercorn (asyncio) reads every request in its event loop, and only a
request that has fully arrived, within its limits and deadlines, reaches a thread that
runs the Flask app. A slow or hostile client therefore costs a socket, never a thread.

- line and headers: at most `max_header_bytes` (h11's buffer limit) within
  `header_timeout_seconds` of the connection opening or of the last answer (hypercorn's
  keep-alive timer runs until the headers are complete);
- body: at most `max_body_bytes`, chunked or not, within `body_timeout_seconds`: a
  Content-Length over it is answered 413 before a byte is read, a chunked body as soon
  as it passes it, and nothing beyond the limit is ever held;
- requests run on `threads` threads; one client address may have at most
  `requests_per_client` of them at once (429 beyond);
- till screens' event streams (SSE) run on threads of their own, as many as the hub
  admits plus one to say no, so screens never take a request thread; a stream ends
  within a second of its client going away;
- HTTPS with the store's certificate when `tls_cert_file`/`tls_key_file` are set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from hypercorn.app_wrappers import WSGIWrapper
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from edge_agent.config import WebSettings
from pos_bridge.till_events import CLIENT_GONE_KEY, MAX_SUBSCRIBERS

log = logging.getLogger(__name__)
# Event streams: till screens (API) and the staff console's live banner.
STREAM_PATH = re.compile(r"^(/api/v1/tills/[^/]+/events|/console/events)$")
# One more stream thread than the hub admits, so the stream past the cap is told 503.
STREAM_THREADS = MAX_SUBSCRIBERS + 1
# How long a stop waits for requests in flight before closing their connections.
GRACEFUL_STOP_SECONDS = 5.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class WebFront:
    """Serves a WSGI app on host:port (port 0: any free port) until `stop()`."""

    def __init__(self, app: WsgiApp, settings: WebSettings) -> None:
        self._settings = settings
        self._router = _Router(app, settings)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self.bind_addr: tuple[str, int] = (settings.host, settings.port)

    @property
    def url(self) -> str:
        scheme = "https" if self._settings.tls else "http"
        host, port = self.bind_addr
        return f"{scheme}://{host}:{port}"

    def bind(self) -> None:
        """Listen now, so a taken port fails the start (OSError) and port 0 is known."""
        family = socket.AF_INET6 if ":" in self._settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._settings.host, self._settings.port))
            sock.listen(256)
        except OSError:
            sock.close()
            raise
        self.bind_addr = sock.getsockname()[:2]
        self._sock = sock

    def start(self) -> None:
        if self._sock is None:
            self.bind()
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        self._thread.start()
        self._started.wait(timeout=10)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=GRACEFUL_STOP_SECONDS + 5)
        self._router.shutdown()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(_quiet_cancellations)
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._stopping = asyncio.Event()
        assert self._sock is not None
        config = _hypercorn_config(self._settings, self._sock)
        self._sock.detach()  # hypercorn owns the descriptor from here on
        self._started.set()
        try:
            loop.run_until_complete(
                serve(self._router, config, shutdown_trigger=self._stopping.wait, mode="asgi")
            )
        except Exception:
            log.exception("the web server stopped on an error")
        finally:
            loop.close()


def _quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Connections cut by a stop end their tasks with CancelledError: expected, not news.
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def _hypercorn_config(settings: WebSettings, sock: socket.socket) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"fd://{sock.fileno()}"]
    if settings.tls:
        config.certfile = str(settings.tls_cert_file)
        config.keyfile = str(settings.tls_key_file)
        config.alpn_protocols = ["http/1.1"]
        config.ssl_handshake_timeout = settings.header_timeout_seconds
    # hypercorn's keep-alive timer runs from the connection's start (or the last answer)
    # until a request's headers are complete: it is the header deadline.
    config.keep_alive_timeout = settings.header_timeout_seconds
    config.h11_max_incomplete_size = settings.max_header_bytes
    config.h2_max_header_list_size = settings.max_header_bytes
    config.h2_max_concurrent_streams = settings.requests_per_client
    config.wsgi_max_body_size = settings.max_body_bytes
    config.graceful_timeout = GRACEFUL_STOP_SECONDS
    config.errorlog = logging.getLogger("pos_bridge.web_front.server")
    config.accesslog = None
    config.include_server_header = False  # nothing to tell a scanner which server this is
    return config


class _Router:
    """The ASGI app hypercorn calls: limits, then the WSGI app on the right thread pool."""

    def __init__(self, app: WsgiApp, settings: WebSettings) -> None:
        self._app = app
        self._settings = settings
        self._requests = ThreadPoolExecutor(settings.threads, thread_name_prefix="web")
        self._streams = ThreadPoolExecutor(STREAM_THREADS, thread_name_prefix="web-stream")
        self._running: dict[str, int] = {}  # client address -> requests on a thread now

    def shutdown(self) -> None:
        self._requests.shutdown(wait=False, cancel_futures=True)
        self._streams.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: hypercorn closes the connection
        settings = self._settings
        # h11 enforces its buffer limit only across reads; one read can bring more.
        if _head_size(scope) > settings.max_header_bytes:
            await _refuse(send, 431, "headers_too_large",
                          f"the request line and headers are over {settings.max_header_bytes}"
                          " bytes")  # fmt: skip
            return
        declared = _content_length(scope)
        try:
            if declared is not None and declared > settings.max_body_bytes:
                raise _BodyTooLarge  # before a byte of it is read
            body = await asyncio.wait_for(
                _read_body(receive, settings.max_body_bytes), settings.body_timeout_seconds
            )
        except _BodyTooLarge:
            await _refuse(send, 413, "body_too_large",
                          f"the body is over {settings.max_body_bytes} bytes")  # fmt: skip
            # hypercorn closes the connection only once what the client has already sent
            # is consumed; read and drop it for a bounded time (memory stays bounded).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_drain(receive), settings.body_timeout_seconds)
            return
        except TimeoutError:
            await _refuse(send, 408, "request_timeout", "the body did not arrive in time")
            return
        if body is None:
            return  # the client left before its body was complete
        stream = STREAM_PATH.match(scope.get("path", "")) is not None
        client = (scope.get("client") or ("unknown",))[0]
        if not stream:
            if self._running.get(client, 0) >= settings.requests_per_client:
                await _refuse(send, 429, "too_many_requests",
                              "this device has too many requests running; retry")  # fmt: skip
                return
            self._running[client] = self._running.get(client, 0) + 1
        try:
            await self._run_app(scope, receive, send, body, stream)
        finally:
            if not stream:
                left = self._running[client] - 1
                if left:
                    self._running[client] = left
                else:
                    del self._running[client]

    async def _run_app(
        self, scope: dict[str, Any], receive: Any, send: Any, body: bytes, stream: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        gone = threading.Event()
        app = self._app

        def with_gone(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            environ[CLIENT_GONE_KEY] = gone
            return _never_empty(app(environ, start_response))

        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        def call_soon(func: Callable[..., Awaitable[Any]], *args: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(func(*args), loop).result()

        watcher = asyncio.ensure_future(_watch_disconnect(receive, gone))
        pool = self._streams if stream else self._requests
        try:
            await WSGIWrapper(with_gone, self._settings.max_body_bytes).handle_http(
                scope, replay, send, partial(loop.run_in_executor, pool), call_soon
            )
        finally:
            gone.set()
            watcher.cancel()


def _never_empty(body: Iterable[bytes]) -> Iterator[bytes]:
    """hypercorn's WSGI bridge sends the status line with the first body chunk, so a body
    with none (a HEAD, a 304, an empty 200) would never start; give it one empty chunk."""
    try:
        empty = True
        for chunk in body:
            empty = False
            yield chunk
        if empty:
            yield b""
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


class _BodyTooLarge(Exception):
    pass


async def _read_body(receive: Any, limit: int) -> bytes | None:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body.extend(message.get("body", b""))
        if len(body) > limit:
            raise _BodyTooLarge
        if not message.get("more_body"):
            return bytes(body)


async def _drain(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body"):
            return


async def _watch_disconnect(receive: Any, gone: threading.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _head_size(scope: dict[str, Any]) -> int:
    return (
        len(scope.get("raw_path", b""))
        + len(scope.get("query_string", b""))
        + sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))
    )


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Any, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    # A 429 says when to retry (RFC 9110), as the app's own 429s do.
                    *([(b"retry-after", b"1")] if status == 429 else [])],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body, "more_body": False})
