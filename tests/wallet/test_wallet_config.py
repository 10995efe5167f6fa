import pytest

from edge_agent.config import load_config
from edge_agent.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "edge-agent.toml"
    path.write_text(text)
    return path


def test_wallet_defaults_leave_passes_off():
    wallet = load_config(environ={}).wallet
    assert wallet.keys_dir is None
    assert wallet.copy_window_minutes == 30


def test_relative_wallet_paths_are_beside_the_config_file(tmp_path):
    path = write(tmp_path, '[wallet]\nkeys_dir = "keys"\nrotating_secret_file = "r.secret"\n')
    wallet = load_config(path, environ={}).wallet
    assert wallet.keys_dir == tmp_path / "keys"
    assert wallet.rotating_secret_file == tmp_path / "r.secret"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("copy_window_minutes = 0", "wallet.copy_window_minutes"),
        ('keys_dri = "x"', "unknown setting"),
        # Issuing settings belong to the centre's wallet.toml; a store refuses them.
        ('apple_cert_file = "c.pem"', "unknown setting"),
        ('apns_key_file = "k.p8"', "unknown setting"),
    ],
)
def test_bad_wallet_settings_are_refused_with_file_key_and_reason(tmp_path, text, expected):
    path = write(tmp_path, f"[wallet]\n{text}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    assert str(path) in refused.value.message
    assert expected in refused.value.message


def test_env_override_of_a_wallet_key(tmp_path):
    wallet = load_config(environ={"EDGE_AGENT__WALLET__COPY_WINDOW_MINUTES": "5"}).wallet
    assert wallet.copy_window_minutes == 5


def test_missing_key_directory_stops_the_verifier_with_a_config_error(tmp_path):
    from edge_agent.wallet_setup import load_pass_verifier

    config = load_config(environ={"EDGE_AGENT__WALLET__KEYS_DIR": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match=r"wallet\.keys_dir"):
        load_pass_verifier(config)


def test_centre_wallet_settings_are_refused_with_file_key_and_reason(tmp_path):
    from sync.central.wallet.settings import load_settings
    from wallet.errors import WalletError

    path = tmp_path / "wallet.toml"
    path.write_text('[wallet]\nkeys_dir = "k"\napple_team_id = "short"\n')
    with pytest.raises(WalletError) as refused:
        load_settings(path, environ={})
    assert str(path) in refused.value.message
    assert "wallet.apple_team_id" in refused.value.message
    path.write_text('[wallet]\nkeys_dir = "k"\n')
    settings = load_settings(path, environ={"EDGE_CENTRAL_WALLET_PUBLIC_URL": "https://w.example"})
    assert settings.keys_dir == tmp_path / "k"
    assert settings.web_service_url == "https://w.example/passkit"
