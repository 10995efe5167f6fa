"""The till's jobs under /api/v1: sign-in, returns, click-and-collect, loyalty, lists, and
the Server-Sent Events stream to each till's screen."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from edge_agent.domain import Money
from edge_agent.lists import create_list, customer_lists, get_list, set_item
from edge_agent.loyalty import award_points, redeem_coupon
from edge_agent.pickups import hand_over, verify_pickup
from edge_agent.returns import ReturnRequestLine, confirm_return, quote_return
from edge_agent.staff import sign_in, sign_out
from pos_bridge.auth import current_actor, require
from pos_bridge.errors import ApiError
from pos_bridge.params import (
    ID_PATTERN,
    CustomerPath,
    ListItemPath,
    ListPath,
    TillPath,
    read_params,
)
from pos_bridge.pin_attempts import charge_sign_in, supervisor_approval
from pos_bridge.requests import read_body
from pos_bridge.responses import CustomerLists, SignedIn, SignedOut
from pos_bridge.throttle import client_address
from pos_bridge.till_events import TooManyStreams
from pos_bridge.wiring import agent, centre_lookup, link_up, till_events

till_api = Blueprint("till_api", __name__, url_prefix="/api/v1")
_ID = ID_PATTERN


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignInRequest(_Body):
    staff_id: str = Field(pattern=_ID)
    pin: str = Field(min_length=4, max_length=8)
    till_id: str | None = Field(None, pattern=_ID)


class ReturnLineBody(_Body):
    line_no: int = Field(ge=1, le=1000)
    quantity: int = Field(ge=1, le=1000)
    reason: str | None = Field(None, max_length=200)


class Approval(_Body):
    staff_id: str = Field(pattern=_ID)
    pin: str = Field(min_length=4, max_length=8)


class ReturnRequest(_Body):
    order_number: str = Field(min_length=1, max_length=40)
    lines: list[ReturnLineBody] = Field(min_length=1, max_length=100)
    refund_method: Literal["original_payment", "store_credit"] = "original_payment"
    approval: Approval | None = None


class PickupRequest(_Body):
    order_number: str = Field(min_length=1, max_length=40)
    customer_id: str | None = Field(None, pattern=_ID)


class AwardRequest(_Body):
    customer_id: str = Field(pattern=_ID)
    sale_reference: str = Field(pattern=_ID)
    amount_minor: int = Field(gt=0, le=10_000_000)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class RedeemRequest(_Body):
    code: str = Field(min_length=1, max_length=40)
    customer_id: str | None = Field(None, pattern=_ID)
    sale_reference: str = Field(pattern=_ID)


class NewListRequest(_Body):
    customer_id: str | None = Field(None, pattern=_ID)
    name: str = Field(min_length=1, max_length=80)


class ItemRequest(_Body):
    quantity: int = Field(ge=0, le=99)


@till_api.post("/auth/sign-in")
def staff_sign_in() -> Any:
    # JSON only (read_body): a page from elsewhere cannot send that without CORS, which
    # the agent never grants, so no other site can spend a staff member's PIN attempts.
    body = read_body(SignInRequest)
    client = client_address()
    charge_sign_in(client)
    session = sign_in(agent(), body.staff_id, body.pin, body.till_id, client=client)
    actor = session.actor
    return jsonify(SignedIn(session.token, actor.id, actor.role, actor.till_id, session.expires_at))


@till_api.post("/auth/sign-out")
@require("cashier")
def staff_sign_out() -> Any:
    sign_out(agent(), request.headers["Authorization"].partition(" ")[2].strip())
    return jsonify(SignedOut(current_actor().id))


@till_api.post("/returns/quote")
@require("cashier")
def return_quote() -> Any:
    body = read_body(ReturnRequest)
    quote = quote_return(
        agent(), body.order_number, _lines(body), body.refund_method, online=link_up()
    )
    return jsonify(quote)


@till_api.post("/returns")
@require("cashier")
def return_confirm() -> Any:
    body = read_body(ReturnRequest)
    ctx = agent()
    approver = None
    if body.approval is not None:
        approver = supervisor_approval(body.approval.staff_id, body.approval.pin, current_actor())
    done = confirm_return(
        ctx,
        body.order_number,
        _lines(body),
        body.refund_method,
        actor=current_actor(),
        online=link_up(),
        approver=approver,
    )
    return jsonify(done), 201


@till_api.post("/pickups/verify")
@require("cashier")
def pickup_verify() -> Any:
    body = read_body(PickupRequest)
    return jsonify(verify_pickup(agent(), body.order_number, body.customer_id, centre_lookup()))


@till_api.post("/pickups")
@require("cashier")
def pickup_hand_over() -> Any:
    body = read_body(PickupRequest)
    done = hand_over(
        agent(), body.order_number, body.customer_id, actor=current_actor(), centre=centre_lookup()
    )
    return jsonify(done), 201


@till_api.post("/loyalty/award")
@require("cashier")
def loyalty_award() -> Any:
    body = read_body(AwardRequest)
    spent = Money(body.amount_minor, body.currency)
    return jsonify(
        award_points(agent(), body.customer_id, body.sale_reference, spent, actor=current_actor())
    )


@till_api.post("/coupons/redeem")
@require("cashier")
def coupon_redeem() -> Any:
    body = read_body(RedeemRequest)
    return jsonify(
        redeem_coupon(
            agent(),
            body.code,
            body.customer_id,
            body.sale_reference,
            actor=current_actor(),
            online=link_up(),
        )
    )


@till_api.get("/customers/<customer_id>/lists")
@require("cashier")
def lists_of_customer(customer_id: str) -> Any:
    read_params(CustomerPath)
    return jsonify(CustomerLists(customer_id, customer_lists(agent(), customer_id)))


@till_api.post("/lists")
@require("cashier")
def list_create() -> Any:
    body = read_body(NewListRequest)
    return jsonify(create_list(agent(), body.customer_id, body.name, "till")), 201


@till_api.get("/lists/<list_id>")
@require("cashier")
def list_show(list_id: str) -> Any:
    read_params(ListPath)
    return jsonify(get_list(agent(), list_id))


@till_api.put("/lists/<list_id>/items/<gtin>")
@require("cashier")
def list_set_item(list_id: str, gtin: str) -> Any:
    read_params(ListItemPath)
    body = read_body(ItemRequest)
    return jsonify(set_item(agent(), list_id, gtin, body.quantity))


@till_api.delete("/lists/<list_id>/items/<gtin>")
@require("cashier")
def list_remove_item(list_id: str, gtin: str) -> Any:
    read_params(ListItemPath)
    return jsonify(set_item(agent(), list_id, gtin, 0))


@till_api.get("/tills/<till_id>/events")
@require("cashier")
def till_event_stream(till_id: str) -> Response:
    read_params(TillPath)
    try:
        return till_events().response(till_id)
    except TooManyStreams:
        raise ApiError(503, "too_many_streams", "too many till screens are connected") from None


def _lines(body: ReturnRequest) -> list[ReturnRequestLine]:
    return [ReturnRequestLine(line.line_no, line.quantity, line.reason) for line in body.lines]
