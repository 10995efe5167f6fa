"""Jittered exponential backoff for the store's retries (resends, replay requests).

After an outage every store of the fleet retries at about the same moment; a fixed
delay would keep them in step for ever. Each delay here is the current step stretched
by a random factor, so stores that started together drift apart, and the step doubles
while nothing answers, so a centre that is down is not flooded. A dozen lines, so not
worth a dependency (the retry libraries wrap a function call; these retries are states
of a loop that must not block).
"""

from __future__ import annotations

import random


class Backoff:
    """Delays from `first`, doubling per `grow()` up to `cap`, each drawn from
    [step, step * (1 + jitter)]."""

    def __init__(
        self, first: float, cap: float, jitter: float = 0.5, rng: random.Random | None = None
    ) -> None:
        self._first = first
        self._cap = max(cap, first)
        self._jitter = jitter
        self._rng = rng or random.Random()
        self.step = first

    def delay(self) -> float:
        """The next wait: the current step, stretched at random."""
        return self.step * (1 + self._rng.uniform(0, self._jitter))

    def grow(self) -> None:
        """Nothing answered: the next wait is twice as long (up to the cap)."""
        self.step = min(self.step * 2, self._cap)

    def reset(self) -> None:
        """Something answered: back to the first step."""
        self.step = self._first

    def at_least(self, step: float) -> None:
        """Wait at least `step` (up to the cap) until the next `reset()`."""
        self.step = min(max(self.step, step), self._cap)
