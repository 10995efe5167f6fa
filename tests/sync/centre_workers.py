"""`edge-central run` worker processes for the centre's tests: start several at once,
wait for `ready`, kill -9 them, read what each said on the way out."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.sync.conftest import EDGE_CENTRAL, WAIT_SECONDS

REPO = Path(__file__).resolve().parents[2]


class CentreWorker:
    def __init__(
        self,
        log_dir: Path,
        worker_id: str,
        broker_url: str,
        db_url: str,
        *extra: str,
        fault: str | None = None,
        env: dict[str, str] | None = None,
    ):
        """`fault`: a part made to die (tests/sync/faulty_centre.py)."""
        self.worker_id = worker_id
        self.log_path = log_dir / f"{worker_id}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a")
        program = [EDGE_CENTRAL]
        if fault is not None:
            program = [sys.executable, "-m", "tests.sync.faulty_centre", fault, "--"]
        args = ["run", "--broker", broker_url, "--db", db_url, "--worker-id", worker_id]
        self.proc = subprocess.Popen(
            [*program, *args, *extra],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def wait_ready(self, timeout: float = WAIT_SECONDS) -> CentreWorker:
        """Block until the worker prints `ready`; fail with its log if it exits first."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if readable:
                line = self.proc.stdout.readline()
                if line.strip() == "ready":
                    return self
                if line == "":
                    break  # stdout closed: the process is gone
        raise AssertionError(f"worker {self.worker_id} not ready: {self.log()}")

    def wait_exit(self, timeout: float = WAIT_SECONDS) -> int:
        return self.proc.wait(timeout=timeout)

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(timeout=30)
        self._log.close()
        return code

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def http_url(self) -> str:
        """Where the worker serves /healthz and /metrics (started with --http-port 0)."""
        found = re.search(r"health and metrics on (http://\S+)", self.log())
        assert found, f"worker {self.worker_id} serves no /healthz: {self.log()}"
        return found.group(1)

    def health(self, path: str = "/healthz") -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.http_url() + path, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics by its name and labels, as the text shows them."""
        with urllib.request.urlopen(self.http_url() + "/metrics", timeout=10) as response:
            text = response.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    def inserted(self) -> int:
        """Events this worker wrote, from the line it logs when it stops."""
        # The last report: a replacement with the same id appends to the same log.
        found = re.findall(r"stopped: (\d+) events inserted", self.log())
        assert found, f"worker {self.worker_id} did not report: {self.log()}"
        return int(found[-1])


def start_workers(
    count: int, log_dir: Path, broker_url: str, db_url: str, *extra: str
) -> list[CentreWorker]:
    """`count` workers started back to back (microseconds apart), so their start-up,
    migration included, runs at the same time."""
    return [CentreWorker(log_dir, f"w{n}", broker_url, db_url, *extra) for n in range(1, count + 1)]
