"""Checks every systemd unit we ship passes: systemd's own verifier and its exposure score."""

from __future__ import annotations

import subprocess
from pathlib import Path


def installed_unit(unit: Path, tmp_path: Path, packaged_exec: str, this_exec: str) -> Path:
    """The unit as installed: its ExecStart pointing at this checkout's program."""
    installed = tmp_path / unit.name
    installed.write_text(unit.read_text().replace(packaged_exec, this_exec), encoding="utf-8")
    return installed


def assert_verifies(unit: Path) -> None:
    """`systemd-analyze verify` accepts the unit and warns nothing about it."""
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert unit.name not in result.stderr, result.stderr


def exposure(unit: Path) -> float:
    """`systemd-analyze security`'s overall exposure level (0 safest, 10 worst)."""
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(x for x in result.stdout.splitlines() if "Overall exposure level" in x)
    return float(line.split(":")[1].split()[0])
