"""Per-client throttles for what an attacker would repeat: PIN guesses and kiosk scans.
In memory (moving one-minute windows on the agent's clock, so a test can move time on
instead of sleeping): a restart forgets them, which is fine for limits measured in
seconds."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import request

# Staff mistype a PIN now and then; twenty tries a minute from one device is no person.
SIGN_IN_ATTEMPTS_PER_MINUTE = 20
# A supervisor types their PIN once for a refund over the cashier's limit, twice after a
# slip of the finger, and a refund takes longer than a minute to serve: more than five
# approvals a minute from one device or one cashier is someone trying PINs.
APPROVAL_ATTEMPTS_PER_MINUTE = 5
# A kiosk customer scans a card, a few products and maybe an order: thirty a minute is
# far above a person and far below an enumeration.
KIOSK_SCANS_PER_MINUTE = 30
WINDOW = timedelta(minutes=1)


class Throttle:
    """At most `per_minute` hits per key in any minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()
        self._swept: datetime | None = None

    def allow(self, *keys: str, now: datetime) -> bool:
        """Count a hit against every key, or against none (False) when any key has had
        `per_minute` hits in the minute before `now`."""
        with self._lock:
            self._sweep(now)
            windows = [self._window(key, now) for key in keys]
            if any(len(hits) >= self.per_minute for hits in windows):
                return False
            for key, hits in zip(keys, windows, strict=True):
                hits.append(now)
                self._hits[key] = hits
            return True

    def retry_after(self, *keys: str, now: datetime) -> int:
        """Whole seconds until every key has room for a hit again (0: it has now)."""
        with self._lock:
            wait = timedelta(0)
            for key in keys:
                hits = self._window(key, now)
                if len(hits) >= self.per_minute:
                    # The window frees a hit when the one `per_minute` back leaves it.
                    wait = max(wait, hits[-self.per_minute] + WINDOW - now)
            return math.ceil(wait.total_seconds())

    def _window(self, key: str, now: datetime) -> deque[datetime]:
        hits = self._hits.get(key, deque())
        while hits and hits[0] <= now - WINDOW:
            hits.popleft()
        return hits

    def _sweep(self, now: datetime) -> None:
        # Forget clients idle for a window, once a window: memory stays bounded by the
        # clients of the last two minutes.
        if self._swept is not None and now - self._swept < WINDOW:
            return
        self._swept = now
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - WINDOW]:
            del self._hits[key]


@dataclass(frozen=True)
class Throttles:
    sign_in: Throttle
    approvals: Throttle
    kiosk_scans: Throttle


def new_throttles() -> Throttles:
    return Throttles(
        sign_in=Throttle(SIGN_IN_ATTEMPTS_PER_MINUTE),
        approvals=Throttle(APPROVAL_ATTEMPTS_PER_MINUTE),
        kiosk_scans=Throttle(KIOSK_SCANS_PER_MINUTE),
    )


def client_address() -> str:
    return request.remote_addr or "unknown"
