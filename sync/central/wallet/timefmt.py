"""Times as the centre writes them: fixed-width ISO 8601 UTC text, so text order is time
order in both databases."""

from __future__ import annotations

from datetime import UTC, datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the centre writes only aware UTC times")
    return moment.astimezone(UTC).strftime(ISO_FORMAT)


def from_text(text: str) -> datetime:
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)
