"""Wiring the wallet from the `[wallet]` config: the pass verifier (public keys) and the
rotating-code secret; a store needs nothing more (passes are issued, re-issued and
pushed at the centre). A bad setting is a `ConfigError` naming the key, at start-up."""

from __future__ import annotations

from edge_agent.config import Config
from edge_agent.context import AgentContext
from edge_agent.errors import ConfigError
from edge_agent.pass_keys import installed_pass_keys
from wallet.codes import PassVerifier


def load_pass_verifier(config: Config) -> PassVerifier | None:
    """The verifier with the public keys in `wallet.keys_dir`; None when none is set."""
    keys = installed_pass_keys(config)
    return None if keys is None else PassVerifier(keys)


def agent_pass_verifier(ctx: AgentContext) -> PassVerifier:
    """The running agent's verifier: installed keys and the centre's broadcast key set,
    following the key set as the centre changes it."""
    return PassVerifier(ctx.pass_keys)


def load_rotating_secret(config: Config) -> bytes | None:
    path = config.wallet.rotating_secret_file
    if path is None:
        return None
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"wallet.rotating_secret_file: {path}: {exc.strerror}") from None
    if len(secret) < 32:
        raise ConfigError(
            f"wallet.rotating_secret_file: {path} holds {len(secret)} bytes; use 32 or more"
        )
    return secret
