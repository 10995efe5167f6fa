"""The agent's pass keys: the installed public key files (`wallet.keys_dir`) and the
newest key set the centre broadcast, kept in `agent_meta` so a restart offline still
verifies with (and refuses) what the centre last said."""

from __future__ import annotations

import logging

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlite_utils import Database

from edge_agent.config import Config
from edge_agent.errors import ConfigError
from wallet.errors import WalletError
from wallet.keyring import KeySet, PassKeyRing, parse_key_set
from wallet.keys import load_public_keys

log = logging.getLogger(__name__)

META_KEY = "wallet.key_set"


def installed_pass_keys(config: Config) -> dict[int, Ed25519PublicKey] | None:
    """The public keys in `wallet.keys_dir` (None when it is not set); a broken key
    directory is a ConfigError naming the key."""
    if config.wallet.keys_dir is None:
        return None
    try:
        return load_public_keys(config.wallet.keys_dir)
    except WalletError as exc:
        raise ConfigError(f"wallet.keys_dir: {exc.message}") from None


def load_key_ring(config: Config, db: Database) -> PassKeyRing:
    """Installed keys plus the stored broadcast; a broken key directory is a ConfigError."""
    ring = PassKeyRing(installed_pass_keys(config))
    row = db.execute("SELECT value FROM agent_meta WHERE key = ?", [META_KEY]).fetchone()
    if row is not None:
        try:
            ring.use_key_set(parse_key_set(row[0]))
        except WalletError as exc:
            # Written by this agent after validation, so only damage gets here: carry on
            # with the installed keys; the retained broadcast brings the set back.
            log.error("stored pass key set unusable (%s); using installed keys", exc.message)
    return ring


def take_key_set(db: Database, ring: PassKeyRing, key_set: KeySet) -> bool:
    """Use and keep `key_set` if newer than the one in use (inside the caller's
    transaction); True if taken."""
    if key_set.version <= ring.key_set_version:
        return False
    db.execute(
        "INSERT INTO agent_meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [META_KEY, key_set.to_json()],
    )
    return ring.use_key_set(key_set)
