"""The package picture in the README, made executable: which room may import which.

Every import between our packages is counted, function-level ones included. A room is
a package, except that `sync` is three: the wire protocol both sides speak
(`sync.protocol`), the centre (`sync.central`), and the store's transport (the rest of
`sync`, with `sync.link` and `sync.errors` shared with the centre). The composition
(the daemon and the CLIs) may know every room of the store; nothing store-side may
know the centre.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPOSITION = {
    "edge_agent/daemon.py",
    "edge_agent/cli.py",
    "edge_agent/wallet_cli.py",
    "edge_agent/sync_cli.py",
    "edge_agent/devices_cli.py",
    "edge_agent/__main__.py",
}
SHARED_TRANSPORT = {"sync.link", "sync.errors"}
# room -> rooms it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "hardware": set(),
    "wallet": set(),
    "sync.protocol": set(),
    "sync.shared": {"sync.protocol"},
    "sync.central": {"sync.protocol", "sync.shared", "wallet"},
    "edge_agent": {"hardware", "wallet", "sync.protocol"},
    "sync": {"edge_agent", "wallet", "sync.protocol", "sync.shared", "hardware"},
    "pos_bridge": {"edge_agent", "hardware", "wallet", "sync.protocol"},
    "composition": {
        "edge_agent",
        "hardware",
        "wallet",
        "sync.protocol",
        "sync.shared",
        "sync",
        "pos_bridge",
    },
}


def room_of_module(name: str) -> str | None:
    top = name.split(".")[0]
    if top not in {"hardware", "wallet", "edge_agent", "pos_bridge", "sync"}:
        return None
    if top != "sync":
        return top
    for room in ("sync.protocol", "sync.central"):
        if name == room or name.startswith(room + "."):
            return room
    if name in SHARED_TRANSPORT or any(name.startswith(m + ".") for m in SHARED_TRANSPORT):
        return "sync.shared"
    return "sync"


def room_of_file(rel: str) -> str:
    if rel in COMPOSITION:
        return "composition"
    room = room_of_module(rel.removesuffix(".py").removesuffix("/__init__").replace("/", "."))
    assert room is not None, rel
    return room


def imports() -> dict[tuple[str, str], list[str]]:
    """(from room, to room) -> the 'file -> module' imports that make the arrow."""
    arrows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package in ("hardware", "wallet", "edge_agent", "pos_bridge", "sync"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            source_room = room_of_file(rel)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    target = room_of_module(name)
                    if target is not None and target != source_room:
                        arrows[(source_room, target)].append(f"{rel} -> {name}")
    return arrows


ARROWS = imports()


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_room_imports_only_what_the_picture_allows(room: str) -> None:
    forbidden = [
        edge
        for (source, target), edges in ARROWS.items()
        if source == room and target not in ALLOWED[room]
        for edge in edges
    ]
    assert forbidden == []


def test_no_cycle_between_rooms() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in ARROWS:
        graph[source].add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [room for room in list(graph) if reaches(room, room, {room})] == []


def test_the_graph_is_measured() -> None:
    # A scan that found nothing would pass every rule above.
    assert ("pos_bridge", "edge_agent") in ARROWS
    assert ("sync.central", "sync.protocol") in ARROWS
    assert ("composition", "pos_bridge") in ARROWS
