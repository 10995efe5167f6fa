"""The staff console at /console, for stores whose POS is not integrated: the same use
cases as the till API, as server-rendered pages. Staff sign in with their PIN into a
server-side console session (`staff_sessions`, kind "console"): the cookie holds only its
random id, which is no bearer for the API; it ends on sign-out, a PIN reset,
deactivation, the end of the shift or `kiosk.console_idle_timeout_minutes` without a
request. Every form carries a CSRF token (pos_bridge.csrf). Audit happens in the use
cases.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from edge_agent.conflicts import open_conflicts
from edge_agent.context import AgentContext
from edge_agent.customers import customer_profile, identify_customer, parse_query
from edge_agent.errors import EdgeAgentError, InvalidInput
from edge_agent.i18n import Phrase
from edge_agent.list_handoff import lists_sent_to_staff
from edge_agent.lists import create_list, customer_lists, get_list, set_item
from edge_agent.loyalty import redeem_coupon
from edge_agent.order_requests import WantedLine, request_order
from edge_agent.orders import find_order
from edge_agent.pickups import hand_over, verify_pickup
from edge_agent.return_requests import load_return_request, quote_return_request
from edge_agent.returns import (
    ApprovalRequired,
    ReturnRequestLine,
    confirm_return,
    quote_return,
)
from edge_agent.staff import Actor, Unauthorized, console_actor, sign_in, sign_out
from edge_agent.stock import product_stock
from pos_bridge.csrf import protect
from pos_bridge.errors import ApiError, add_retry_after
from pos_bridge.i18n import LANG_SESSION_KEY
from pos_bridge.pin_attempts import charge_sign_in, supervisor_approval
from pos_bridge.screen_headers import add_screen_headers
from pos_bridge.throttle import client_address
from pos_bridge.till_events import TooManyStreams
from pos_bridge.wiring import agent, centre_lookup, link_up, till_events

log = logging.getLogger(__name__)
console = Blueprint("console", __name__, url_prefix="/console")
protect(console)  # before the sign-in check: a forged sign-in is refused too
console.after_request(add_screen_headers)
TOKEN_KEY = "staff_token"
SOURCE = "console"
# The start screen follows its till's events; a page left behind is noticed at the next
# keep-alive (a newer page of the same session ends it at once).
CONSOLE_KEEPALIVE_SECONDS = 5.0
_OPEN = {"console.sign_in_form", "console.sign_in_submit", "console.choose_language"}
_QTY_FIELD = re.compile(r"^qty_(\d{1,4})$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_GTIN = re.compile(r"^(\d{8}|\d{12,14})$")
_REFUND_METHODS = ("original_payment", "store_credit")


def _ctx() -> AgentContext:
    return agent()


def _actor() -> Actor:
    return g.console_actor


def _online() -> bool:
    return link_up()


@console.before_request
def _require_sign_in() -> Any:
    if request.endpoint in _OPEN:
        return None
    idle = timedelta(minutes=_ctx().config.kiosk.console_idle_timeout_minutes)
    try:
        g.console_actor = console_actor(_ctx(), session.get(TOKEN_KEY, ""), idle)
    except Unauthorized:
        session.pop(TOKEN_KEY, None)
        return redirect(url_for("console.sign_in_form"))
    return None


@console.context_processor
def _who() -> dict[str, Any]:
    ctx = _ctx()
    return {
        "actor": g.get("console_actor"),
        "store_name": ctx.config.store.name,
        "languages": ctx.config.kiosk.languages,
    }


@console.errorhandler(EdgeAgentError)
def _console_error(exc: EdgeAgentError) -> Response:
    page = render_template("console/error.html", error=exc)
    return add_retry_after(make_response(page, exc.http_status), exc)


@console.errorhandler(HTTPException)
def _console_http_error(exc: HTTPException) -> tuple[str, int]:
    error = ApiError(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"),
                     exc.description or exc.name or "error")  # fmt: skip
    return render_template("console/error.html", error=error), error.http_status


@console.errorhandler(Exception)
def _console_unexpected(exc: Exception) -> tuple[str, int]:
    log.exception("console request failed")
    error = ApiError(
        500, "internal_error", "the agent hit an unexpected error; nothing was changed"
    )
    return render_template("console/error.html", error=error), 500


@console.get("/sign-in")
def sign_in_form() -> str:
    return render_template("console/sign_in.html", notice=None)


@console.post("/sign-in")
def sign_in_submit() -> Any:
    staff_id = request.form.get("staff_id", "").strip()
    pin = request.form.get("pin", "")
    if not _ID.match(staff_id) or not pin.isdigit() or not 4 <= len(pin) <= 8:
        return render_template("console/sign_in.html", notice="invalid"), 422
    client = client_address()
    try:
        charge_sign_in(client)
        new = sign_in(_ctx(), staff_id, pin, _ctx().config.device.id, "console", client)
    except EdgeAgentError as exc:
        page = render_template("console/sign_in.html", notice=exc.code)
        return add_retry_after(make_response(page, exc.http_status), exc)
    # A fresh session (new CSRF token too): nothing from before the sign-in carries over.
    lang = session.get(LANG_SESSION_KEY)
    session.clear()
    if lang:
        session[LANG_SESSION_KEY] = lang
    session[TOKEN_KEY] = new.token
    return redirect(url_for("console.home"))


@console.get("/lang/<lang>")
def choose_language(lang: str) -> Any:
    if lang in _ctx().config.kiosk.languages:
        session[LANG_SESSION_KEY] = lang
    return redirect(url_for("console.home"))


@console.post("/sign-out")
def sign_out_submit() -> Any:
    sign_out(_ctx(), session.pop(TOKEN_KEY, ""))
    return redirect(url_for("console.sign_in_form"))


@console.get("/")
def home() -> str:
    ctx = _ctx()
    return render_template(
        "console/home.html",
        follow_till=True,
        sent_lists=lists_sent_to_staff(ctx),
        conflicts=open_conflicts(ctx.store.db),
    )


@console.get("/events")
def events() -> Response:
    """This till's live events for the console page (SSE, the session's sign-in): a pass
    or card scanned by any scanner of this device, or typed for its till, opens that
    customer's profile (static/console.js)."""
    ctx = _ctx()
    tills = [ctx.config.device.id, *(scanner.id for scanner in ctx.config.scanners)]
    if _actor().till_id:
        tills.append(_actor().till_id)
    # One stream per console session: the page that opened a newer one has gone.
    owner = hashlib.sha256(session.get(TOKEN_KEY, "").encode()).hexdigest()
    try:
        return till_events().response(tills, CONSOLE_KEEPALIVE_SECONDS, owner)
    except TooManyStreams:
        raise ApiError(503, "too_many_streams", "too many till screens are connected") from None


