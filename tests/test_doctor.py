import socket

from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.context import open_agent
from edge_agent.doctor import run_checks
from edge_agent.seed import seed_store
from tests.conftest import make_config


def write_config(tmp_path, extra=""):
    path = tmp_path / "edge-agent.toml"
    path.write_text(
        '[paths]\ndata_dir = "data"\n[[scanners]]\nid = "lane-1"\nurl = "tcp://127.0.0.1:0"\n'
        + extra,
        encoding="utf-8",
    )
    return path


def levels(path):
    return {check.name: check.level for check in run_checks(path)}


def test_healthy_device_passes(tmp_path):
    ctx = open_agent(make_config(tmp_path / "data"))
    seed_store(ctx, customers=5, orders=10)
    ctx.store.close()
    path = write_config(tmp_path)
    result = CliRunner().invoke(main, ["--config", str(path), "doctor"])
    assert result.exit_code == 0, result.output
    assert "ok    database" in result.output
    assert "ok    disk" in result.output
    assert "ok    outbox" in result.output
    assert "WARN  broker" in result.output  # offline is allowed, but said


def test_damaged_database_fails(tmp_path):
    path = write_config(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "edge-agent.sqlite3").write_bytes(b"not a database" * 500)
    assert levels(path)["database"] == "fail"
    assert CliRunner().invoke(main, ["--config", str(path), "doctor"]).exit_code == 1


def test_unreachable_broker_and_busy_port_fail(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    found = levels(write_config(tmp_path, f'[sync]\nbroker_url = "mqtt://127.0.0.1:{dead}"\n'))
    assert found["broker"] == "fail"


def test_bad_config_is_a_failed_check_not_a_crash(tmp_path):
    path = tmp_path / "edge-agent.toml"
    path.write_text("[web]\nport = -1\n", encoding="utf-8")
    checks = list(run_checks(path))
    assert [(c.name, c.level) for c in checks] == [("config", "fail")]
    assert "web.port" in checks[0].detail


def test_serial_scanner_that_is_not_plugged_in_and_a_printer_that_is_off_fail(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    path = tmp_path / "edge-agent.toml"
    path.write_text(
        '[paths]\ndata_dir = "data"\n'
        f'[[scanners]]\nid = "lane-1"\nurl = "serial://{tmp_path}/ttyACM9"\n'
        f'[[printers]]\nid = "receipt"\nurl = "tcp://127.0.0.1:{dead}"\n',
        encoding="utf-8",
    )
    checks = {check.name: check for check in run_checks(path)}
    assert checks["scanner lane-1"].level == "fail"
    assert "plugged in" in checks["scanner lane-1"].detail
    assert checks["printer receipt"].level == "fail"


def test_preview_printer_and_present_serial_device_pass(tmp_path):
    device = tmp_path / "ttyACM0"
    device.write_bytes(b"")  # stands in for the device node: present and readable
    path = tmp_path / "edge-agent.toml"
    path.write_text(
        '[paths]\ndata_dir = "data"\n'
        f'[[scanners]]\nid = "lane-1"\nurl = "serial://{device}"\n'
        f'[[printers]]\nid = "receipt"\nurl = "preview://{tmp_path}/preview"\n',
        encoding="utf-8",
    )
    checks = {check.name: check for check in run_checks(path)}
    assert checks["scanner lane-1"].level == "ok"
    assert checks["printer receipt"].level == "ok"


def test_clock_skew_measured_on_the_centres_acks_is_judged(tmp_path):
    from datetime import UTC, datetime, timedelta

    from edge_agent import clock_skew

    path = write_config(tmp_path, '[sync]\nbroker_url = "mqtt://127.0.0.1:1"\n')
    ctx = open_agent(make_config(tmp_path / "data"))
    try:
        assert levels(path)["clock"] == "warn"  # syncing, but never measured yet
        now = datetime.now(UTC)
        for offset, expected in ((1.5, "ok"), (-12, "warn"), (45, "fail")):
            with ctx.store.transaction() as db:
                clock_skew.save(db, clock_skew.measure(now - timedelta(seconds=offset), now))
            assert levels(path)["clock"] == expected, offset
    finally:
        ctx.store.close()
    details = {c.name: c.detail for c in run_checks(path)}
    assert "45.0s ahead of the centre" in details["clock"]
