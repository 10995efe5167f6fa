"""Fixtures for the hardware tests: a fake network printer and an agent printing to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.config import PrinterSettings
from edge_agent.context import AgentContext, open_agent
from edge_agent.printing import PrintQueue
from tests.conftest import make_config
from tests.hardware.fakes import FakeTcpPrinter


@pytest.fixture
def fake_printer() -> Iterator[FakeTcpPrinter]:
    printer = FakeTcpPrinter()
    yield printer
    printer.switch_off()


@pytest.fixture
def printing_agent(tmp_path: Path, fake_printer: FakeTcpPrinter) -> Iterator[AgentContext]:
    config = make_config(
        tmp_path / "data",
        printers=(
            PrinterSettings(id="receipt", url=fake_printer.url),
            PrinterSettings(id="preview", url="preview://preview", paper_width_mm=58),
        ),
    )
    ctx = open_agent(config)
    yield ctx
    ctx.store.close()


@pytest.fixture
def print_queue(printing_agent: AgentContext) -> Iterator[PrintQueue]:
    queue = PrintQueue(printing_agent, retry_interval=0.05)
    yield queue
    queue.stop()
