"""Store devices over HTTP: status of scanners and printers, print jobs, reprint last."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from edge_agent.devices import DeviceRegistry, PrintJobs
from edge_agent.printing import PrintQueue, UnknownPrinter
from pos_bridge import wiring
from pos_bridge.auth import require
from pos_bridge.params import PrinterPath, PrintJobsParams, read_params

devices_api = Blueprint("devices", __name__, url_prefix="/api/v1")


def _registry() -> DeviceRegistry:
    registry = wiring.devices_of(current_app)
    if registry is None:
        return DeviceRegistry(scanners=(), print_queue=None)
    return registry


def _queue() -> PrintQueue:
    queue = _registry().print_queue
    if queue is None:
        # An app without the daemon's devices (tests, tools): it has no printer of that name.
        raise UnknownPrinter("this agent drives no printers")
    return queue


@devices_api.get("/devices")
@require("cashier")
def devices() -> Any:
    return jsonify(_registry().snapshot())


@devices_api.get("/printers/<printer_id>/jobs")
@require("cashier")
def printer_jobs(printer_id: str) -> Any:
    params = read_params(PrintJobsParams)
    queue = _queue()
    if printer_id not in queue.printers:
        raise UnknownPrinter(f"no printer '{printer_id}'")
    return jsonify(PrintJobs(printer_id, tuple(queue.jobs(printer_id, params.limit))))


@devices_api.post("/printers/<printer_id>/reprint-last")
@require("cashier")
def reprint_last(printer_id: str) -> Any:
    read_params(PrinterPath)
    job = _queue().reprint_last(printer_id)
    return jsonify(job), 202
