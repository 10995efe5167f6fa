"""How far this device's clock is from the centre's, measured on the centre's acks.

Pass codes carry issue times and rotating codes a 30-second window, and return windows
are counted in days from a delivery time the centre set: a device clock that has drifted
refuses good passes or allows late returns. The sync client measures the difference when
the centre acks (the ack carries the centre's commit time) and keeps the latest figure in
`agent_meta`, where `edge-agent doctor` reads it without the agent's help.

Only an ack that answers a send still outstanding is a reading: an ack the broker kept
while the device was away, or replays after its own restart, carries a commit time from
back then and would read as the device being ahead by however long that was (45.8 s was
seen after a broker kill -9). The sync client decides which acks qualify
(`OutboxPublisher.answers_current_send`) before calling `measure`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from sync.protocol.clock import from_iso, to_iso

META_KEY = "sync.clock_skew"
# Doctor warns above this (rotating pass codes already lose part of their window) and
# fails above the fail figure (a whole 30-second code period: valid passes get refused).
WARN_SECONDS = 5.0
FAIL_SECONDS = 30.0


@dataclass(frozen=True)
class ClockSkew:
    """`seconds` > 0: this device is ahead of the centre. Includes one-way network delay,
    so it is an upper bound good to a fraction of a second, which is all the checks need."""

    seconds: float
    measured_at: datetime

    def to_json(self) -> str:
        return json.dumps({"seconds": round(self.seconds, 3), "at": to_iso(self.measured_at)})


def measure(centre_time: datetime, received_at: datetime) -> ClockSkew:
    return ClockSkew((received_at - centre_time).total_seconds(), received_at)


def save(db: Database, skew: ClockSkew) -> None:
    """Keep the latest measurement; call inside a write transaction."""
    db.execute(
        "INSERT INTO agent_meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [META_KEY, skew.to_json()],
    )


def load(db: Database) -> ClockSkew | None:
    row = db.execute("SELECT value FROM agent_meta WHERE key = ?", [META_KEY]).fetchone()
    if row is None:
        return None
    try:
        body = json.loads(row[0])
        return ClockSkew(float(body["seconds"]), from_iso(body["at"]))
    except (ValueError, KeyError, TypeError):
        return None