@console.post("/identify")
def identify() -> Any:
    ctx = _ctx()
    query = parse_query(ctx, request.form.get("query", ""))
    profile = identify_customer(
        ctx, query, channel="typed", source=SOURCE, till_id=_actor().till_id
    )
    return redirect(url_for("console.customer", customer_id=profile.customer_id))


@console.get("/customers/<customer_id>")
def customer(customer_id: str) -> str:
    ctx = _ctx()
    return render_template(
        "console/customer.html",
        profile=customer_profile(ctx, customer_id),
        lists=customer_lists(ctx, customer_id),
    )


@console.get("/orders")
def order() -> str:
    found = find_order(_ctx(), _arg("number"), centre_lookup())
    return render_template("console/order.html", order=found)


@console.post("/returns/quote")
def return_quote() -> str:
    number, lines, method = _return_form()
    quote = quote_return(_ctx(), number, lines, method, online=_online())
    return render_template("console/return_quote.html", quote=quote, notice=None)


@console.get("/return-requests")
def return_request() -> str:
    ctx = _ctx()
    code = _arg("code")
    slip = load_return_request(ctx, code)
    quote = quote_return_request(ctx, code, online=_online())
    return render_template("console/return_quote.html", quote=quote, notice=None, slip=slip)


@console.post("/returns")
def return_confirm() -> Any:
    ctx = _ctx()
    number, lines, method = _return_form()
    approver = None
    supervisor = request.form.get("supervisor_id", "").strip()
    if supervisor:
        approver = supervisor_approval(supervisor, request.form.get("supervisor_pin", ""), _actor())
    try:
        done = confirm_return(
            ctx, number, lines, method, actor=_actor(), online=_online(), approver=approver
        )
    except ApprovalRequired as exc:
        quote = quote_return(ctx, number, lines, method, online=_online())
        return render_template(
            "console/return_quote.html", quote=quote, notice=exc.message
        ), exc.http_status
    return render_template("console/return_done.html", done=done), 201


