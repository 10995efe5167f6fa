"""Conflicts at the till under /api/v1: return conflicts (the open ones, and a
supervisor's resolution with a note) and loyalty conflicts (a coupon or points used at
two stores while offline). The till screens hear of a new conflict over SSE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field

from edge_agent.conflicts import NOTE_MAX_CHARS, open_conflicts, resolve_conflict
from edge_agent.loyalty import loyalty_conflicts
from pos_bridge.auth import current_actor, require
from pos_bridge.params import ConflictPath, read_params
from pos_bridge.requests import read_body
from pos_bridge.responses import LoyaltyConflicts, OpenConflicts
from pos_bridge.till_events import TillEventHub
from pos_bridge.wiring import agent
from sync.protocol.changes import Change
from sync.protocol.return_conflicts import RETURN_CONFLICT, ReturnConflict
from sync.protocol.wallet_changes import LOYALTY_CONFLICT
from sync.protocol.wallet_changes import LoyaltyConflict as LoyaltyConflictChange

conflicts_api = Blueprint("conflicts_api", __name__, url_prefix="/api/v1")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=NOTE_MAX_CHARS)


@conflicts_api.get("/conflicts")
@require("cashier")
def conflicts() -> Any:
    return jsonify(OpenConflicts(open_conflicts(agent().store.db)))


@conflicts_api.get("/loyalty/conflicts")
@require("cashier")
def loyalty_conflicts_list() -> Any:
    return jsonify(LoyaltyConflicts(loyalty_conflicts(agent().store.db)))


@conflicts_api.post("/conflicts/<conflict_id>/resolve")
@require("supervisor")
def resolve(conflict_id: str) -> Any:
    read_params(ConflictPath)
    body = read_body(ResolveRequest)
    return jsonify(resolve_conflict(agent(), conflict_id, body.note, current_actor()))


def conflict_announcer(events: TillEventHub) -> Callable[[Change], None]:
    """A change listener that tells every till screen of a conflict as it arrives."""

    def announce(change: Change) -> None:
        if change.type == RETURN_CONFLICT and isinstance(change.data, ReturnConflict):
            events.publish_all(conflict_event(change.data))
        elif change.type == LOYALTY_CONFLICT and isinstance(change.data, LoyaltyConflictChange):
            events.publish_all(
                {"event": LOYALTY_CONFLICT, "conflict_id": change.data.conflict_id,
                 "kind": change.data.kind, "subject": change.data.subject}
            )  # fmt: skip

    return announce


def conflict_event(conflict: ReturnConflict) -> dict[str, Any]:
    """Enough for the screen to warn and fetch /conflicts: no customer data at all."""
    return {
        "event": "return.conflict",
        "conflict_id": conflict.conflict_id,
        "order_number": conflict.order_number,
        "line_no": conflict.line_no,
        "sku": conflict.sku,
        "ordered_quantity": conflict.ordered_quantity,
        "returned_quantity": conflict.returned_quantity,
    }
