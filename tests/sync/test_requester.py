"""The store's request/response matcher: each caller gets its own answer, on any thread."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from sync.errors import SyncError
from sync.link import Message
from sync.requester import CentreLate, CentreUnreachable, Requester


class EchoCentre:
    """Answers each request from another thread, as paho's network thread would."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.requester: Requester | None = None
        self.sent: list[bytes] = []

    def publish(self, topic: str, payload: bytes, reply_to: str, correlation: bytes) -> int:
        self.sent.append(correlation)
        if self.answer and self.requester is not None:
            reply = Message(reply_to, b"answer to " + payload, False, None, correlation)
            threading.Timer(0.01, self.requester.on_reply, [reply]).start()
        return 1


def make(centre: EchoCentre, connected: bool = True) -> Requester:
    requester = Requester(centre.publish, lambda: connected, "s/lookups", "s/lookups/replies/t1")
    centre.requester = requester
    return requester


def test_concurrent_callers_each_get_their_own_answer():
    requester = make(EchoCentre())
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: requester.ask(b"q%d" % n, 5), range(64)))
    assert answers == [b"answer to q%d" % n for n in range(64)]
    assert requester.waiting == 0


def test_no_answer_is_given_up_on_and_a_late_one_is_dropped():
    centre = EchoCentre(answer=False)
    requester = make(centre)
    with pytest.raises(CentreLate):
        requester.ask(b"q", 0.05)
    requester.on_reply(Message("s/lookups/replies/t1", b"late", False, None, centre.sent[0]))
    requester.on_reply(Message("s/lookups/replies/t1", b"stray", False, None, None))
    assert (requester.waiting, requester.late_answers) == (0, 2)


def test_link_down_or_refused_publish_is_unreachable_and_sends_nothing():
    centre = EchoCentre()
    with pytest.raises(CentreUnreachable):
        make(centre, connected=False).ask(b"q", 5)
    assert centre.sent == []

    def refuse(*_args: object) -> int:
        raise SyncError("publish failed: no connection")

    requester = Requester(refuse, lambda: True, "s/lookups", "s/lookups/replies/t1")
    with pytest.raises(CentreUnreachable):
        requester.ask(b"q", 5)
    assert requester.waiting == 0
