"""Print jobs persisted in SQLite and sent to a real TCP printer stand-in: nothing lost
while the printer is off or out of paper, nothing printed twice when it drops."""

from __future__ import annotations

import pytest

from edge_agent.context import AgentContext, open_agent
from edge_agent.printing import NothingToReprint, PrintQueue, UnknownPrinter
from hardware.receipts import render_receipt
from tests.hardware.fakes import COVER_OPEN, PAPER_OUT, FakeTcpPrinter, wait_for
from tests.hardware.receipts_data import PICKUP, RETURN

RECEIPT_BYTES = render_receipt(RETURN, "TM-T88V", 80)


def states(queue: PrintQueue) -> list[str]:
    return [job.state for job in reversed(queue.jobs())]


def test_job_is_on_disk_before_anything_is_sent(
    print_queue: PrintQueue, printing_agent: AgentContext, fake_printer: FakeTcpPrinter
) -> None:
    job = print_queue.enqueue_receipt("receipt", RETURN)
    assert job.state == "pending" and job.reference == "R-000123"
    # A second connection (another process) sees the committed job.
    other = open_agent(printing_agent.config)
    try:
        row = other.store.db.execute("SELECT state, payload FROM print_jobs").fetchone()
    finally:
        other.store.close()
    assert row == ("pending", RECEIPT_BYTES)
    assert fake_printer.print_data() == []


def test_printed_once_with_the_receipt_bytes(
    print_queue: PrintQueue, fake_printer: FakeTcpPrinter
) -> None:
    job = print_queue.enqueue_receipt("receipt", RETURN)
    done = print_queue.print_next("receipt")
    assert done is not None and done.state == "printed" and done.printed_at
    assert print_queue.print_next("receipt") is None
    assert fake_printer.print_data() == [RECEIPT_BYTES]
    assert print_queue.job(job.id).attempts == 1


def test_paper_out_makes_the_job_wait_then_print_once(
    print_queue: PrintQueue, fake_printer: FakeTcpPrinter
) -> None:
    fake_printer.paper = PAPER_OUT
    print_queue.enqueue_receipt("receipt", RETURN)
    for _ in range(3):
        waiting = print_queue.print_next("receipt")
        assert waiting is not None and waiting.state == "pending"
        assert "out of paper" in (waiting.last_error or "")
    assert fake_printer.print_data() == []
    [status] = [s for s in print_queue.status() if s["id"] == "receipt"]
    assert status["status"]["paper"] == "out" and status["pending_jobs"] == 1
    fake_printer.paper = 0x12
    assert print_queue.print_next("receipt").state == "printed"  # type: ignore[union-attr]
    assert print_queue.print_next("receipt") is None
    assert fake_printer.print_data() == [RECEIPT_BYTES]


def test_cover_open_makes_the_job_wait(
    print_queue: PrintQueue, fake_printer: FakeTcpPrinter
) -> None:
    fake_printer.offline_cause = COVER_OPEN
    print_queue.enqueue_receipt("receipt", RETURN)
    job = print_queue.print_next("receipt")
    assert job is not None and job.state == "pending" and "cover" in (job.last_error or "")
    assert fake_printer.print_data() == []


def test_printer_switched_off_loses_nothing(
    print_queue: PrintQueue, fake_printer: FakeTcpPrinter
) -> None:
    fake_printer.switch_off()
    first = print_queue.enqueue_receipt("receipt", RETURN)
    second = print_queue.enqueue_receipt("receipt", PICKUP)
    job = print_queue.print_next("receipt")
    assert job is not None and job.id == first.id and job.state == "pending"
    assert "not reachable" in (job.last_error or "")
    fake_printer.switch_on()
    assert print_queue.print_next("receipt").id == first.id  # type: ignore[union-attr]
    assert print_queue.print_next("receipt").id == second.id  # type: ignore[union-attr]
    assert states(print_queue) == ["printed", "printed"]
    assert fake_printer.print_data() == [RECEIPT_BYTES, render_receipt(PICKUP, "TM-T88V", 80)]


def test_printer_dropping_mid_job_is_never_printed_twice(
    print_queue: PrintQueue, fake_printer: FakeTcpPrinter
) -> None:
    fake_printer.drop_after_bytes = 40
    print_queue.enqueue(
        "receipt", "return_receipt", RECEIPT_BYTES * 200
    )  # large enough that the drop hits mid-send
    job = print_queue.print_next("receipt")
    assert job is not None and job.state == "unconfirmed"
    fake_printer.drop_after_bytes = None
    # the worker does not send it again by itself...
    assert print_queue.print_next("receipt") is None
    assert len(fake_printer.print_data()) == 1
    # ...the cashier chooses to reprint
    reprint = print_queue.reprint_last("receipt")
    assert reprint.reprint_of == job.id
    assert print_queue.print_next("receipt").state == "printed"  # type: ignore[union-attr]


