"""Staff sign-in with a PIN, bearer tokens with a role, device API keys, and the audit log.

PINs are short, so their hash alone protects little: what protects them is the attempt
limit and lock-out. Tokens and keys are random; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlite_utils import Database

from edge_agent.context import AgentContext
from edge_agent.errors import EdgeAgentError, InvalidInput
from sync.protocol.clock import from_iso, to_iso

Role = Literal["cashier", "supervisor"]
ROLE_RANK = {"cashier": 1, "supervisor": 2}
MAX_PIN_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LENGTH = timedelta(hours=12)  # one shift; staff sign in again the next day
API_KEY_PREFIX = "ek_"
_PIN = re.compile(r"^\d{4,8}$")
# scrypt cost: ~50 ms on a Raspberry Pi 4, enough to make offline guessing of a stolen
# database slow without making sign-in feel slow.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class Unauthorized(EdgeAgentError):
    code = "unauthorized"
    http_status = 401


class Forbidden(EdgeAgentError):
    code = "forbidden"
    http_status = 403


class StaffLocked(EdgeAgentError):
    code = "staff_locked"
    http_status = 423


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in staff member or an integrated POS (device key)."""

    id: str
    role: Role
    kind: Literal["staff", "device"]
    till_id: str | None = None

    def can(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


@dataclass(frozen=True)
class Session:
    token: str
    actor: Actor
    expires_at: datetime


def add_staff(ctx: AgentContext, staff_id: str, display_name: str, role: Role, pin: str) -> None:
    _check_pin(pin)
    now = to_iso(ctx.clock())
    with ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO staff (id, display_name, role, pin_hash, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " display_name = excluded.display_name, role = excluded.role,"
            " pin_hash = excluded.pin_hash, failed_attempts = 0, locked_until = NULL,"
            " updated_at = excluded.updated_at",
            [staff_id, display_name, role, hash_pin(pin), now, now],
        )


def sign_in(ctx: AgentContext, staff_id: str, pin: str, till_id: str | None) -> Session:
    """A bearer token for this staff member, or Unauthorized / StaffLocked."""
    actor = check_pin(ctx, staff_id, pin, till_id)
    token = secrets.token_urlsafe(32)
    now = ctx.clock()
    expires = now + SESSION_LENGTH
    with ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO staff_sessions (token_hash, staff_id, role, till_id, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            [_digest(token), actor.id, actor.role, till_id, to_iso(now), to_iso(expires)],
        )
        db.execute("DELETE FROM staff_sessions WHERE expires_at < ?", [to_iso(now)])
        audit(db, actor, "staff.signed_in", actor.id, None, now)
    return Session(token, actor, expires)


def check_pin(ctx: AgentContext, staff_id: str, pin: str, till_id: str | None) -> Actor:
    """Verify a PIN (sign-in or a supervisor's approval), counting failures."""
    now = ctx.clock()
    with ctx.store.transaction() as db:
        row = db.execute(
            "SELECT role, pin_hash, failed_attempts, locked_until, active FROM staff WHERE id = ?",
            [staff_id],
        ).fetchone()
        if row is None or not row[4]:
            raise Unauthorized("unknown staff id or wrong PIN")
        role, pin_hash, failures, locked_until, _ = row
        if locked_until and from_iso(locked_until) > now:
            raise StaffLocked(
                f"too many wrong PINs; try again after {from_iso(locked_until):%H:%M} UTC "
                "or ask a supervisor to reset it"
            )
        if not verify_pin(pin, pin_hash):
            failures += 1
            lock = to_iso(now + LOCKOUT) if failures >= MAX_PIN_ATTEMPTS else None
            db.execute(
                "UPDATE staff SET failed_attempts = ?, locked_until = ? WHERE id = ?",
                [0 if lock else failures, lock, staff_id],
            )
            # The failed attempt must be remembered even though we refuse: commit it by
            # returning normally and raising after the transaction.
            refused = True
        else:
            db.execute(
                "UPDATE staff SET failed_attempts = 0, locked_until = NULL WHERE id = ?",
                [staff_id],
            )
            refused = False
    if refused:
        raise Unauthorized("unknown staff id or wrong PIN")
    return Actor(staff_id, role, "staff", till_id)


def sign_out(ctx: AgentContext, token: str) -> None:
    with ctx.store.transaction() as db:
        db.execute("DELETE FROM staff_sessions WHERE token_hash = ?", [_digest(token)])


def create_api_key(ctx: AgentContext, name: str, role: Role) -> str:
    """A new device key for an integrated POS; shown once, stored only as a hash."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    with ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO api_keys (key_hash, name, role, created_at) VALUES (?, ?, ?, ?)",
            [_digest(key), name, role, to_iso(ctx.clock())],
        )
    return key


def authenticate(ctx: AgentContext, bearer: str) -> Actor:
    """The actor behind a bearer token or device key, or Unauthorized."""
    if not bearer:
        raise Unauthorized("sign in first (Authorization: Bearer <token>)")
    db = ctx.store.db
    if bearer.startswith(API_KEY_PREFIX):
        row = db.execute(
            "SELECT name, role FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
            [_digest(bearer)],
        ).fetchone()
        if row is None:
            raise Unauthorized("this device key is unknown or revoked")
        return Actor(row[0], row[1], "device")
    row = db.execute(
        "SELECT staff_id, role, till_id, expires_at FROM staff_sessions WHERE token_hash = ?",
        [_digest(bearer)],
    ).fetchone()
    if row is None or from_iso(row[3]) <= ctx.clock():
        raise Unauthorized("the session has ended; sign in again")
    return Actor(row[0], row[1], "staff", row[2])


def audit(
    db: Database,
    actor: Actor,
    action: str,
    subject: str | None,
    detail: dict[str, Any] | None,
    at: datetime,
) -> None:
    """Record who did what, when, at which till; inside the action's own transaction."""
    db.execute(
        "INSERT INTO audit_log (at, actor, role, till_id, action, subject, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [to_iso(at), actor.id, actor.role, actor.till_id, action, subject,
         json.dumps(detail, ensure_ascii=False) if detail else None],
    )  # fmt: skip


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


def _check_pin(pin: str) -> None:
    if not _PIN.match(pin):
        raise InvalidInput("a PIN is 4 to 8 digits")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
