"""The self-service kiosk at /kiosk: no sign-in, one customer at a time per browser.

A scan (keyboard-wedge scanner typing into the scan field, then Enter) goes through the
same dispatcher as every other scanner. Anyone can type a loyalty or order number into
that field, so a number proves nothing: only a wallet pass whose signed code verifies
opens a customer's account here (greeting, returns, lists). A loyalty number gets the
same answer whether or not it belongs to anyone, is not looked up, records no
identification and does not restart anyone's retention clock; an order number is looked
for only among the pass holder's own orders. Scans are throttled per kiosk.

The session (a signed cookie) remembers only the customer's id, the kiosk list and the
slips made here; its customer part is also registered on the server (KioskSessions), so
"Finish" ends it even for a copy of the cookie. Templates get `Greeting`, never a
profile, so they cannot show a last name, an email, a phone or the order history.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import segno
from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from edge_agent.codes import CodeRules, classify_scan
from edge_agent.context import AgentContext
from edge_agent.customers import customer_profile
from edge_agent.errors import EdgeAgentError, InvalidInput, OrderNotFound
from edge_agent.list_handoff import send_list_to_staff
from edge_agent.lists import create_list, get_list, set_item
from edge_agent.orders import find_order
from edge_agent.products import find_product
from edge_agent.return_requests import (
    create_return_request,
    load_return_request,
    quote_return_request,
    returnable_orders,
)
from edge_agent.returns import ReturnRequestLine
from edge_agent.scans import ScanDispatcher
from edge_agent.stock import product_stock
from hardware.scan import MAX_SCAN_CHARS, Scan
from pos_bridge import wiring
from pos_bridge.csrf import CSRF_SESSION_KEY, protect
from pos_bridge.i18n import LANG_SESSION_KEY, _
from pos_bridge.kiosk_sessions import KioskSessions
from pos_bridge.screen_headers import add_screen_headers
from pos_bridge.throttle import client_address

log = logging.getLogger(__name__)
kiosk = Blueprint("kiosk", __name__, url_prefix="/kiosk")
protect(kiosk)  # first: the idle check below must not clear the token it checks
kiosk.after_request(add_screen_headers)
SCAN_SOURCE = "kiosk"
SCAN_ANSWER_TIMEOUT_SECONDS = 5.0
MAX_SLIPS_PER_SESSION = 20  # a cookie has about 4 KB; nobody prints more slips than this
_GTIN = re.compile(r"^\d{8,14}$")
_QTY_FIELD = re.compile(r"^qty_(\d{1,4})$")


@dataclass(frozen=True)
class Greeting:
    """All the kiosk shows about the person in front of it."""

    first_name: str
    tier: str | None
    points: int
    ready_for_pickup: int


def _ctx() -> AgentContext:
    return wiring.agent()


def _sessions() -> KioskSessions:
    return wiring.kiosk_sessions()


@kiosk.before_request
def _expire_idle_session() -> None:
    now = time.time()
    seen = session.get("seen")
    if seen is not None and now - float(seen) > _ctx().config.kiosk.idle_timeout_seconds:
        _forget_everything()  # a new person may be at the screen: language too
    elif "customer_id" in session and not _sessions().touch(session.get("sid")):
        _forget_everything()  # ended by "Finish" (this is a copy of the cookie) or idle
    session["seen"] = now


def _forget_everything(keep_language: bool = False) -> None:
    _sessions().end(session.get("sid"))
    kept = {CSRF_SESSION_KEY: session.get(CSRF_SESSION_KEY)}
    if keep_language:
        kept[LANG_SESSION_KEY] = session.get(LANG_SESSION_KEY)
    session.clear()
    session.update({k: v for k, v in kept.items() if v})


@kiosk.context_processor
def _screen_settings() -> dict[str, Any]:
    ctx = _ctx()
    return {
        "idle_timeout_seconds": ctx.config.kiosk.idle_timeout_seconds,
        "languages": ctx.config.kiosk.languages,
        "store_name": ctx.config.store.name,
        "signed_in": "customer_id" in session,
    }


@kiosk.errorhandler(EdgeAgentError)
def _kiosk_error(exc: EdgeAgentError) -> tuple[str, int]:
    # The customer reads a sentence in their language, not the till's English detail.
    return render_template("kiosk/error.html", message=_error_message(exc)), exc.http_status


@kiosk.errorhandler(HTTPException)
def _kiosk_http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    message = (
        _("We could not find that. Please ask a member of staff.")
        if status == 404
        else _("Something went wrong. Please ask a member of staff.")
    )
    return render_template("kiosk/error.html", message=message), status


@kiosk.errorhandler(Exception)
def _kiosk_unexpected(exc: Exception) -> tuple[str, int]:
    # The customer sees a calm page; the operator finds the cause in the log.
    log.exception("kiosk request failed")
    message = _("Something went wrong. Please ask a member of staff.")
    return render_template("kiosk/error.html", message=message), 500


@kiosk.get("/")
def start() -> str:
    return render_template("kiosk/start.html", notice=None)


@kiosk.post("/scan")
def scan() -> Any:
    code = request.form.get("code", "")
    if not code.strip() or len(code) > MAX_SCAN_CHARS:
        return _start_with(_("We could not read that code. Please scan it again."), 422)
    if not wiring.throttles().kiosk_scans.allow(client_address(), now=wiring.agent().clock()):
        return _start_with(_("Too many scans. Please wait a moment."), 429)
    read = Scan(data=code, symbology=None, source=SCAN_SOURCE, at=datetime.now(UTC))
    barcode = classify_scan(read, CodeRules.from_config(_ctx().config))
    if barcode.kind == "loyalty_id":
        # Typed or printed, a number is no proof of being its owner; known or not, the
        # answer is this one, and nothing is looked up or recorded.
        return _start_with(
            _("To see your points, orders and lists, scan the pass in your wallet app."), 200
        )
    if barcode.kind == "order_number":
        return _order_scanned(barcode.value)
    if barcode.kind == "return_request":
        return _start_with(_("This is a return slip. Please take it to the till."), 422)
    dispatcher: ScanDispatcher = wiring.dispatcher()
    future = dispatcher.submit(read)
    try:
        outcome = future.result(timeout=SCAN_ANSWER_TIMEOUT_SECONDS)
    except FutureTimeout:
        return _start_with(_("The kiosk is busy. Please scan again in a moment."), 503)
    if (
        outcome.status == "identified"
        and outcome.kind == "pass_code"
        and outcome.customer is not None
    ):
        # A list built before scanning a pass is this person's: keep it. After another
        # customer's pass, nothing from the previous person carries over.
        anonymous_list = None if "customer_id" in session else session.get("list_id")
        _forget_everything(keep_language=True)
        if anonymous_list:
            session["list_id"] = anonymous_list
        session["seen"] = time.time()
        session["customer_id"] = outcome.customer.customer_id
        session["sid"] = _sessions().start()
        return redirect(url_for("kiosk.welcome"))
    if outcome.status == "product_found" and outcome.product is not None:
        return redirect(url_for("kiosk.product", gtin=outcome.product.gtin))
    if outcome.status == "not_found" and outcome.kind == "gtin":
        return _start_with(_("This product is not sold in this store."), 404)
    if outcome.kind == "pass_code":
        return _start_with(_("We do not know this card. Please ask a member of staff."), 404)
    if outcome.status == "not_found":
        return _start_with(_("We could not find that. Please ask a member of staff."), 404)
    return _start_with(_("We could not read that code. Please scan it again."), 422)


def _order_scanned(number: str) -> Any:
    """Only the pass holder's own orders, from the local cache: whether some order exists
    is never told, and nothing is asked of the centre."""
    customer_id = session.get("customer_id")
    if customer_id is None:
        return _start_with(_("To return an order, scan the pass in your wallet app first."), 200)
    try:
        order = find_order(_ctx(), number)
    except OrderNotFound:
        order = None
    if order is None or order.customer_id != customer_id:
        return _start_with(
            _("We cannot find that on your account. Please ask a member of staff."), 404
        )
    return redirect(url_for("kiosk.return_lines", number=order.number))


@kiosk.get("/welcome")
def welcome() -> Any:
    customer_id = session.get("customer_id")
    if customer_id is None:
        return redirect(url_for("kiosk.start"))
    profile = customer_profile(_ctx(), customer_id)
    greeting = Greeting(
        first_name=profile.first_name,
        tier=profile.tier,
        points=profile.points,
        ready_for_pickup=len(profile.ready_for_pickup_here),
    )
    return render_template("kiosk/welcome.html", greeting=greeting)


@kiosk.get("/returns")
def returns() -> Any:
    customer_id = session.get("customer_id")
    if customer_id is None:
        return redirect(url_for("kiosk.start"))
    return render_template("kiosk/returns.html", orders=returnable_orders(_ctx(), customer_id))


@kiosk.route("/returns/<number>", methods=["GET", "POST"])
def return_lines(number: str) -> Any:
    customer_id = session.get("customer_id")
    if customer_id is None:
        return redirect(url_for("kiosk.start"))
    order = find_order(_ctx(), number)
    if order.customer_id != customer_id:
        raise OrderNotFound("not this customer's order")
    notice = None
    if request.method == "POST":
        lines = _lines_from_form()
        if lines:
            made = create_return_request(_ctx(), customer_id, order.number, lines, SCAN_SOURCE)
            session["slips"] = [*session.get("slips", []), made.request_id][-MAX_SLIPS_PER_SESSION:]
            return redirect(url_for("kiosk.slip", request_id=made.request_id))
        notice = _("Choose at least one item to return.")
    return render_template("kiosk/return_lines.html", order=order, notice=notice), (
        422 if notice else 200
    )


@kiosk.get("/slips/<request_id>")
def slip(request_id: str) -> Any:
    # Only the browser session that made the slip may show it again.
    if request_id not in session.get("slips", []):
        return render_template("kiosk/error.html", message=_("This return slip is not here.")), 404
    ctx = _ctx()
    made = load_return_request(ctx, request_id)
    quote = quote_return_request(ctx, request_id, online=True)
    qr = segno.make(made.slip_code, error="m")
    return render_template(
        "kiosk/slip.html",
        slip=made,
        quote=quote,
        qr_svg=qr.svg_inline(scale=8, border=4, dark="#000", light="#fff"),
    )


@kiosk.get("/products/<gtin>")
def product(gtin: str) -> Any:
    if not _GTIN.match(gtin):
        raise InvalidInput("not a product barcode")
    ctx = _ctx()
    found = find_product(ctx, gtin)
    # Sizes here and in the nearest stores: a shopper asks for the other size first.
    stock = product_stock(ctx, gtin, wiring.centre_lookup())
    return render_template("kiosk/product.html", product=found, stock=stock)


@kiosk.post("/list/items")
def list_add() -> Any:
    gtin = request.form.get("gtin", "")
    if not _GTIN.match(gtin):
        raise InvalidInput("not a product barcode")
    ctx = _ctx()
    find_product(ctx, gtin)  # refuse unknown products before a list is made for them
    list_id = session.get("list_id")
    if list_id is None:
        made = create_list(ctx, session.get("customer_id"), "Kiosk", "kiosk")
        list_id = session["list_id"] = made.list_id
    current = {item.gtin: item.quantity for item in get_list(ctx, list_id).items}
    set_item(ctx, list_id, gtin, min(current.get(gtin, 0) + 1, 99))
    return redirect(url_for("kiosk.shopping_list"))


@kiosk.get("/list")
def shopping_list() -> str:
    list_id = session.get("list_id")
    items = get_list(_ctx(), list_id).items if list_id else ()
    return render_template("kiosk/list.html", items=items)


@kiosk.post("/list/send")
def list_send() -> Any:
    list_id = session.get("list_id")
    if list_id is None:
        raise InvalidInput("the list is empty")
    sent = send_list_to_staff(_ctx(), list_id, SCAN_SOURCE)
    session.pop("list_id")
    return render_template("kiosk/list_sent.html", shopping_list=sent)


@kiosk.get("/end")
def end() -> Response:
    _forget_everything()
    return redirect(url_for("kiosk.start"))


@kiosk.get("/lang/<lang>")
def choose_language(lang: str) -> Response:
    if lang in _ctx().config.kiosk.languages:
        session[LANG_SESSION_KEY] = lang
    target = request.args.get("next", "")
    # Only back to a kiosk page: never an open redirect.
    if not re.fullmatch(r"/kiosk/[A-Za-z0-9/_-]*", target):
        target = url_for("kiosk.start")
    return redirect(target)


def _start_with(notice: str, status: int) -> tuple[str, int]:
    return render_template("kiosk/start.html", notice=notice), status


def _lines_from_form() -> list[ReturnRequestLine]:
    lines = []
    for key, value in request.form.items():
        match = _QTY_FIELD.match(key)
        if match is None:
            continue
        if not value.isdigit() or int(value) > 1000:
            raise InvalidInput("a quantity is a whole number")
        if int(value) > 0:
            lines.append(ReturnRequestLine(int(match.group(1)), int(value)))
    return lines


def _error_message(exc: EdgeAgentError) -> str:
    if exc.code in ("order_not_found", "return_request_not_found"):
        return _("We cannot find that on your account. Please ask a member of staff.")
    if exc.code == "return_request_expired":
        return _("This return slip has expired. Please start the return again.")
    if exc.code == "return_refused":
        return _("These items cannot be returned. Please ask a member of staff.")
    if exc.code == "invalid_input":
        return _("Please check what you chose and try again.")
    if exc.http_status == 404:
        return _("We could not find that. Please ask a member of staff.")
    return _("Something went wrong. Please ask a member of staff.")
