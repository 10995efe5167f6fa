"""Background upkeep on its own thread: retention pruning on a schedule."""

from __future__ import annotations

import logging
import threading

from edge_agent.context import AgentContext
from edge_agent.errors import EdgeAgentError
from edge_agent.retention import prune

log = logging.getLogger(__name__)


class Maintenance:
    def __init__(self, ctx: AgentContext) -> None:
        self._ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        interval = self._ctx.config.retention.interval_minutes * 60
        while not self._stop.is_set():
            try:
                deleted = prune(self._ctx)
                self.runs += 1
                if any(deleted.values()):
                    log.info("retention pruned %s", deleted)
            except EdgeAgentError as exc:  # a full or busy disk: try again next round
                log.warning("retention pruning failed: %s", exc.message)
            self._stop.wait(interval)
