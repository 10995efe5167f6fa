"""Server-Sent Events to till screens: "customer identified" the moment a pass or card is
scanned at that till. In memory: a till that reconnects asks the API for the current
customer; nothing here needs to survive a restart."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

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


class TooManyStreams(Exception):
    pass


class TillEventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[queue.Queue[dict[str, Any]]]] = {}

    def publish(self, till_id: str, event: dict[str, Any]) -> int:
        """Send to every screen of `till_id`; returns how many received it."""
        with self._lock:
            targets = list(self._subscribers.get(till_id, ()))
        delivered = 0
        for target in targets:
            try:
                target.put_nowait(event)
                delivered += 1
            except queue.Full:
                pass  # that screen is not reading; it reloads the customer on reconnect
        return delivered

    def publish_all(self, event: dict[str, Any]) -> int:
        """Send to every open till screen (news for the whole store)."""
        with self._lock:
            tills = list(self._subscribers)
        return sum(self.publish(till_id, event) for till_id in tills)

    def stream(
        self,
        till_id: str,
        keepalive: float = KEEPALIVE_SECONDS,
        gone: threading.Event | None = None,
    ) -> Iterator[str]:
        """SSE text for one subscriber, until the client goes away (`gone` is set, or a
        write fails)."""
        inbox: queue.Queue[dict[str, Any]] = queue.Queue(SUBSCRIBER_QUEUE)
        with self._lock:
            if sum(len(v) for v in self._subscribers.values()) >= MAX_SUBSCRIBERS:
                raise TooManyStreams(till_id)
            self._subscribers.setdefault(till_id, []).append(inbox)
        try:
            yield ": connected\n\n"
            quiet = 0.0
            while gone is None or not gone.is_set():
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
                name = event.get("event", "message")
                yield f"event: {name}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
        finally:
            with self._lock:
                self._subscribers[till_id].remove(inbox)
                if not self._subscribers[till_id]:
                    del self._subscribers[till_id]


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
