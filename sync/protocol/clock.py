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


def utc_time(text: str) -> datetime | None:
    """An RFC 3339 time with an offset, in whatever form a sender wrote it, as an aware
    UTC datetime; None if it is unreadable or has no offset. Raises OverflowError for a
    time that lies outside years 1-9999 once in UTC (9999-12-31T23:00:00-05:00)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    if moment.tzinfo is UTC:
        return moment  # the agent's own form (ISO_FORMAT) ends in Z: UTC already
    return moment.astimezone(UTC)


def iso_now() -> str:
    return to_iso(utc_now())
