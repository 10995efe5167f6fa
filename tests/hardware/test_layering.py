"""hardware/ talks to devices and knows nothing of customers or orders: it never imports
the agent, the web layer, sync or the wallet."""

from __future__ import annotations

import ast
from pathlib import Path

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"
FORBIDDEN = ("edge_agent", "pos_bridge", "sync", "wallet")


def test_hardware_imports_nothing_above_it() -> None:
    offenders = []
    modules = sorted(HARDWARE.rglob("*.py"))
    assert len(modules) > 15
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(HARDWARE.parent)}: {name}"
                for name in names
                if name.split(".")[0] in FORBIDDEN
            ]
    assert offenders == []
