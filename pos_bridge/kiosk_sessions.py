"""Which kiosk sessions with a customer are live, on the server: the signed cookie alone
cannot be taken back, so a copy of it made before "Finish" would keep the customer's
account open until the idle timeout. "Finish", a new customer and the idle timeout end
the entry here, and a cookie whose entry is gone is a cookie without a customer."""

from __future__ import annotations

import secrets
import threading
import time


class KioskSessions:
    def __init__(self, idle_seconds: float) -> None:
        self._idle = idle_seconds
        self._lock = threading.Lock()
        self._last_seen: dict[str, float] = {}

    def start(self) -> str:
        now = time.monotonic()
        session_id = secrets.token_urlsafe(16)
        with self._lock:
            # Forget what has idled out, so the table holds only live kiosks.
            for stale in [s for s, seen in self._last_seen.items() if now - seen > self._idle]:
                del self._last_seen[stale]
            self._last_seen[session_id] = now
        return session_id

    def touch(self, session_id: str | None) -> bool:
        """True (and seen now) while the session is live; False once ended or idle."""
        if session_id is None:
            return False
        now = time.monotonic()
        with self._lock:
            seen = self._last_seen.get(session_id)
            if seen is None or now - seen > self._idle:
                self._last_seen.pop(session_id, None)
                return False
            self._last_seen[session_id] = now
            return True

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._last_seen.pop(session_id or "", None)
