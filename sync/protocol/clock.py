"""UTC time as the store keeps it: aware datetimes in code, fixed-width ISO text on disk."""

from __future__ import annotations

from datetime import UTC, datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """Fixed-width text, so string order in SQLite is time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the agent stores only aware UTC times")
    return moment.astimezone(UTC).strftime(ISO_FORMAT)


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=UTC)


def iso_now() -> str:
    return to_iso(utc_now())
