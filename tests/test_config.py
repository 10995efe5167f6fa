from pathlib import Path

import pytest

from edge_agent.config import Config, load_config
from edge_agent.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge-agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_without_a_file():
    config = load_config(None, environ={})
    assert config == Config()
    assert config.store.currency == "EUR"
    assert config.sync.broker_url == ""


def test_file_values_are_used_and_data_dir_is_relative_to_the_file(tmp_path):
    path = write(
        tmp_path,
        '[store]\nid = "madrid-01"\ncurrency = "GBP"\nlocale = "en_GB"\n'
        '[paths]\ndata_dir = "state"\n[returns]\noffline_refund_limit_minor = 5000\n',
    )
    config = load_config(path, environ={})
    assert config.store.id == "madrid-01"
    assert config.store.currency == "GBP"
    assert config.returns.offline_refund_limit_minor == 5000
    assert config.paths.data_dir == tmp_path / "state"


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, "[web]\nport = 8000\n")
    env = {
        "EDGE_AGENT__WEB__PORT": "8123",
        "EDGE_AGENT__SCANNERS": '[{"id": "front", "url": "tcp://127.0.0.1:9400"}]',
    }
    config = load_config(path, environ=env)
    assert config.web.port == 8123
    assert [s.id for s in config.scanners] == ["front"]


def test_config_path_from_environment(tmp_path):
    path = write(tmp_path, '[store]\nid = "from-env"\n')
    assert load_config(None, environ={"EDGE_AGENT_CONFIG": str(path)}).store.id == "from-env"


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("[web]\nport = 70000\n", "web.port", "less than or equal to 65535"),
        ('[store]\ncurrency = "EURO"\n', "store.currency", "ISO 4217"),
        ('[store]\nid = "Store 1/A"\n', "store.id", "pattern"),
        ('[store]\nlocale = "xx_YY"\n', "store.locale", "not a known locale"),
        ('[store]\ntimezone = "Mars/Olympus"\n', "store.timezone", "IANA"),
        ("[web]\nprot = 80\n", "web.prot", "unknown setting"),
        ('[sync]\nbroker_url = "http://x"\n', "sync.broker_url", "mqtt://"),
        ('[[scanners]]\nid = "a"\nurl = "ftp://x"\n', "scanners.0.url", "tcp://"),
        ('[loyalty]\nid_pattern = "(["\n', "loyalty.id_pattern", "regular expression"),
        (
            '[[scanners]]\nid = "a"\nurl = "tcp://127.0.0.1:1"\n'
            '[[scanners]]\nid = "a"\nurl = "tcp://127.0.0.1:2"\n',
            "scanners",
            "unique",
        ),
    ],
)
def test_bad_setting_names_file_key_and_what_is_allowed(tmp_path, text, key, hint):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = caught.value.message
    assert f"{path}: {key}:" in message
    assert hint in message


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError) as caught:
        load_config(None, environ={"EDGE_AGENT__WEB__PORT": "eighty"})
    assert "EDGE_AGENT__WEB__PORT: web.port:" in caught.value.message
    assert "'eighty'" in caught.value.message


def test_broken_toml_names_file_and_line(tmp_path):
    path = write(tmp_path, "[store]\nid = \n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(path) in caught.value.message
    assert "line 2" in caught.value.message


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml", environ={})


def test_example_config_in_systemd_folder_is_valid():
    example = Path(__file__).parent.parent / "systemd" / "edge-agent.example.toml"
    config = load_config(example, environ={})
    assert config.store.id == "madrid-gran-via"
    assert config.paths.data_dir == Path("/var/lib/edge-agent")
    # No development TCP scanner in a production example: anyone could "scan" into it.
    assert not any(s.url.startswith("tcp://") for s in config.scanners)


def test_tls_files_are_beside_the_config_file_and_must_exist(tmp_path):
    tls = '[sync]\nbroker_url = "mqtts://broker.example"\nca_file = "tls/ca.pem"\n'
    path = tmp_path / "edge-agent.toml"
    path.write_text(tls + 'cert_file = "tls/store.pem"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    assert str(path) in refused.value.message
    assert "sync.ca_file: no such file" in refused.value.message
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.pem").write_text("ca", encoding="utf-8")
    (tmp_path / "tls" / "store.pem").write_text("cert", encoding="utf-8")
    sync = load_config(path, environ={}).sync
    assert sync.ca_file == tmp_path / "tls" / "ca.pem"
    assert sync.cert_file == tmp_path / "tls" / "store.pem"
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={"EDGE_AGENT__SYNC__KEY_FILE": "/nowhere/key.pem"})
    assert "EDGE_AGENT__SYNC__KEY_FILE: sync.key_file: no such file" in refused.value.message
