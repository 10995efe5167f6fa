"""The scan dispatcher: every scan, from any scanner or the API, goes through one queue and
one thread, is classified, routed to its use case, logged and reported to the centre.

One thread keeps scans in the order they were read and keeps the till's work off the
web server's threads; callers that need the outcome wait on a Future.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

from edge_agent.centre import CentreLookup
from edge_agent.codes import Code, CodeRules, classify_scan
from edge_agent.context import AgentContext
from edge_agent.customers import IdentifyQuery, identify_customer
from edge_agent.domain import CustomerProfile, Order
from edge_agent.errors import KNOWN_ERRORS, EdgeAgentError, NotFound
from edge_agent.orders import find_order
from edge_agent.outbox import append_event
from edge_agent.passes import identify_by_pass
from edge_agent.products import Product, find_product
from edge_agent.return_requests import load_return_request
from edge_agent.wallet_setup import agent_pass_verifier, load_rotating_secret
from hardware.scan import Scan
from sync.protocol.clock import to_iso
from wallet.errors import PassRefused

log = logging.getLogger(__name__)

OutcomeStatus = Literal["identified", "order_found", "product_found", "not_found", "refused"]
# Scanners read a few codes a second at most; a queue this deep means the dispatcher is
# stuck, and refusing new scans says so instead of growing memory without bound.
QUEUE_DEPTH = 1000
STOP_TIMEOUT_SECONDS = 10
# The loop beats at least this often even when no scans come, so a stale beat means stuck.
HEARTBEAT_SECONDS = 1.0
# One scan taking longer than this means a hung use case (a locked database, a deadlock);
# the watchdog stops pinging and systemd restarts the agent.
STALL_SECONDS = 20.0
GS1_WITHOUT_GTIN = "this GS1 code carries no product number (GTIN): scan the product barcode"


@dataclass(frozen=True)
class ScanOutcome:
    status: OutcomeStatus
    kind: str
    message: str
    source: str
    customer: CustomerProfile | None = None
    order: Order | None = None
    product: Product | None = None
    return_request_id: str | None = None  # a kiosk return slip: load its quote by this id


class DispatcherBusy(EdgeAgentError):
    code = "scanner_queue_full"
    http_status = 503


class ScanDispatcher:
    def __init__(self, ctx: AgentContext, stall_seconds: float = STALL_SECONDS) -> None:
        self._ctx = ctx
        self._stall_seconds = stall_seconds
        self._last_beat = time.monotonic()
        self._rules = CodeRules.from_config(ctx.config)
        # Loaded once: a bad [wallet] setting fails at start, not at the first pass scanned.
        self._pass_verifier = agent_pass_verifier(ctx)
        self._rotating_secret = load_rotating_secret(ctx.config)
        self._queue: queue.Queue[tuple[Scan, Future[ScanOutcome]] | None] = queue.Queue(QUEUE_DEPTH)
        self._listeners: list[Callable[[ScanOutcome], None]] = []
        self._centre: CentreLookup | None = None
        self._thread: threading.Thread | None = None
        self.handled = 0

    def use_centre(self, centre: CentreLookup) -> None:
        """Ask the centre for a scanned order the cache lacks (the sync client's look-up)."""
        self._centre = centre

    def add_listener(self, listener: Callable[[ScanOutcome], None]) -> None:
        """Called with every outcome, on the dispatcher thread (keep it quick)."""
        self._listeners.append(listener)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scan-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the scans already queued, then stop."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(STOP_TIMEOUT_SECONDS)
        self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stalled(self) -> bool:
        """True when the loop has not come round for longer than a scan may take."""
        return time.monotonic() - self._last_beat > self._stall_seconds

    def submit(self, scan: Scan) -> Future[ScanOutcome]:
        future: Future[ScanOutcome] = Future()
        try:
            self._queue.put_nowait((scan, future))
        except queue.Full:
            raise DispatcherBusy(
                "the agent is behind on scans; wait a moment and scan again"
            ) from None
        return future

    def handle(self, scan: Scan) -> ScanOutcome:
        """Classify, route, log and report one scan; never raises for a bad scan."""
        code = classify_scan(scan, self._rules)
        missing = self._fetch_order_from_centre(scan, code)
        with self._ctx.store.transaction() as db:
            outcome = missing or self._route(scan, code)
            data = {
                "source": scan.source,
                "symbology": scan.symbology,
                "kind": code.kind,
                "outcome": outcome.status,
                # Only codes that name no person travel; a loyalty ID is reported as the
                # customer.identified event instead, garbage not at all.
                "value": code.value if code.kind in ("gtin", "gs1", "order_number") else None,
                "scanned_at": to_iso(scan.at),
            }
            db.execute(
                "INSERT INTO scan_log (at, source, symbology, kind, outcome, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    to_iso(scan.at),
                    scan.source,
                    scan.symbology,
                    code.kind,
                    outcome.status,
                    code.reason or data["value"],
                ],
            )
            append_event(db, self._ctx.origin, "scan.recorded", None, data, at=scan.at)
        metrics = self._ctx.metrics
        metrics.scans.labels(metrics.source_label(scan.source), code.kind, outcome.status).inc()
        return outcome

    def _route(self, scan: Scan, code: Code) -> ScanOutcome:
        if code.kind == "invalid":
            return ScanOutcome("refused", code.kind, code.reason or "", scan.source)
        if code.kind == "pass_code":
            return self._pass(scan, code)
        if code.kind == "gs1" and not code.value:
            return ScanOutcome("refused", code.kind, GS1_WITHOUT_GTIN, scan.source)
        try:
            if code.kind == "loyalty_id":
                profile = identify_customer(
                    self._ctx,
                    IdentifyQuery("loyalty_id", code.value),
                    channel="scan",
                    source=scan.source,
                )
                return _identified(profile, code.kind, scan.source)
            if code.kind == "return_request":
                request = load_return_request(self._ctx, code.value)
                return ScanOutcome(
                    "order_found",
                    code.kind,
                    f"return slip for order {request.order_number}: {len(request.lines)} lines",
                    scan.source,
                    order=find_order(self._ctx, request.order_number),
                    return_request_id=request.request_id,
                )
            if code.kind == "order_number":
                order = find_order(self._ctx, code.value)
                return ScanOutcome(
                    "order_found",
                    code.kind,
                    f"order {order.number}: {order.status}, {len(order.lines)} lines",
                    scan.source,
                    order=order,
                )
            product = find_product(self._ctx, code.value)
            return ScanOutcome(
                "product_found", code.kind, product.name, scan.source, product=product
            )
        except NotFound as exc:
            return ScanOutcome("not_found", code.kind, exc.message, scan.source)

    def _fetch_order_from_centre(self, scan: Scan, code: Code) -> ScanOutcome | None:
        """Before the scan's write transaction opens (waiting on the network must not hold
        the database's write lock): cache a scanned order the centre has and the store
        lacks. Returns the not-found outcome, saying why, when neither has it."""
        if self._centre is None or code.kind != "order_number":
            return None
        try:
            find_order(self._ctx, code.value, self._centre)
        except NotFound as exc:
            return ScanOutcome("not_found", code.kind, exc.message, scan.source)
        except KNOWN_ERRORS:
            return None  # the route below reports it as for any scan
        return None

    def _pass(self, scan: Scan, code: Code) -> ScanOutcome:
        """A wallet pass: only a genuine, current, unrevoked loyalty pass identifies."""
        try:
            profile = identify_by_pass(
                self._ctx,
                self._pass_verifier,
                code.value,
                channel="scan",
                source=scan.source,
                rotating_secret=self._rotating_secret,
                centre=self._centre,
            )
        except PassRefused as exc:
            return ScanOutcome("refused", code.kind, exc.message, scan.source)
        except NotFound as exc:
            return ScanOutcome("not_found", code.kind, exc.message, scan.source)
        return _identified(profile, code.kind, scan.source)

    def _run(self) -> None:
        while True:
            self._last_beat = time.monotonic()
            try:
                item = self._queue.get(timeout=HEARTBEAT_SECONDS)
            except queue.Empty:
                continue
            if item is None:
                return
            scan, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                outcome = self.handle(scan)
            except Exception as exc:  # a broken scan must not stop the till's scanner
                log.exception("scan from %s could not be handled", scan.source)
                future.set_exception(exc)
                continue
            self.handled += 1
            future.set_result(outcome)
            for listener in self._listeners:
                try:
                    listener(outcome)
                except Exception:
                    log.exception("scan listener failed")


def _identified(profile: CustomerProfile, kind: str, source: str) -> ScanOutcome:
    tier = f", {profile.tier}" if profile.tier else ""
    message = f"{profile.first_name} {profile.last_name[:1]}.{tier}, {profile.points} points"
    return ScanOutcome("identified", kind, message, source, customer=profile)