@console.post("/pickups/verify")
def pickup_verify() -> str:
    customer_id = request.form.get("customer_id") or None
    number = request.form.get("order_number", "")
    check = verify_pickup(_ctx(), number, customer_id, centre_lookup())
    return render_template("console/pickup.html", check=check, customer_id=customer_id)


@console.post("/pickups")
def pickup_hand_over() -> Any:
    customer_id = request.form.get("customer_id") or None
    number = request.form.get("order_number", "")
    done = hand_over(_ctx(), number, customer_id, actor=_actor(), centre=centre_lookup())
    return render_template("console/pickup_done.html", pickup=done), 201


@console.get("/stock")
def stock() -> str:
    """A product's sizes here and in the other stores; with a customer, the form to order
    what this store lacks for them."""
    gtin = _arg("gtin")
    if not _GTIN.match(gtin):
        raise InvalidInput("scan or type the product barcode")
    ctx = _ctx()
    customer_id = request.args.get("customer_id", "").strip() or None
    profile = customer_profile(ctx, customer_id) if customer_id else None
    found = product_stock(ctx, gtin, centre_lookup())
    return render_template("console/stock.html", stock=found, profile=profile)


@console.post("/order-requests")
def order_request() -> Any:
    form = request.form
    gtin, quantity = form.get("gtin", ""), form.get("quantity", "1")
    if not _GTIN.match(gtin) or not quantity.isdigit() or not 1 <= int(quantity) <= 99:
        raise InvalidInput("choose a size and a quantity from 1 to 99")
    where = form.get("fulfilment", "")
    fulfilment, pickup = ("delivery", None) if where == "home" else ("click_and_collect", where)
    requested = request_order(
        _ctx(),
        form.get("customer_id", ""),
        fulfilment,
        pickup or None,
        [WantedLine(gtin, int(quantity))],
        actor=_actor(),
    )
    return render_template("console/order_requested.html", requested=requested), 201


@console.post("/coupons/redeem")
def coupon_redeem() -> str:
    sale = request.form.get("sale_reference", "").strip()
    if not _ID.match(sale):
        raise InvalidInput(Phrase("enter the sale reference from the till receipt"))
    customer_id = request.form.get("customer_id", "").strip() or None
    redeemed = redeem_coupon(
        _ctx(), request.form.get("code", ""), customer_id, sale, actor=_actor(), online=link_up()
    )
    return render_template("console/coupon_done.html", redemption=redeemed)


@console.post("/lists")
def list_create() -> Any:
    customer_id = request.form.get("customer_id", "").strip() or None
    made = create_list(_ctx(), customer_id, request.form.get("name", ""), "till")
    return redirect(url_for("console.list_show", list_id=made.list_id))


@console.get("/lists/<list_id>")
def list_show(list_id: str) -> str:
    return render_template("console/list.html", shopping_list=get_list(_ctx(), list_id))


@console.get("/lists")
def list_open() -> Any:
    return redirect(url_for("console.list_show", list_id=_arg("list_id")))


@console.post("/lists/<list_id>/items")
def list_set_item(list_id: str) -> Any:
    gtin = request.form.get("gtin", "").strip()
    quantity = request.form.get("quantity", "1")
    if not gtin.isdigit() or not quantity.isdigit():
        raise InvalidInput(Phrase("scan or type the product barcode and a quantity"))
    set_item(_ctx(), list_id, gtin, int(quantity))
    return redirect(url_for("console.list_show", list_id=list_id))


_ARG_NAMES = {"number": Phrase("order number"), "list_id": Phrase("list number")}


def _arg(name: str) -> str:
    value = request.args.get(name, "").strip()
    if not value or len(value) > 80:
        raise InvalidInput(Phrase("enter the %(what)s", what=_ARG_NAMES.get(name, name)))
    return value


def _return_form() -> tuple[str, list[ReturnRequestLine], Any]:
    number = request.form.get("order_number", "")
    method = request.form.get("refund_method", "original_payment")
    if method not in _REFUND_METHODS:
        raise InvalidInput(Phrase("choose original payment or store credit"))
    lines = []
    for key, value in request.form.items():
        match = _QTY_FIELD.match(key)
        if match is None:
            continue
        if not value.strip().isdigit() or int(value) > 1000:
            raise InvalidInput(Phrase("a quantity is a whole number"))
        if int(value) > 0:
            lines.append(ReturnRequestLine(int(match.group(1)), int(value)))
    if not lines:
        raise InvalidInput(Phrase("choose at least one line to return"))
    return number, lines, method
