"""A store device installs no centre-only package (`pip install edge-agent`, no
`[central]` extra): every store-side module imports with those packages absent."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Store-side packages; `sync.central` is the centre.
STORE_PACKAGES = ("edge_agent", "pos_bridge", "hardware", "wallet", "sync")

PROBE = """
import importlib, importlib.abc, importlib.util, pkgutil, sys

CENTRE_ONLY = set(sys.argv[1].split(","))

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in CENTRE_ONLY:
            raise ModuleNotFoundError(f"{name} is not installed on a store device")
        return None

sys.meta_path.insert(0, Absent())
# A library probing for an optional package (python-json-logger asks for msgspec) gets
# what it would on a store device: no spec.
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: (
    None if name.partition(".")[0] in CENTRE_ONLY else _find_spec(name, package)
)
imported = []
for package in sys.argv[2].split(","):
    root = importlib.import_module(package)
    imported.append(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if not info.name.startswith("sync.central"):
            importlib.import_module(info.name)
            imported.append(info.name)
import edge_agent.cli, edge_agent.daemon
loaded = sorted({m.partition(".")[0] for m in sys.modules} & CENTRE_ONLY)
print(len(imported), ",".join(loaded))
"""


def centre_only_packages() -> set[str]:
    """Import names of the `central` extra's distributions."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["central"]
    names = {req.split("[")[0].split(">")[0].split("=")[0].strip().lower() for req in extras}
    return {name.replace("-", "_") for name in names}


def test_the_central_extra_holds_the_centres_own_packages():
    assert {"psycopg", "alembic", "sqlalchemy"} <= centre_only_packages()


def test_every_store_module_imports_without_the_centres_packages():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            ",".join(sorted(centre_only_packages())),
            ",".join(STORE_PACKAGES),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    count, loaded = result.stdout.split(" ")
    assert int(count) > 50  # the walk found the store's modules
    assert loaded.strip() == ""  # and none pulled in a centre-only package
