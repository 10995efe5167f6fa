"""Run `edge-agent` as a real process and read the addresses it prints when ready."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

EDGE_AGENT = str(Path(sys.executable).with_name("edge-agent"))
READY_TIMEOUT_SECONDS = 30


class AgentProcess:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [EDGE_AGENT, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.web_url = ""
        self.scanner: tuple[str, int] | None = None

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_ready(self) -> AgentProcess:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"agent exited early: {self.stop_and_stderr()}")
            self.output.append(line)
            if match := re.search(r"health:\s+(https?://\S+)/healthz", line):
                self.web_url = match.group(1)
            if match := re.search(r"scanner \S+: tcp://([\d.]+):(\d+)", line):
                self.scanner = (match.group(1), int(match.group(2)))
            if line.startswith("Stop with"):
                return self
        raise AssertionError(f"agent not ready in time: {self.stop_and_stderr()}")

    def terminate(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop_and_stderr(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        return err
