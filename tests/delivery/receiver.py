"""A subscriber's endpoint for the tests: a real HTTP server (cheroot) that checks each
request with the `standardwebhooks` package and reads the events with the `cloudevents`
SDK, as a retailer's platform would, and answers what the test tells it to."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cheroot.wsgi import Server
from cloudevents.v1.http import CloudEvent, from_json
from standardwebhooks import Webhook

# What the receiver answers for a request carrying these events.
Answer = Callable[[list[CloudEvent]], int]


@dataclass(frozen=True)
class Received:
    event_id: str
    source: str
    sequence: int
    type: str
    at: float  # time.monotonic() when it was accepted
    event: CloudEvent


class Receiver:
    """Verifies with ONE secret, as a receiver holds only its own; records each
    accepted event. `answer` decides the status per request (200 by default)."""

    def __init__(self, secret: str, port: int = 0) -> None:
        self.webhook = Webhook(secret)
        self.port = port
        self.answer: Answer = lambda events: 200
        self.accepted: list[Received] = []
        self.requests: list[dict[str, str]] = []  # headers of every request
        self.refused_signatures = 0
        self.content_types: list[str] = []
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        self._server = Server(("127.0.0.1", self.port), self._app, numthreads=4)
        self._server.prepare()
        self.port = self._server.bind_addr[1]
        self._thread = threading.Thread(target=self._server.serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = None

    def ids(self) -> list[str]:
        with self._lock:
            return [r.event_id for r in self.accepted]

    def sequences(self, source: str) -> list[int]:
        with self._lock:
            return [r.sequence for r in self.accepted if r.source == source]

    def _app(self, environ, start_response):  # type: ignore[no-untyped-def]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        content_type = environ.get("CONTENT_TYPE", "")
        with self._lock:
            self.requests.append(headers)
            self.content_types.append(content_type)
        try:
            self.webhook.verify(body, headers)
        except Exception:
            with self._lock:
                self.refused_signatures += 1
            return _respond(start_response, 401)
        if content_type.startswith("application/cloudevents-batch+json"):
            events = [from_json(json.dumps(element)) for element in json.loads(body)]
        else:
            assert content_type.startswith("application/cloudevents+json"), content_type
            events = [from_json(body)]
        status = self.answer(events)
        if 200 <= status < 300:
            now = time.monotonic()
            with self._lock:
                for event in events:
                    self.accepted.append(
                        Received(
                            event["id"], event["source"], int(event["sequence"]),
                            event["type"], now, event,
                        )
                    )  # fmt: skip
        return _respond(start_response, status)


def _respond(start_response, status: int):  # type: ignore[no-untyped-def]
    reason = {200: "OK", 401: "Unauthorized", 410: "Gone", 500: "Internal Server Error"}
    start_response(f"{status} {reason.get(status, 'Status')}", [("content-type", "text/plain")])
    return [f"answered {status}".encode()]
