"""Server-Sent Events to till screens: "customer identified" the moment a pass or card is
scanned at that till. In memory: a till that reconnects asks the API for the current
customer; nothing here needs to survive a restart."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from flask import Response, request, stream_with_context

from edge_agent.domain import CustomerProfile

# A till screen that stops reading must not grow memory without bound.
SUBSCRIBER_QUEUE = 100
# Proxies and browsers drop idle streams; a comment line every so often keeps it open and
# lets the server notice a till that went away.
KEEPALIVE_SECONDS = 15.0
# Each open stream holds a thread of its own (pos_bridge.web_front), never a request thread.
MAX_SUBSCRIBERS = 16
# How often a stream looks whether its client went away (the web front sets the event).
GONE_CHECK_SECONDS = 1.0
# The WSGI environ key of that event.
CLIENT_GONE_KEY = "edge_agent.client_gone"


# Put in each inbox by close(): the stream ends.
_END: dict[str, Any] = {}


class TooManyStreams(Exception):
    pass


class TillEventHub:
    def __init__(self, keepalive_seconds: float = KEEPALIVE_SECONDS) -> None:
        # How soon a stream whose till went away is noticed (and its thread freed).
        self.keepalive_seconds = keepalive_seconds
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[queue.Queue[dict[str, Any]]]] = {}
        self._closed = threading.Event()
        self._owners: dict[str, queue.Queue[dict[str, Any]]] = {}

    def close(self) -> None:
        """End every open stream now (shutdown): a screen left open must not hold the web
        server's stop until its next keep-alive fails, which it never does while open."""
        self._closed.set()
        with self._lock:
            inboxes = {id(i): i for listed in self._subscribers.values() for i in listed}
        for inbox in inboxes.values():
            # A full inbox's stream sees `_closed` after its next event or keep-alive.
            with contextlib.suppress(queue.Full):
                inbox.put_nowait(_END)

    def publish(self, till_id: str, event: dict[str, Any]) -> int:
        """Send to every screen of `till_id`; returns how many received it."""
        with self._lock:
            targets = list(self._subscribers.get(till_id, ()))
        return self._deliver(targets, event)

    def publish_all(self, event: dict[str, Any]) -> int:
        """Send to every open till screen (news for the whole store), once each."""
        with self._lock:
            unique = {id(i): i for inboxes in self._subscribers.values() for i in inboxes}
        return self._deliver(list(unique.values()), event)

    def _deliver(self, targets: list[queue.Queue[dict[str, Any]]], event: dict[str, Any]) -> int:
        delivered = 0
        for target in targets:
            try:
                target.put_nowait(event)
                delivered += 1
            except queue.Full:
                pass  # that screen is not reading; it reloads the customer on reconnect
        return delivered

    def response(
        self,
        till_id: str | Sequence[str],
        keepalive: float | None = None,
        owner: str | None = None,
    ) -> Response:
        """The SSE response for a till screen (TooManyStreams when the server is full)."""
        stream = self.stream(till_id, keepalive, owner, gone=request.environ.get(CLIENT_GONE_KEY))
        first = next(stream)  # registers the subscriber before we answer

        def body() -> Iterator[str]:
            yield first
            yield from stream

        return Response(
            stream_with_context(body()),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def stream(
        self,
        till_id: str | Sequence[str],
        keepalive: float | None = None,
        owner: str | None = None,
        gone: threading.Event | None = None,
    ) -> Iterator[str]:
        """SSE text for one subscriber of one till (or of several: a console hears every
        scanner of its device), until the client goes away (`gone` is set, or a write
        fails). A new stream of the same `owner` (a console session) ends the older one at
        once: a page left behind by a navigation would otherwise hold a web-server thread."""
        keepalive = keepalive or self.keepalive_seconds
        till_ids = list(dict.fromkeys([till_id] if isinstance(till_id, str) else till_id))
        inbox: queue.Queue[dict[str, Any]] = queue.Queue(SUBSCRIBER_QUEUE)
        with self._lock:
            replaced = self._owners.get(owner) if owner is not None else None
            if replaced is None and self._stream_count() >= MAX_SUBSCRIBERS:
                raise TooManyStreams(", ".join(till_ids))
            for till in till_ids:
                self._subscribers.setdefault(till, []).append(inbox)
            if owner is not None:
                self._owners[owner] = inbox
        if replaced is not None:
            with contextlib.suppress(queue.Full):
                replaced.put_nowait(_END)
        try:
            yield ": connected\n\n"
            quiet = 0.0
            while not self._closed.is_set() and (gone is None or not gone.is_set()):
                wait = min(keepalive, GONE_CHECK_SECONDS) if gone is not None else keepalive
                try:
                    event = inbox.get(timeout=wait)
                except queue.Empty:
                    quiet += wait
                    if quiet >= keepalive:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
                    continue
                quiet = 0.0
                if event is _END:
                    return
                name = event.get("event", "message")
                yield f"event: {name}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
        finally:
            with self._lock:
                for till in till_ids:
                    self._subscribers[till].remove(inbox)
                if owner is not None and self._owners.get(owner) is inbox:
                    del self._owners[owner]
                    if not self._subscribers[till]:
                        del self._subscribers[till]

    def has_subscribers(self, till_id: str) -> bool:
        with self._lock:
            return bool(self._subscribers.get(till_id))

    def _stream_count(self) -> int:
        return len({id(inbox) for inboxes in self._subscribers.values() for inbox in inboxes})


def identified_event(profile: CustomerProfile, source: str) -> dict[str, Any]:
    """What a till screen needs when a customer is recognised: no more personal data."""
    return {
        "event": "customer.identified",
        "customer_id": profile.customer_id,
        "first_name": profile.first_name,
        "tier": profile.tier,
        "points": profile.points,
        "ready_for_pickup_here": [o.number for o in profile.ready_for_pickup_here],
        "source": source,
    }
