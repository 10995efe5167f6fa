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
# Each open stream holds one web-server thread; leave threads for the API itself.
MAX_SUBSCRIBERS = 16


class TooManyStreams(Exception):
    pass


class TillEventHub:
    def __init__(self, keepalive_seconds: float = KEEPALIVE_SECONDS) -> None:
        # How soon a stream whose till went away is noticed (and its thread freed).
        self.keepalive_seconds = keepalive_seconds
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

    def stream(self, till_id: str, keepalive: float | None = None) -> Iterator[str]:
        """SSE text for one subscriber, until the client goes away."""
        keepalive = keepalive or self.keepalive_seconds
        inbox: queue.Queue[dict[str, Any]] = queue.Queue(SUBSCRIBER_QUEUE)
        with self._lock:
            if sum(len(v) for v in self._subscribers.values()) >= MAX_SUBSCRIBERS:
                raise TooManyStreams(till_id)
            self._subscribers.setdefault(till_id, []).append(inbox)
        try:
            yield ": connected\n\n"
            while True:
                try:
                    event = inbox.get(timeout=keepalive)
                except queue.Empty:
                    yield ": keep-alive\n\n"
                    continue
                name = event.get("event", "message")
                yield f"event: {name}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
        finally:
            with self._lock:
                self._subscribers[till_id].remove(inbox)


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
