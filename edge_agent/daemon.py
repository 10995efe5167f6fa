"""The daemon: wires the store, the scan dispatcher, the scanners and the web server,
runs until SIGTERM/SIGINT, and shuts down in the order that loses nothing: stop taking
scans and requests, finish what is queued, then close the database."""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from edge_agent.config import Config
from edge_agent.context import AgentContext, open_agent
from edge_agent.devices import DeviceRegistry
from edge_agent.errors import KNOWN_ERRORS, EdgeAgentError
from edge_agent.maintenance import Maintenance
from edge_agent.printing import PrintQueue, with_receipt_printer
from edge_agent.scans import ScanDispatcher
from edge_agent.systemd_notify import SystemdNotifier
from hardware.scan import Scan
from hardware.scanners import ScanSource, open_scanner
from pos_bridge import wiring
from pos_bridge.app import create_app
from pos_bridge.conflicts_api import conflict_announcer
from pos_bridge.web_front import WebFront
from sync.service import SyncService

log = logging.getLogger(__name__)
SCAN_REPLY_TIMEOUT_SECONDS = 5.0


@dataclass
class RunningAgent:
    """Handles to everything `start_agent` started, for addresses and for `stop()`."""

    ctx: AgentContext
    dispatcher: ScanDispatcher
    scanners: list[ScanSource]
    web: WebFront
    maintenance: Maintenance
    stopped: threading.Event = field(default_factory=threading.Event)
    print_queue: PrintQueue | None = None
    sync: SyncService | None = None
    # Ends the screens' event streams, so the web server's stop does not wait on them.
    close_streams: Callable[[], None] | None = None

    @property
    def web_url(self) -> str:
        return self.web.url

    def liveness_problem(self) -> str | None:
        """Why the agent cannot do its job right now, or None while its loops turn."""
        if not self.dispatcher.alive:
            return "the scan dispatcher thread died"
        if self.dispatcher.stalled:
            return "the scan dispatcher is stuck on one scan"
        if not self.web.is_alive():
            return "the web server thread died"
        return None

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        for scanner in self.scanners:
            scanner.stop()
        if self.close_streams is not None:
            self.close_streams()
        self.web.stop()
        self.dispatcher.stop()
        if self.sync is not None:
            self.sync.stop()
        self.maintenance.stop()
        if self.print_queue is not None:
            self.print_queue.stop()  # a receipt being sent finishes; queued ones stay on disk
        self.ctx.store.close()
        log.info("agent stopped")


def start_agent(config: Config) -> RunningAgent:
    """Open the store and start everything; raises EdgeAgentError if it cannot start."""
    ctx = open_agent(config)
    try:
        print_queue = PrintQueue(ctx)
    except BaseException:
        ctx.store.close()
        raise
    # Every use case that prints (returns, pickups, kiosk slips) finds the printer here.
    ctx = with_receipt_printer(ctx, print_queue)
    dispatcher = ScanDispatcher(ctx)
    dispatcher.start()
    scanners: list[ScanSource] = []
    sync: SyncService | None = None
    try:
        if config.sync.broker_url:
            sync = SyncService(ctx)
            sync.start()
        print_queue.start()
        for settings in config.scanners:
            try:
                scanner = open_scanner(settings.id, settings.url)
            except ValueError as exc:
                raise EdgeAgentError(f"scanner {settings.id}: {exc}") from None
            try:
                scanner.start(_scan_sink(dispatcher))
            except OSError as exc:
                raise EdgeAgentError(f"scanner {settings.id} ({settings.url}): {exc}") from None
            scanners.append(scanner)
        app = create_app(ctx, dispatcher, sync.status_dict if sync is not None else None)
        if sync is not None:
            wiring.install_centre(app, sync.link_up, sync.centre_lookup)
            dispatcher.use_centre(sync.centre_lookup)
            sync.add_change_listener(conflict_announcer(wiring.till_events_of(app)))
        registry = DeviceRegistry(scanners, print_queue)
        wiring.install_devices(app, registry)
        if sync is not None:
            sync.report_devices(registry.health_checks)
        web = WebFront(app, config.web)
        try:
            web.bind()
        except OSError as exc:
            raise EdgeAgentError(
                f"web server cannot listen on {config.web.host}:{config.web.port}: {exc}"
            ) from None
    except BaseException:
        for scanner in scanners:
            scanner.stop()
        print_queue.stop()
        dispatcher.stop()
        if sync is not None:
            sync.stop()
        ctx.store.close()
        raise
    web.start()
    _warn_if_plain_on_lan(config)
    maintenance = Maintenance(ctx)
    maintenance.start()
    running = RunningAgent(
        ctx,
        dispatcher,
        scanners,
        web,
        maintenance,
        print_queue=print_queue,
        sync=sync,
        close_streams=app.extensions["till_events"].close,
    )
    mode = "offline (no broker configured)" if not config.sync.broker_url else "syncing"
    log.info("agent started for store %s: %s, %s", config.store.id, running.web_url, mode)
    return running


def run_until_signalled(
    config: Config, on_ready: Callable[[RunningAgent], None] | None = None
) -> None:
    """Start the agent, block until SIGTERM or SIGINT, then stop it cleanly."""
    stop = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, _request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    notifier = SystemdNotifier()
    interval = notifier.watchdog_interval
    # Ping at half the watchdog interval, checking liveness more often than that.
    tick = min(1.0, interval / 4) if interval else 1.0
    try:
        running = start_agent(config)
        try:
            if on_ready is not None:
                on_ready(running)
            notifier.ready(f"serving {running.web_url}")
            next_ping = 0.0
            reported: str | None = None
            while not stop.wait(tick):
                problem = running.liveness_problem()
                if problem != reported:
                    if problem:
                        log.error("%s; not telling the watchdog we are alive", problem)
                    notifier.status(problem or f"serving {running.web_url}")
                    reported = problem
                if problem and not running.dispatcher.alive:
                    raise EdgeAgentError(f"{problem}; exiting so the service manager restarts")
                if interval and problem is None and time.monotonic() >= next_ping:
                    notifier.watchdog()
                    next_ping = time.monotonic() + interval / 2
        finally:
            notifier.stopping()
            running.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _warn_if_plain_on_lan(config: Config) -> None:
    """Staff PINs and customer names cross the wire: off this machine, that needs TLS."""
    if config.web.tls or _is_loopback(config.web.host):
        return
    log.warning(
        "the web server listens on %s without TLS: PINs, tokens and customer data cross the "
        "network in clear; set web.tls_cert_file and web.tls_key_file (README: Security)",
        config.web.host,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scan_sink(dispatcher: ScanDispatcher) -> Callable[[Scan], str | None]:
    def sink(scan: Scan) -> str:
        try:
            outcome = dispatcher.submit(scan).result(timeout=SCAN_REPLY_TIMEOUT_SECONDS)
        except KNOWN_ERRORS as exc:
            return f"error: {exc.message}"
        except Exception as exc:
            log.error("scan from %s failed: %s", scan.source, type(exc).__name__)
            return "error: the agent could not handle this scan; scan again"
        return f"{outcome.status}: {outcome.message}"

    return sink
