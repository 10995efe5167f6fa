"""The centre's retained revocation list: every pass serial revoked, for every store.
The store writes it with `edge_agent.revocations`."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.protocol.errors import ChangeRejected

# A list of serials (each under 64 characters): 4 MiB holds tens of thousands.
MAX_BROADCAST_BYTES = 4 * 1024 * 1024


class RevocationList(BaseModel):
    """The centre's retained broadcast: every pass serial revoked, for every store."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    revoked: tuple[str, ...] = Field(max_length=500_000)


def parse_revocation_list(payload: bytes) -> RevocationList:
    if len(payload) > MAX_BROADCAST_BYTES:
        raise ChangeRejected(f"oversized revocation list: {len(payload)} bytes")
    try:
        return RevocationList.model_validate(json.loads(payload))
    except (ValueError, ValidationError) as exc:
        raise ChangeRejected(f"not a revocation list: {exc}") from None
