"""An event's time as the centre keys it (partition and per-store order): UTC to the
microsecond, whatever form the store wrote it in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sync.protocol.clock import to_iso, utc_time


def test_the_agents_own_form_and_any_offset_give_the_same_utc_key():
    at = datetime(2026, 11, 24, 8, 0, 1, 250, tzinfo=UTC)
    agent_form = to_iso(at)
    assert agent_form == "2026-11-24T08:00:01.000250Z"
    madrid = at.astimezone(timezone(timedelta(hours=1))).isoformat()
    keys = [utc_time(agent_form), utc_time(madrid)]
    assert keys == [at, at]
    # In UTC, as SQLite keeps it in text (and so its text sorts as time does).
    assert {key.isoformat(timespec="microseconds") for key in keys if key is not None} == {
        "2026-11-24T08:00:01.000250+00:00"
    }
    whole_second = utc_time("2026-11-24T08:00:01Z")
    assert whole_second is not None
    assert whole_second.isoformat(timespec="microseconds") == "2026-11-24T08:00:01.000000+00:00"


def test_impossible_or_zoneless_times_are_refused():
    assert utc_time("2026-13-24T08:00:01.000000Z") is None  # month 13, in the agent's shape
    assert utc_time("2026-02-30T08:00:01.000000Z") is None
    assert utc_time("2026-11-24T08:00:01.000000") is None  # no offset
    assert utc_time("yesterday") is None
