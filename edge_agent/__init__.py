"""The in-store edge agent: domain, local store, use cases, daemon and CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edge-agent")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
