"""python-escpos's import-time side effects stay contained (checked in a fresh process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import logging
from hardware.printers import escpos_lib
from hardware.receipts import render_receipt
from tests.hardware.receipts_data import RETURN
render_receipt(RETURN, "TM-T88V", 80)
print("handlers", len(logging.getLogger().handlers))
"""


def _run(tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ESCPOS_CAPABILITIES_PICKLE_DIR"}
    env.update(TMPDIR=str(tmp), XDG_CACHE_HOME="")
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_import_prints_nothing_keeps_logging_and_reuses_one_cache_dir(tmp_path: Path) -> None:
    first = _run(tmp_path)
    second = _run(tmp_path)
    for result in (first, second):
        # nothing on stdout but our probe's line; basicConfig's handler was removed
        assert result.stdout == "handlers 0\n"
    entries = sorted(p.name for p in tmp_path.iterdir())
    assert entries == [f"edge-agent-escpos-{os.getuid()}"]  # no fresh mkdtemp per start
    assert any(p.suffix == ".pickle" for p in (tmp_path / entries[0]).iterdir())
