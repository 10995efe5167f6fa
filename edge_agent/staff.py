"""Staff sign-in with a PIN, bearer tokens with a role, device API keys, and the audit log.

PINs are short, so their hash alone protects little: what protects them is the attempt
limit and lock-out. Tokens and keys are random; only their SHA-256 is stored.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlite_utils import Database

from edge_agent.context import AgentContext
from edge_agent.errors import EdgeAgentError, InvalidInput
from sync.protocol.clock import from_iso, to_iso

log = logging.getLogger(__name__)
Role = Literal["cashier", "supervisor"]
SessionKind = Literal["api", "console"]
ROLE_RANK = {"cashier": 1, "supervisor": 2}
MAX_PIN_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LENGTH = timedelta(hours=12)  # one shift; staff sign in again the next day
# A console session's last-seen time is written at most this often (a write per page
# would be a write per click).
TOUCH_EVERY = timedelta(seconds=60)
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
        # A new PIN ends every session the old one opened (a PIN seen over a shoulder).
        db.execute("DELETE FROM staff_sessions WHERE staff_id = ?", [staff_id])


def sign_in(
    ctx: AgentContext,
    staff_id: str,
    pin: str,
    till_id: str | None,
    kind: SessionKind = "api",
    client: str | None = None,
) -> Session:
    """A session token for this staff member, or Unauthorized / StaffLocked. An "api"
    token is a bearer for the till API; a "console" token is only good behind the
    console's cookie, and ends after the console's idle timeout."""
    actor = check_pin(ctx, staff_id, pin, till_id, client=client)
    token = secrets.token_urlsafe(32)
    now = ctx.clock()
    expires = now + SESSION_LENGTH
    with ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO staff_sessions (token_hash, staff_id, role, till_id, created_at,"
            " expires_at, kind, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [_digest(token), actor.id, actor.role, till_id, to_iso(now), to_iso(expires), kind,
             to_iso(now)],
        )  # fmt: skip
        db.execute("DELETE FROM staff_sessions WHERE expires_at < ?", [to_iso(now)])
        audit(db, actor, "staff.signed_in", actor.id, None, now)
    return Session(token, actor, expires)


def check_pin(
    ctx: AgentContext,
    staff_id: str,
    pin: str,
    till_id: str | None,
    client: str | None = None,
    requested_by: Actor | None = None,
) -> Actor:
    """Verify a PIN (sign-in, or a supervisor's approval `requested_by` a signed-in
    cashier), counting failures. Every failure and lock-out is audited and logged (never
    the PIN), an approval's under the cashier and their till; an unknown id costs the same
    hash work as a known one, so timing does not tell which ids exist."""
    now = ctx.clock()
    with ctx.store.transaction() as db:
        row = db.execute(
            "SELECT role, pin_hash, failed_attempts, locked_until, active FROM staff WHERE id = ?",
            [staff_id],
        ).fetchone()
        known = row is not None and bool(row[4])
        role, pin_hash, failures, locked_until = row[:4] if known else ("cashier", "", 0, None)
        locked = bool(locked_until) and from_iso(locked_until) > now
        if not known:
            verify_pin(pin, _unknown_staff_hash())
            outcome = "unknown"
        elif locked:
            outcome = "locked"
        elif verify_pin(pin, pin_hash):
            outcome = "ok"
            db.execute(
                "UPDATE staff SET failed_attempts = 0, locked_until = NULL WHERE id = ?",
                [staff_id],
            )
        else:
            failures += 1
            lock = to_iso(now + LOCKOUT) if failures >= MAX_PIN_ATTEMPTS else None
            db.execute(
                "UPDATE staff SET failed_attempts = ?, locked_until = ? WHERE id = ?",
                [0 if lock else failures, lock, staff_id],
            )
            locked_until = lock
            outcome = "locked_out" if lock else "wrong_pin"
        if outcome != "ok":
            # Committed with the attempt: the refusal below happens after the transaction.
            who = requested_by or Actor(staff_id if known else "unknown", role, "staff", till_id)
            detail = {"outcome": outcome, "client": client, "attempts": failures}
            failed = "staff.approval_failed" if requested_by else "staff.sign_in_failed"
            action = "staff.locked_out" if outcome == "locked_out" else failed
            audit(db, who, action, staff_id[:64], detail, now)
    if outcome == "ok":
        return Actor(staff_id, role, "staff", till_id)
    log.warning(
        "staff PIN refused: id %s (%s) from %s at till %s%s",
        staff_id[:64] if known else "<unknown>", outcome, client or "-",
        (requested_by.till_id if requested_by else till_id) or "-",
        f" for an approval asked by {requested_by.id}" if requested_by else "",
    )  # fmt: skip
    if outcome == "locked":
        assert locked_until is not None
        raise StaffLocked(
            f"too many wrong PINs; try again after {from_iso(locked_until):%H:%M} UTC "
            "or ask a supervisor to reset it"
        )
    raise Unauthorized("unknown staff id or wrong PIN")


def sign_out(ctx: AgentContext, token: str) -> None:
    with ctx.store.transaction() as db:
        db.execute("DELETE FROM staff_sessions WHERE token_hash = ?", [_digest(token)])


def console_actor(ctx: AgentContext, token: str, idle: timedelta) -> Actor:
    """The staff member behind a console session token, or Unauthorized when it is
    unknown, signed out, past its shift or idle for longer than `idle`."""
    if not token:
        raise Unauthorized("sign in first")
    now = ctx.clock()
    digest = _digest(token)
    row = ctx.store.db.execute(
        "SELECT staff_id, role, till_id, expires_at, last_seen_at FROM staff_sessions"
        " WHERE token_hash = ? AND kind = 'console'",
        [digest],
    ).fetchone()
    if row is None or from_iso(row[3]) <= now:
        raise Unauthorized("the session has ended; sign in again")
    seen = from_iso(row[4]) if row[4] else now
    if now - seen > idle:
        sign_out(ctx, token)
        raise Unauthorized("the console was left idle; sign in again")
    if now - seen >= TOUCH_EVERY:
        with ctx.store.transaction() as db:
            db.execute(
                "UPDATE staff_sessions SET last_seen_at = ? WHERE token_hash = ?",
                [to_iso(now), digest],
            )
    return Actor(row[0], row[1], "staff", row[2])


def deactivate_staff(ctx: AgentContext, staff_id: str) -> bool:
    """Stop a staff member signing in and end their sessions; False if unknown."""
    now = ctx.clock()
    with ctx.store.transaction() as db:
        row = db.execute("SELECT role FROM staff WHERE id = ?", [staff_id]).fetchone()
        if row is None:
            return False
        db.execute(
            "UPDATE staff SET active = 0, updated_at = ? WHERE id = ?", [to_iso(now), staff_id]
        )
        db.execute("DELETE FROM staff_sessions WHERE staff_id = ?", [staff_id])
        audit(db, _OPERATOR, "staff.deactivated", staff_id, None, now)
    return True


def revoke_api_key(ctx: AgentContext, name: str) -> bool:
    """Refuse a device key from now on; False if no live key has that name."""
    now = ctx.clock()
    with ctx.store.transaction() as db:
        changed = db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            [to_iso(now), name],
        ).rowcount
        if changed:
            audit(db, _OPERATOR, "api_key.revoked", name, None, now)
    return bool(changed)


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
        "SELECT staff_id, role, till_id, expires_at FROM staff_sessions"
        " WHERE token_hash = ? AND kind = 'api'",
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


# Who acts when the operator runs a command on the device itself.
_OPERATOR = Actor("operator", "supervisor", "device")


@functools.cache
def _unknown_staff_hash() -> str:
    """A PIN hash no PIN matches, checked for unknown ids so they cost the same time."""
    return hash_pin(secrets.token_hex(4)[:8].translate(str.maketrans("abcdef", "123456")))


def _check_pin(pin: str) -> None:
    if not _PIN.match(pin):
        raise InvalidInput("a PIN is 4 to 8 digits")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
