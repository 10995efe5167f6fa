"""JSON for domain values: dataclasses as objects, datetimes as UTC ISO-8601."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from flask.json.provider import DefaultJSONProvider

from sync.protocol.clock import to_iso


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_iso(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


class DomainJSONProvider(DefaultJSONProvider):
    ensure_ascii = False  # names with accents stay readable on the wire
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return super().dumps(to_jsonable(obj), **kwargs)
