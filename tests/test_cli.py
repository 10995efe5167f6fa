import click
import pytest
from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.migrations import MIGRATIONS
from sync.central.cli import main as central_main


def all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize(("path", "command"), list(all_commands(main)))
def test_every_command_has_help_text(path, command):
    assert command.help, f"edge-agent {' '.join(path)} has no help text"
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


@pytest.mark.parametrize(("path", "command"), list(all_commands(central_main)))
def test_every_central_command_and_option_has_help_text(path, command):
    assert command.help, f"edge-central {' '.join(path)} has no help text"
    undocumented = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert undocumented == [], f"edge-central {' '.join(path)}: options without help"
    result = CliRunner().invoke(central_main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_seed_then_status_and_migrate(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_AGENT__PATHS__DATA_DIR", str(tmp_path))
    runner = CliRunner()
    seeded = runner.invoke(main, ["seed", "--customers", "20", "--orders", "100"])
    assert seeded.exit_code == 0, seeded.output
    assert "100 orders" in seeded.output
    again = runner.invoke(main, ["seed", "--customers", "20", "--orders", "100"])
    assert again.exit_code == 1
    assert "--replace" in again.output
    status = runner.invoke(main, ["status"])
    assert "0 events waiting" in status.output
    migrated = runner.invoke(main, ["db", "migrate"])
    assert f"schema version {MIGRATIONS[-1].version}" in migrated.output


def test_config_check_prints_settings_and_hides_the_salt(monkeypatch):
    monkeypatch.setenv("EDGE_AGENT__PRIVACY__LOOKUP_SALT", "very-secret")
    result = CliRunner().invoke(main, ["config", "check"])
    assert result.exit_code == 0
    assert '"currency": "EUR"' in result.output
    assert "very-secret" not in result.output


def test_prune_command_reports_per_table(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_AGENT__PATHS__DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["prune"])
    assert result.exit_code == 0, result.output
    assert "outbox: 0 deleted" in result.output
    assert "scan_log: 0 deleted" in result.output
