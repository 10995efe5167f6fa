"""What a PIN attempt costs a client, for the till API and the console alike.

Every PIN a device tries, at sign-in or for a supervisor's approval, comes out of that
device's sign-in budget. An approval also comes out of a smaller budget kept both per
device and per signed-in cashier (or device key): check_pin's lock-out holds each
supervisor id to a few wrong PINs, and this holds a cashier trying one id after another
to a few a minute as a whole, wherever they go and however often they sign in again.
"""

from __future__ import annotations

import logging

from edge_agent.i18n import Phrase
from edge_agent.staff import Actor, check_pin
from pos_bridge.errors import TooManyAttempts
from pos_bridge.throttle import client_address
from pos_bridge.wiring import agent, throttles

log = logging.getLogger(__name__)


def charge_sign_in(client: str) -> None:
    """Count one PIN attempt from this client, or TooManyAttempts (nothing is checked)."""
    now = agent().clock()
    budget = throttles().sign_in
    if not budget.allow(client, now=now):
        raise TooManyAttempts(
            "too many PIN attempts from this device; wait a minute",
            budget.retry_after(client, now=now),
        )


def supervisor_approval(supervisor_id: str, pin: str, requester: Actor) -> Actor:
    """The supervisor approving `requester`'s action, once the attempt is within both
    budgets; Unauthorized / StaffLocked from check_pin, TooManyAttempts before it."""
    ctx = agent()
    now = ctx.clock()
    client = client_address()
    keys = (f"client:{client}", f"{requester.kind}:{requester.id}")
    budget = throttles().approvals
    if not budget.allow(*keys, now=now):
        log.warning(
            "supervisor approval refused unchecked: too many attempts by %s at till %s from %s",
            requester.id, requester.till_id or "-", client,
        )  # fmt: skip
        raise TooManyAttempts(
            Phrase("too many supervisor approval attempts; wait a minute and try again"),
            budget.retry_after(*keys, now=now),
        )
    charge_sign_in(client)
    return check_pin(ctx, supervisor_id, pin, None, client=client, requested_by=requester)
