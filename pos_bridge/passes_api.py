"""Till and kiosk: identify a customer from a scanned wallet pass (POST /api/v1/passes/identify).

The pass verifier (public keys) and the rotating-code secret are loaded once at start-up,
so a bad `[wallet]` setting stops the agent instead of failing at the first scan.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field

from edge_agent.passes import identify_by_pass
from hardware.scan import MAX_SCAN_CHARS
from pos_bridge import wiring
from pos_bridge.auth import require
from pos_bridge.requests import read_body

passes_api = Blueprint("passes_api", __name__, url_prefix="/api/v1/passes")


class PassIdentifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=MAX_SCAN_CHARS, description="the scanned pass code")
    source: str = Field("api", min_length=1, max_length=64)
    till_id: str | None = Field(None, min_length=1, max_length=64)


@passes_api.post("/identify")
@require("cashier")
def identify() -> Any:
    body = read_body(PassIdentifyRequest)
    profile = identify_by_pass(
        wiring.agent(),
        wiring.pass_verifier(),
        body.code,
        channel="scan",
        source=body.source,
        till_id=body.till_id,
        rotating_secret=wiring.rotating_secret(),
        centre=wiring.centre_lookup(),
    )
    return jsonify(profile)
