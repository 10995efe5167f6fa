"""Wallet fixtures: throw-away keys and certificates made by the tests, a seeded agent
with the wallet configured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.config import WalletSettings
from edge_agent.context import open_agent
from edge_agent.seed import seed_store
from tests.conftest import SEED_NOW, make_config
from wallet.apple.pkpass import AppleSettings
from wallet.apple.signing import PassSigningIdentity
from wallet.codes import PassSigner, PassVerifier
from wallet.devcerts import AppleDevCredentials, make_apple_credentials
from wallet.issuer import AppleIssuing, PassIssuer
from wallet.keys import write_signing_key

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PASS_TYPE_ID = "pass.com.example.edge-agent"
TEAM_ID = "DEVTEAM001"


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def signer(signing_key) -> PassSigner:
    return PassSigner(1, signing_key)


@pytest.fixture
def verifier(signing_key) -> PassVerifier:
    return PassVerifier({1: signing_key.public_key()})


@pytest.fixture(scope="session")
def apple_credentials() -> AppleDevCredentials:
    return make_apple_credentials(PASS_TYPE_ID, TEAM_ID)


@pytest.fixture(scope="session")
def apple_identity(apple_credentials) -> PassSigningIdentity:
    c = apple_credentials
    return PassSigningIdentity.from_pem(c.pass_cert_pem, c.pass_key_pem, c.wwdr_cert_pem)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    write_signing_key(directory, 1)
    return directory


@pytest.fixture
def wallet_agent(tmp_path, keys_dir):
    """A seeded store whose wallet verifies with the key in `keys_dir`."""
    config = make_config(
        tmp_path / "data",
        wallet=WalletSettings(keys_dir=keys_dir),
    )
    ctx = open_agent(config, clock=lambda: NOW)
    seed_store(ctx, customers=20, orders=100, seed=7, now=SEED_NOW)
    yield ctx
    ctx.store.close()


@pytest.fixture
def issuer(keys_dir, apple_identity) -> PassIssuer:
    from wallet.keys import load_signing_key

    return PassIssuer(
        PassSigner(1, load_signing_key(keys_dir, 1)),
        apple=AppleIssuing(
            AppleSettings(PASS_TYPE_ID, TEAM_ID, "Demo Store", "https://x/passkit"),
            apple_identity,
        ),
    )


@dataclass(frozen=True)
class CentrePass:
    serial: str
    code: str


def centre_pass(ctx, issuer: PassIssuer, customer_id: str, platform: str = "apple") -> CentrePass:
    """A pass as the centre issues it: a code signed with the centre's key, and its
    serial -> customer record arriving at the store down the feed (`pass.upserted`)."""
    from edge_agent.changes import apply_change
    from sync.protocol.changes import Change
    from sync.protocol.wallet_changes import PASS_UPSERTED, PassUpserted
    from wallet.issuer import new_serial

    serial = new_serial("loyalty")
    data = PassUpserted(
        serial=serial, customer_id=customer_id, kind="loyalty", platform=platform, status="active"
    )
    with ctx.store.transaction() as db:
        apply_change(db, Change("c1", PASS_UPSERTED, 1, NOW, data), NOW)
    return CentrePass(serial, issuer.code("loyalty", serial, NOW))
