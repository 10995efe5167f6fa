"""Per-client throttles for what an attacker would repeat: PIN guesses and kiosk scans.
In memory (moving one-minute windows, `limits`): a restart forgets them, which is fine
for limits measured in seconds."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

# Staff mistype a PIN now and then; twenty tries a minute from one device is no person.
SIGN_IN_ATTEMPTS_PER_MINUTE = 20
# A kiosk customer scans a card, a few products and maybe an order: thirty a minute is
# far above a person and far below an enumeration.
KIOSK_SCANS_PER_MINUTE = 30


class Throttle:
    """At most `per_minute` hits per key in any minute."""

    def __init__(self, per_minute: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._rate = RateLimitItemPerMinute(per_minute)

    def allow(self, key: str) -> bool:
        return self._limiter.hit(self._rate, key)


@dataclass(frozen=True)
class Throttles:
    sign_in: Throttle
    kiosk_scans: Throttle


def new_throttles() -> Throttles:
    return Throttles(
        sign_in=Throttle(SIGN_IN_ATTEMPTS_PER_MINUTE),
        kiosk_scans=Throttle(KIOSK_SCANS_PER_MINUTE),
    )


def client_address() -> str:
    return request.remote_addr or "unknown"
