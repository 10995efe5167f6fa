"""MQTT 5 request/response for the store: send a request, wait for its answer.

Callers ask from any thread (web server threads at the till); answers arrive on paho's
network thread and are matched to the waiting caller by their correlation data. An
answer that comes after its caller gave up finds nobody waiting and is dropped.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from sync.errors import SyncError
from sync.link import Message

log = logging.getLogger(__name__)


class CentreUnreachable(SyncError):
    """The link is down: the request was not sent."""


class CentreLate(SyncError):
    """The request went out but no answer came before the deadline."""


class _Waiting:
    __slots__ = ("answered", "payload")

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.payload: bytes | None = None


class Requester:
    """Requests on `request_topic`, answers expected on `reply_topic`.

    `publish(topic, payload, response_topic, correlation_data)` hands one message to the
    link (raising SyncError when it cannot); `connected()` says whether the link is up.
    """

    def __init__(
        self,
        publish: Callable[[str, bytes, str, bytes], object],
        connected: Callable[[], bool],
        request_topic: str,
        reply_topic: str,
    ) -> None:
        self._publish = publish
        self._connected = connected
        self.request_topic = request_topic
        self.reply_topic = reply_topic
        self._lock = threading.Lock()
        self._waiting: dict[bytes, _Waiting] = {}
        self.late_answers = 0

    def ask(self, payload: bytes, timeout: float) -> bytes:
        """Send one request and return the answer's payload; raises CentreUnreachable
        or CentreLate. Never waits longer than `timeout` seconds."""
        if not self._connected():
            raise CentreUnreachable("the centre cannot be reached (the store is offline)")
        if timeout <= 0:
            raise CentreLate("no time was left to ask the centre")
        correlation = uuid.uuid4().bytes
        waiting = _Waiting()
        with self._lock:
            self._waiting[correlation] = waiting
        try:
            try:
                self._publish(self.request_topic, payload, self.reply_topic, correlation)
            except SyncError as exc:
                raise CentreUnreachable(f"the centre cannot be reached ({exc.message})") from None
            if not waiting.answered.wait(max(0.0, timeout)):
                raise CentreLate(f"the centre did not answer within {timeout * 1000:.0f} ms")
            assert waiting.payload is not None
            return waiting.payload
        finally:
            with self._lock:
                self._waiting.pop(correlation, None)

    def on_reply(self, message: Message) -> None:
        """Called on paho's thread for each message on the reply topic."""
        correlation = message.correlation_data
        with self._lock:
            waiting = self._waiting.get(correlation) if correlation else None
        if waiting is None:
            # Its caller has given up (or it is not ours): nothing to do.
            self.late_answers += 1
            log.debug("an answer nobody waits for on %s", message.topic)
            return
        waiting.payload = message.payload
        waiting.answered.set()

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)
