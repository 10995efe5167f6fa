"""python-escpos's import-time side effects stay contained (checked in a fresh process)."""

from __future__ import annotations

import os
import pickle
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
ROOT = Path(__file__).resolve().parents[2]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ESCPOS_CAPABILITIES_PICKLE_DIR"}
    env.update(TMPDIR=str(tmp), XDG_CACHE_HOME="")
    return env


def _run(tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=_env(tmp),
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


def test_processes_starting_at_the_same_instant_all_import_it(tmp_path: Path) -> None:
    # The first builds the cache; the others wait for it instead of reading it while it
    # is written (they failed with EOFError on the empty file).
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE],
            cwd=ROOT,
            env=_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    ended = [start.communicate(timeout=120) for start in starts]
    assert [start.returncode for start in starts] == [0, 0, 0, 0], [err for _, err in ended]
    assert [out for out, _ in ended] == ["handlers 0\n"] * 4


def test_a_cache_left_half_written_is_built_again(tmp_path: Path) -> None:
    _run(tmp_path)
    (cached,) = (tmp_path / f"edge-agent-escpos-{os.getuid()}").glob("*.pickle")
    whole = pickle.loads(cached.read_bytes())
    # As an import killed while writing it leaves it.
    cached.write_bytes(cached.read_bytes()[:1000])
    assert _run(tmp_path).stdout == "handlers 0\n"
    assert pickle.loads(cached.read_bytes()) == whole