def test_job_interrupted_by_a_crash_is_not_resent(
    print_queue: PrintQueue, printing_agent: AgentContext, fake_printer: FakeTcpPrinter
) -> None:
    job = print_queue.enqueue_receipt("receipt", RETURN)
    with printing_agent.store.transaction() as db:
        db.execute("UPDATE print_jobs SET state = 'sending' WHERE id = ?", [job.id])
    assert print_queue.recover_interrupted() == 1
    assert print_queue.job(job.id).state == "unconfirmed"
    assert print_queue.print_next("receipt") is None
    assert fake_printer.print_data() == []


def test_reprint_last_sends_the_same_bytes_again(
    print_queue: PrintQueue, fake_printer: FakeTcpPrinter
) -> None:
    with pytest.raises(NothingToReprint):
        print_queue.reprint_last("receipt")
    print_queue.enqueue_receipt("receipt", PICKUP)
    print_queue.enqueue_receipt("receipt", RETURN)
    while print_queue.print_next("receipt") is not None:
        pass
    reprint = print_queue.reprint_last("receipt")
    assert reprint.kind == "return_receipt" and reprint.reference == "R-000123"
    print_queue.print_next("receipt")
    assert fake_printer.print_data()[-1] == fake_printer.print_data()[-2] == RECEIPT_BYTES


def test_worker_thread_prints_queued_jobs_and_stops(
    print_queue: PrintQueue, fake_printer: FakeTcpPrinter
) -> None:
    fake_printer.paper = PAPER_OUT
    print_queue.start()
    job = print_queue.enqueue_receipt("receipt", RETURN)
    assert wait_for(lambda: "paper" in (print_queue.job(job.id).last_error or ""))
    fake_printer.paper = 0x12
    assert wait_for(lambda: print_queue.job(job.id).state == "printed")
    preview = print_queue.enqueue_receipt("preview", PICKUP)
    assert wait_for(lambda: print_queue.job(preview.id).state == "printed")
    print_queue.stop()
    assert not print_queue.alive
    assert fake_printer.print_data() == [RECEIPT_BYTES]


def test_unknown_printer_and_empty_job_are_refused(print_queue: PrintQueue) -> None:
    with pytest.raises(UnknownPrinter, match="printers: preview, receipt"):
        print_queue.enqueue("kitchen", "coupon", b"x")
    with pytest.raises(Exception, match="nothing to print"):
        print_queue.enqueue("receipt", "coupon", b"")
    assert print_queue.jobs() == []


def test_old_printed_jobs_are_purged_but_the_last_is_kept_for_reprint(
    print_queue: PrintQueue, printing_agent: AgentContext
) -> None:
    for _ in range(3):
        print_queue.enqueue_receipt("receipt", RETURN)
        print_queue.print_next("receipt")
    with printing_agent.store.transaction() as db:
        db.execute("UPDATE print_jobs SET created_at = '2020-01-01T00:00:00.000000Z'")
    assert print_queue.purge_printed() == 2
    assert [job.state for job in print_queue.jobs()] == ["printed"]
    assert print_queue.reprint_last("receipt").reprint_of is not None


def test_fake_printer_receives_init_code_page_bold_qr_cut_and_text(
    print_queue: PrintQueue, fake_printer: FakeTcpPrinter
) -> None:
    print_queue.enqueue_receipt("receipt", PICKUP)
    assert print_queue.print_next("receipt").state == "printed"  # type: ignore[union-attr]
    [sent] = fake_printer.print_data()
    assert sent.startswith(b"\x1b@\x1bt\x13")  # ESC @ init, ESC t 19 = CP858
    assert b"\x1bE\x01" in sent  # bold on
    assert b"\x1d(k\x0d\x001P0W000000124" in sent  # QR data stored natively
    assert b"\x1d(k\x03\x001Q0" in sent  # QR printed
    assert sent.endswith(b"\x1dV\x00")  # cut
    assert "José".encode("cp858") in sent and "Zapatillas niño".encode("cp858") in sent
    # the printer was asked for its status before and after, on the same connection
    assert fake_printer.received.count(b"\x10\x04\x04") == 2
